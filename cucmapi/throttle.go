package cucmapi

import (
	"sync"
	"time"
)

// Throttle admits at most N events in any minute, as CUCM's AXL write
// limit (MaxAXLWritesPerMinute) and RisPort's device query limit
// (Allowed Device Queries Per Minute) do. A nil Throttle admits all.
type Throttle struct {
	mu    sync.Mutex
	n     int
	now   func() time.Time
	times []time.Time // admitted events of the last minute, oldest first
}

// NewThrottle returns a Throttle of n events a minute; n <= 0 gives nil
// (no limit). now is the clock (nil: time.Now).
func NewThrottle(n int, now func() time.Time) *Throttle {
	if n <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &Throttle{n: n, now: now}
}

// Allow admits an event, or says how long until one would be.
func (t *Throttle) Allow() (ok bool, retry time.Duration) {
	if t == nil {
		return true, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	i := 0
	for i < len(t.times) && now.Sub(t.times[i]) >= time.Minute {
		i++
	}
	t.times = t.times[i:]
	if len(t.times) >= t.n {
		return false, time.Minute - now.Sub(t.times[0])
	}
	t.times = append(t.times, now)
	return true, 0
}
