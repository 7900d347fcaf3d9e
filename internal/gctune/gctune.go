// Package gctune is the garbage-collection policy of selfprovd and
// phonesim. Both keep a small live heap while every message allocates, so
// at Go's default GOGC=100 they spend a large share of their CPU
// collecting, and on two cores each collection also delays the other
// side's work.
package gctune

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Policy lets the heap grow to Percent more than what is live (GOGC)
// while it is small, but never past Floor or twice the live heap,
// whichever is larger: a small process trades some memory for CPU, and a
// large heap is collected as at GOGC=100.
type Policy struct {
	Percent int
	Floor   int64
}

// retune is how often the limit follows the live heap.
const retune = time.Second

// Apply puts the policy in force unless GOGC or GOMEMLIMIT is set, which
// then decide alone. The returned stop ends the retuning.
func (p Policy) Apply() (stop func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	debug.SetGCPercent(p.Percent)
	debug.SetMemoryLimit(p.limit(liveHeap()))
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(retune)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				debug.SetMemoryLimit(p.limit(liveHeap()))
			}
		}
	}()
	return func() { close(done) }
}

// limit is the soft memory limit for a live heap of live bytes.
func (p Policy) limit(live uint64) int64 {
	return max(p.Floor, 2*int64(live))
}

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
