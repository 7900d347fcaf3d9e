package registrar

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per source IP. Idle buckets are swept; the
// table is bounded, and a source that finds it full is not limited (a
// spoofed flood can fill it, but it cannot make the table grow).
type limiter struct {
	perSec float64
	burst  int
	seed   maphash.Seed
	shards [64]limShard
}

type limShard struct {
	mu sync.Mutex
	m  map[netip.Addr]*bucket
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
	// refused counts refusals since the last one reported; reported is
	// when that was. A refusal is reported at once, then at most once per
	// reportEvery, so a flood makes one log line per source per period.
	refused  int
	reported time.Time
}

// reportEvery bounds the log lines about one rate-limited source.
const reportEvery = 10 * time.Second

const (
	maxLimited = 1 << 16 // tracked sources per shard
	idleAfter  = time.Minute
)

func newLimiter(perSec int) *limiter {
	if perSec <= 0 {
		return nil
	}
	l := &limiter{perSec: float64(perSec), burst: perSec, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].m = make(map[netip.Addr]*bucket)
	}
	return l
}

func (l *limiter) allow(a netip.Addr, now time.Time) bool {
	ok, _ := l.check(a, now)
	return ok
}

// check is allow that also says, when the request is refused and a report
// is due, how many refusals of this source the report covers (0: none due).
func (l *limiter) check(a netip.Addr, now time.Time) (ok bool, report int) {
	if l == nil {
		return true, 0
	}
	b16 := a.As16()
	sh := &l.shards[maphash.Bytes(l.seed, b16[:])%64]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, ok := sh.m[a]
	if !ok {
		if len(sh.m) >= maxLimited {
			return true, 0
		}
		b = &bucket{l: rate.NewLimiter(rate.Limit(l.perSec), l.burst)}
		sh.m[a] = b
	}
	b.seen = now
	if b.l.AllowN(now, 1) {
		return true, 0
	}
	b.refused++
	if !b.reported.IsZero() && now.Sub(b.reported) < reportEvery {
		return false, 0
	}
	report, b.refused, b.reported = b.refused, 0, now
	return false, report
}

func (l *limiter) sweep(now time.Time) {
	if l == nil {
		return
	}
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for a, b := range sh.m {
			if now.Sub(b.seen) > idleAfter {
				delete(sh.m, a)
			}
		}
		sh.mu.Unlock()
	}
}
