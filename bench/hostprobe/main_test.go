package main

import (
	"strings"
	"testing"
	"time"
)

// TestProbe: every probe measures something, within bounds no machine
// that runs the benches is outside of, and the line names each figure.
func TestProbe(t *testing.T) {
	r, err := probe(100*time.Millisecond, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name      string
		v, lo, hi time.Duration
	}{
		{"round trip", r.RoundTrip, 100 * time.Nanosecond, 10 * time.Millisecond},
		{"memory read", r.MemoryRead, 1, 10 * time.Microsecond},
		{"SHA-256", r.SHA256KiB, 10 * time.Nanosecond, time.Millisecond},
	} {
		if f.v < f.lo || f.v > f.hi {
			t.Errorf("%s %v, want within [%v, %v]", f.name, f.v, f.lo, f.hi)
		}
	}
	line := r.String()
	for _, want := range []string{"loopback TCP round trip", "random memory read", "SHA-256"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
}

func TestMedian(t *testing.T) {
	if m := median([]time.Duration{5, 1, 100, 3, 4}); m != 4 {
		t.Fatalf("median %v, want 4", m)
	}
}
