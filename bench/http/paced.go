package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// pacedRun offers rate requests a second in all, spread evenly over c
// keep-alive connections, for d, each for a name drawn at random from
// names. wrk keeps every connection busy, so the faster server also makes
// the client (on the same cores) do more; here both servers get the same
// requests at the same times. As in wrk2, a request's latency counts from
// the time it was due, not from when it went out: an answer that comes
// late delays the requests behind it on its connection, and that wait is
// counted. The rate answered is over the time until the last answer, so
// a server that falls behind shows it; LagP99ms tells how much of a
// figure is the client's own.
func pacedRun(url string, names []string, c int, rate float64, d time.Duration) (r result) {
	r.C, r.Paced = c, true
	addr := strings.TrimPrefix(url, "http://")
	interval := time.Duration(float64(c) / rate * float64(time.Second))
	start := time.Now().Add(50 * time.Millisecond)
	end := start.Add(d)
	var mu sync.Mutex
	var lat, lag []time.Duration
	var errs []error
	var wg sync.WaitGroup
	for i := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, g, n2xx, err := pacedConn(addr, names, start.Add(interval*time.Duration(i)/time.Duration(c)), interval, end)
			mu.Lock()
			defer mu.Unlock()
			lat, lag = append(lat, l...), append(lag, g...)
			r.Non2xx += n2xx
			if err != nil {
				r.Errors++
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	r.Requests = int64(len(lat))
	r.ReqPerS = float64(len(lat)) / max(d, time.Since(start)).Seconds()
	r.P50ms, r.P99ms, r.LagP99ms = pctMs(lat, 50), pctMs(lat, 99), pctMs(lag, 99)
	if len(errs) > 0 {
		r.Err = fmt.Sprintf("%d of %d connections failed: %v", len(errs), c, errors.Join(errs...))
	}
	return r
}

// pacedConn sends one connection's requests, each at its due time (first,
// first+interval, ...) or as soon as the previous answer is read, until
// end. It returns each answer's latency from its due time.
func pacedConn(addr string, names []string, first time.Time, interval time.Duration, end time.Time) (lat, lag []time.Duration, non2xx int64, err error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, 0, err
	}
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 16<<10)
	rng := rand.New(rand.NewPCG(uint64(first.UnixNano()), uint64(len(names))))
	var req []byte
	for due := first; due.Before(end); due = due.Add(interval) {
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
			lag = append(lag, -time.Until(due))
		}
		req = fmt.Appendf(req[:0], "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", names[rng.IntN(len(names))])
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write(req); err != nil {
			return lat, lag, non2xx, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return lat, lag, non2xx, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return lat, lag, non2xx, err
		}
		lat = append(lat, time.Since(due))
		if resp.StatusCode/100 != 2 && resp.StatusCode/100 != 3 {
			non2xx++
		}
	}
	return lat, lag, non2xx, nil
}

// pctMs is the p-th percentile of ds in milliseconds (0 when empty).
func pctMs(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return float64(ds[min(len(ds)-1, len(ds)*p/100)]) / float64(time.Millisecond)
}
