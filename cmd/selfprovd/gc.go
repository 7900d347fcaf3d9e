package main

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// selfprovd's live heap is small (bindings of a few hundred bytes, bounded
// caches) while every message allocates, so at Go's default GOGC=100 an
// auto-registration storm spent about a tenth of its CPU collecting, and on
// two cores each collection also delays REGISTERs. So while the heap is
// small it may grow to five times what is live (GOGC=400), but never past
// gcFloor or twice the live heap, whichever is larger: a boot storm's
// resident memory stays where GOGC=100 keeps it, and a large heap (a
// million bindings) is collected as at GOGC=100.
const (
	gcPercent = 400
	gcFloor   = 192 << 20
	// gcRetune is how often the limit follows the live heap.
	gcRetune = time.Second
)

// tuneGC applies the policy above unless GOGC or GOMEMLIMIT is set, which
// then decide alone. The returned stop ends the retuning.
func tuneGC() (stop func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	debug.SetGCPercent(gcPercent)
	debug.SetMemoryLimit(gcLimit(liveHeap()))
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(gcRetune)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				debug.SetMemoryLimit(gcLimit(liveHeap()))
			}
		}
	}()
	return func() { close(done) }
}

// gcLimit is the soft memory limit for a live heap of live bytes.
func gcLimit(live uint64) int64 {
	return max(gcFloor, 2*int64(live))
}

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
