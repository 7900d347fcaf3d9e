package main

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestGCLimitFollowsTheLiveHeap(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int64
	}{
		{0, gcFloor},
		{gcFloor / 2, gcFloor},
		{gcFloor, 2 * gcFloor},
		{1 << 30, 2 << 30},
	} {
		if got := gcLimit(c.live); got != c.want {
			t.Errorf("gcLimit(%d) = %d, want %d", c.live, got, c.want)
		}
	}
}

// TestTuneGC: without GOGC or GOMEMLIMIT the policy applies; with either
// set, the runtime settings are left as the user made them.
func TestTuneGC(t *testing.T) {
	prevPercent := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	})

	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	stop := tuneGC()
	stop()
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GC percent %d, want %d", got, gcPercent)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got < gcFloor || got == math.MaxInt64 {
		t.Errorf("memory limit %d, want at least %d", got, gcFloor)
	}

	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "200")
			debug.SetGCPercent(123)
			tuneGC()()
			if got := debug.SetGCPercent(100); got != 123 {
				t.Errorf("GC percent %d with %s set, want 123 left alone", got, env)
			}
			if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
				t.Errorf("memory limit %d with %s set, want none", got, env)
			}
		})
	}
}
