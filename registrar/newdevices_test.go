package registrar

import (
	"net/netip"
	"testing"
	"time"
)

func TestDeviceLimiterBucket(t *testing.T) {
	if l := newDeviceLimiter(0, 5); l != nil || !l.take(netip.MustParseAddr("192.0.2.1"), time.Now()) {
		t.Fatal("perMinute 0 must mean no limit")
	}
	l := newDeviceLimiter(6, 3) // one token every 10 s
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	t0 := time.Unix(1_000_000, 0)
	for i := range 3 {
		if !l.take(a, t0) {
			t.Fatalf("token %d of the burst refused", i+1)
		}
	}
	if l.take(a, t0) || l.take(a, t0.Add(9*time.Second)) {
		t.Fatal("a token beyond the burst before 10 s")
	}
	if !l.take(b, t0) {
		t.Fatal("another address shares the bucket")
	}
	if !l.take(a, t0.Add(10*time.Second)) || l.take(a, t0.Add(10*time.Second)) {
		t.Fatal("10 s must give exactly one token")
	}
	// Given back, a token is there at once; never beyond the burst.
	l.giveBack(a, t0.Add(10*time.Second))
	if !l.take(a, t0.Add(10*time.Second)) {
		t.Fatal("a token given back is not there")
	}
	for range 10 {
		l.giveBack(b, t0)
	}
	for i := range 3 {
		if !l.take(b, t0) {
			t.Fatalf("token %d after giving back", i+1)
		}
	}
	if l.take(b, t0) {
		t.Fatal("giving back went beyond the burst")
	}
	if got := l.retryAfter(); got != 10 {
		t.Fatalf("Retry-After %d, want 10", got)
	}
	// The sweep forgets only buckets that are full again.
	l.sweep(t0.Add(20 * time.Second))
	if n := l.tracked(); n != 2 {
		t.Fatalf("%d buckets after a sweep of half-empty ones, want 2", n)
	}
	l.sweep(t0.Add(40 * time.Second))
	if n := l.tracked(); n != 0 {
		t.Fatalf("%d buckets after a sweep of full ones, want 0", n)
	}
}

func (l *deviceLimiter) tracked() int {
	n := 0
	for i := range l.shards {
		l.shards[i].mu.Lock()
		n += len(l.shards[i].m)
		l.shards[i].mu.Unlock()
	}
	return n
}
