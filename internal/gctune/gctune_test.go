package gctune

import (
	"math"
	"runtime/debug"
	"testing"
)

var testPolicy = Policy{Percent: 400, Floor: 192 << 20}

func TestLimitFollowsTheLiveHeap(t *testing.T) {
	floor := testPolicy.Floor
	for _, c := range []struct {
		live uint64
		want int64
	}{
		{0, floor},
		{uint64(floor) / 2, floor},
		{uint64(floor), 2 * floor},
		{1 << 30, 2 << 30},
	} {
		if got := testPolicy.limit(c.live); got != c.want {
			t.Errorf("limit(%d) = %d, want %d", c.live, got, c.want)
		}
	}
}

// TestApply: without GOGC or GOMEMLIMIT the policy applies; with either
// set, the runtime settings are left as the user made them.
func TestApply(t *testing.T) {
	prevPercent := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	})

	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	stop := testPolicy.Apply()
	stop()
	if got := debug.SetGCPercent(100); got != testPolicy.Percent {
		t.Errorf("GC percent %d, want %d", got, testPolicy.Percent)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got < testPolicy.Floor || got == math.MaxInt64 {
		t.Errorf("memory limit %d, want at least %d", got, testPolicy.Floor)
	}

	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "200")
			debug.SetGCPercent(123)
			testPolicy.Apply()()
			if got := debug.SetGCPercent(100); got != 123 {
				t.Errorf("GC percent %d with %s set, want 123 left alone", got, env)
			}
			if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
				t.Errorf("memory limit %d with %s set, want none", got, env)
			}
		})
	}
}
