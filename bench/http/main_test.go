package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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
	r := pacedRun(srv.URL, names, 4, 400, 500*time.Millisecond)
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
	// Answers taking 30 ms on one connection, due every 40 ms (25/s): on
	// schedule. Due every 10 ms (100/s): the k-th waits for the ones
	// before it, 30+20k ms from its due time, and that wait counts.
	slow.Store(true)
	if r := pacedRun(srv.URL, names[:1], 1, 25, 300*time.Millisecond); r.P99ms < 30 || r.P99ms > 60 {
		t.Errorf("on schedule with 30 ms answers, p99 %.2f ms, want 30-60", r.P99ms)
	}
	if r := pacedRun(srv.URL, names[:1], 1, 100, 300*time.Millisecond); r.Requests != 30 || r.P99ms < 200 {
		t.Errorf("behind schedule, p99 %.2f ms: the wait behind earlier answers is not counted", r.P99ms)
	}
	if r := pacedRun("http://127.0.0.1:1", names, 2, 100, 100*time.Millisecond); r.Errors != 2 || r.Err == "" {
		t.Errorf("no server: %+v", r)
	}
}
