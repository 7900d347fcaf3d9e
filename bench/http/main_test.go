package main

import "testing"

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
