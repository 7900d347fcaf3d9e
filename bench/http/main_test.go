package main

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// wrkOutput is wrk 4.1's report with --latency and a script.
const wrkOutput = `Running 5s test @ http://127.0.0.1:35877
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms    2.51ms  60.12ms   95.12%
    Req/Sec    26.01k     3.11k   31.20k    70.00%
  Latency Distribution
     50%  812.00us
     75%    1.02ms
     90%    1.40ms
     99%   12.34ms
  258765 requests in 5.00s, 530.81MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 25876
Requests/sec:  51712.34
Transfer/sec:    106.08MB
`

func TestParseWrk(t *testing.T) {
	r := parseWrk(wrkOutput, result{C: 64})
	want := result{C: 64, Requests: 258765, ReqPerS: 51712.34, P50ms: 0.812, P99ms: 12.34, Non2xx: 25876, Errors: 3}
	if r != want {
		t.Errorf("got  %+v\nwant %+v", r, want)
	}
	if r := parseWrk("wrk: unable to connect", result{}); r.Err == "" {
		t.Error("output without a rate read without an error")
	}
	// Seconds, as wrk prints latencies of a second or more.
	if r := parseWrk("     99%    1.50s\nRequests/sec: 1.0\n", result{}); r.P99ms != 1500 {
		t.Errorf("p99 of 1.50s read as %v ms", r.P99ms)
	}
}

// FuzzParseWrk: any output reads without a panic, and a report read
// without an error has a rate that is not negative.
func FuzzParseWrk(f *testing.F) {
	f.Add(wrkOutput)
	f.Add("Requests/sec: 12\n     50%  1.00s\n")
	f.Fuzz(func(t *testing.T, out string) {
		r := parseWrk(out, result{})
		if r.Err == "" && (r.ReqPerS < 0 || r.P50ms < 0 || r.P99ms < 0) {
			t.Fatalf("negative figures from %q: %+v", out, r)
		}
	})
}

// TestPacedRun: the paced client sends the rate it is given over its
// connections, reads every answer, counts the not-found ones, and
// measures a slow answer from the time its request was due.
func TestPacedRun(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the paced client runs on Linux only")
	}
	var slow atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			time.Sleep(30 * time.Millisecond)
		}
		if strings.HasPrefix(r.URL.Path, "/missing") {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "<device/>")
	}))
	defer srv.Close()
	names := []string{"/a", "/b", "/missing1"}
	r := pacedRun(srv.URL, names, 4, 400, 500*time.Millisecond, false)
	if r.Err != "" || r.Errors != 0 {
		t.Fatalf("paced run failed: %+v", r)
	}
	// 400/s for 0.5 s over 4 connections: 50 requests each.
	if r.Requests != 200 {
		t.Errorf("%d requests, want 200", r.Requests)
	}
	if r.Non2xx < 20 || r.Non2xx > 120 {
		t.Errorf("%d of 200 answers not found, want about a third", r.Non2xx)
	}
	if r.P99ms <= 0 || r.P99ms > 100 || r.LagP99ms < 0 {
		t.Errorf("p99 %.2f ms, client lag p99 %.2f ms", r.P99ms, r.LagP99ms)
	}
	// Poisson arrivals: about the rate (the schedule's draws are fixed).
	if r := pacedRun(srv.URL, names, 4, 400, 500*time.Millisecond, true); r.Err != "" || r.Requests < 150 || r.Requests > 250 {
		t.Errorf("poisson at 400/s for 0.5 s: %+v", r)
	}
	// Answers taking 30 ms on one connection, due every 40 ms (25/s): on
	// schedule. Due every 10 ms (100/s): the k-th waits for the ones
	// before it, 30+20k ms from its due time, and that wait counts.
	slow.Store(true)
	if r := pacedRun(srv.URL, names[:1], 1, 25, 300*time.Millisecond, false); r.P99ms < 30 || r.P99ms > 60 {
		t.Errorf("on schedule with 30 ms answers, p99 %.2f ms, want 30-60", r.P99ms)
	}
	if r := pacedRun(srv.URL, names[:1], 1, 100, 300*time.Millisecond, false); r.Requests != 30 || r.P99ms < 200 {
		t.Errorf("behind schedule, p99 %.2f ms: the wait behind earlier answers is not counted", r.P99ms)
	}
	if r := pacedRun("http://127.0.0.1:1", names, 2, 100, 100*time.Millisecond, true); r.Errors != 2 || r.Err == "" {
		t.Errorf("no server: %+v", r)
	}
}

// TestSchedule: even gaps go round the connections; Poisson gaps have the
// rate's mean and an exponential's spread, fall on every connection
// alike, and are the same sequence in every run.
func TestSchedule(t *testing.T) {
	even := newSchedule(1000, 3, false)
	for k := range 5 {
		at, i := even.next()
		if at != time.Duration(k)*time.Millisecond || i != k%3 {
			t.Errorf("even request %d: due %v on %d", k, at, i)
		}
	}
	const n, c = 200000, 8
	a, b := newSchedule(1000, c, true), newSchedule(1000, c, true)
	per := make([]int, c)
	var prev, sum, sumSq float64
	for k := range n {
		at, i := a.next()
		if at2, i2 := b.next(); at2 != at || i2 != i {
			t.Fatalf("request %d: %v on %d, then %v on %d", k, at, i, at2, i2)
		}
		if i < 0 || i >= c {
			t.Fatalf("connection %d of %d", i, c)
		}
		per[i]++
		gap := at.Seconds() - prev
		prev = at.Seconds()
		sum += gap
		sumSq += gap * gap
	}
	mean := sum / n
	sd := math.Sqrt(sumSq/n - mean*mean)
	if math.Abs(mean-0.001) > 0.00002 || math.Abs(sd/mean-1) > 0.02 {
		t.Errorf("gaps: mean %v s, spread %v of the mean; want 1 ms and 1", mean, sd/mean)
	}
	for i, m := range per {
		if math.Abs(float64(m)/(n/c)-1) > 0.02 {
			t.Errorf("connection %d has %d of %d requests", i, m, n)
		}
	}
}

// TestParseAnswer: whole answers are measured and their status read, a
// part of one asks for more, and what could not be told from the next
// answer is an error.
func TestParseAnswer(t *testing.T) {
	two := "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\ncontent-length: 5\r\n\r\n<a/>\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
	status, n, err := parseAnswer([]byte(two))
	if err != nil || status != 200 || n != strings.Index(two, "HTTP/1.1 404") {
		t.Fatalf("first answer: %d, %d bytes, %v", status, n, err)
	}
	if status, m, err := parseAnswer([]byte(two[n:])); err != nil || status != 404 || m != len(two)-n {
		t.Errorf("second answer: %d, %d bytes, %v", status, m, err)
	}
	for _, part := range []string{"", "HTTP/1.1 200", two[:n-1], two[:20]} {
		if _, n, err := parseAnswer([]byte(part)); n != 0 || err != nil {
			t.Errorf("part %q: %d bytes, %v", part, n, err)
		}
	}
	for _, bad := range []string{
		"HTTP/1.1 200 OK\r\n\r\n",                               // no length
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", // chunked
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
		"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
		"HTTP/1.1 " + strings.Repeat("x", maxAnswerHead+1),
	} {
		if _, n, err := parseAnswer([]byte(bad)); err == nil {
			t.Errorf("%.40q read as an answer of %d bytes", bad, n)
		}
	}
	// No length is right where there is no body.
	if status, n, err := parseAnswer([]byte("HTTP/1.1 304 Not Modified\r\n\r\n")); err != nil || status != 304 || n != 29 {
		t.Errorf("304: %d, %d bytes, %v", status, n, err)
	}
}

// FuzzParseAnswer: any bytes read without a panic; an answer read is
// within them, has a status of three digits, and is not whole one byte
// short.
func FuzzParseAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1"))
	f.Add([]byte("HTTP/1.0 304 x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		status, n, err := parseAnswer(b)
		if err != nil || n == 0 {
			return
		}
		if n > len(b) || status < 100 || status > 999 {
			t.Fatalf("%q: status %d, %d bytes", b, status, n)
		}
		if _, m, _ := parseAnswer(b[:n-1]); m != 0 {
			t.Fatalf("%q: whole at %d bytes and at %d", b, n, m)
		}
	})
}

// TestPacedRunClosed: a server that closes its connections fails them
// all, and the client does not spin on the closed sockets for the rest of
// the run (its CPU time stays far below the run's length).
func TestPacedRunClosed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the paced client runs on Linux only")
	}
	// net/http closes a connection after an answer that says so.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	r := pacedRun(srv.URL, []string{"/a"}, 4, 400, time.Second, true)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	if r.Errors != 4 || r.Requests < 1 || r.Requests > 4 {
		t.Errorf("every connection closed after one answer: %+v", r)
	}
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	if cpu > 300*time.Millisecond {
		t.Errorf("the client used %v of CPU in a 1 s run with every connection closed", cpu)
	}
}

func TestThreadCounts(t *testing.T) {
	for _, tc := range []struct {
		asked []int
		c     int
		want  []int
	}{
		{[]int{2}, 64, []int{2}},
		{[]int{1, 2, 4}, 64, []int{1, 2, 4}},
		{[]int{2, 4}, 1, []int{1}},          // one connection, one thread
		{[]int{4, 1, 2, 8}, 2, []int{2, 1}}, // capped at c, no repeats, order kept
	} {
		if got := threadCounts(tc.asked, tc.c); !slices.Equal(got, tc.want) {
			t.Errorf("threadCounts(%v, %d) = %v, want %v", tc.asked, tc.c, got, tc.want)
		}
	}
}

// Figures of one thread count never mix with another's, nor with the
// paced runs (threads 0).
func TestMediansByThreads(t *testing.T) {
	all := []result{
		{Server: "selfprovd", Mix: "known", C: 64, Threads: 2, P99ms: 4, ReqPerS: 90},
		{Server: "nginx", Mix: "known", C: 64, Threads: 2, P99ms: 1, ReqPerS: 80},
		{Server: "selfprovd", Mix: "known", C: 64, Threads: 4, P99ms: 3, ReqPerS: 81},
		{Server: "nginx", Mix: "known", C: 64, Threads: 4, P99ms: 6, ReqPerS: 70},
		{Server: "selfprovd", Mix: "known", C: 64, P99ms: 0.5, Paced: true},
		{Server: "nginx", Mix: "known", C: 64, P99ms: 2, Paced: true},
	}
	if m := medians(all, "selfprovd", "known", 64, 4); m.P99ms != 3 || m.ReqPerS != 81 {
		t.Errorf("4 threads: %+v", m)
	}
	p99 := func(r result) float64 { return r.P99ms }
	for threads, want := range map[int]float64{2: 4, 4: 0.5, 0: 0.25} {
		if got := pairRatios(all, "selfprovd", "known", 64, threads, p99); len(got) != 1 || got[0] != want {
			t.Errorf("p99 ratio at %d threads = %v, want [%v]", threads, got, want)
		}
	}
}
