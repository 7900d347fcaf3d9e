package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// schedule is the sequence of requests of a paced run: when each is due,
// from the start, and on which connection.
type schedule struct {
	gap     float64 // mean, in seconds
	c       int
	poisson *rand.Rand // nil: even gaps, connections in turn
	k       int
	at      float64 // seconds
}

func newSchedule(rate float64, c int, poisson bool) *schedule {
	s := &schedule{gap: 1 / rate, c: c}
	if poisson {
		s.poisson = rand.New(rand.NewPCG(1, 2))
	}
	return s
}

func (s *schedule) next() (time.Duration, int) {
	var i int
	if s.poisson != nil {
		s.at += s.poisson.ExpFloat64() * s.gap
		i = s.poisson.IntN(s.c)
	} else {
		s.at = float64(s.k) * s.gap
		i = s.k % s.c
	}
	s.k++
	return time.Duration(s.at * float64(time.Second)), i
}

// maxAnswerHead bounds an answer's status line and headers.
const maxAnswerHead = 64 << 10

// parseAnswer reads one HTTP/1.1 answer from the front of b: its status
// and its length, or 0 when b does not hold all of it yet. The servers
// measured send a Content-Length with every answer; one without it (or
// chunked) is an error, as it could not be told from the next one.
func parseAnswer(b []byte) (status, n int, err error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > maxAnswerHead {
			return 0, 0, fmt.Errorf("no end of headers in %d bytes", len(b))
		}
		return 0, 0, nil
	}
	if end > maxAnswerHead {
		return 0, 0, fmt.Errorf("headers of %d bytes", end)
	}
	lines := bytes.Split(b[:end], []byte("\r\n"))
	sl := lines[0]
	if len(sl) < 12 || !bytes.HasPrefix(sl, []byte("HTTP/1.")) || sl[8] != ' ' || (len(sl) > 12 && sl[12] != ' ') {
		return 0, 0, fmt.Errorf("status line %q", sl)
	}
	if status, err = strconv.Atoi(string(sl[9:12])); err != nil || status < 100 {
		return 0, 0, fmt.Errorf("status line %q", sl)
	}
	length := -1
	for _, h := range lines[1:] {
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, 0, fmt.Errorf("header line %q", h)
		}
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			v, err := strconv.Atoi(string(bytes.TrimSpace(value)))
			if err != nil || v < 0 || v > 1<<30 || (length >= 0 && v != length) {
				return 0, 0, fmt.Errorf("Content-Length %q", value)
			}
			length = v
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, 0, fmt.Errorf("Transfer-Encoding %q: only answers with a Content-Length are read", bytes.TrimSpace(value))
		}
	}
	if length < 0 {
		if status >= 200 && status != 204 && status != 304 {
			return 0, 0, fmt.Errorf("status %d without a Content-Length", status)
		}
		length = 0
	}
	if total := end + 4 + length; len(b) >= total {
		return status, total, nil
	}
	return 0, 0, nil
}

// pctMs is the p-th percentile of ds in milliseconds (0 when empty).
func pctMs(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return float64(ds[min(len(ds)-1, len(ds)*p/100)]) / float64(time.Millisecond)
}
