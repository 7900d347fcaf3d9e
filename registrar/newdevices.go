package registrar

import (
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"time"
)

// deviceLimiter bounds the devices auto-registration creates per source
// IP, so one host cannot drain the DN range: a token bucket per address
// holding burst tokens, refilled at perMinute a minute. It is separate
// from the REGISTER rate limit, which refreshes of known phones spend.
//
// Whether a REGISTER creates a device is known only once the store has
// answered, so one that may create takes a token before the core is asked
// and gives it back if nothing was created; one that finds no token asks
// the core to create nothing (provision.Registration.NoCreate), which
// still lets a device that exists register.
type deviceLimiter struct {
	perSec float64
	burst  float64
	seed   maphash.Seed
	shards [64]devShard
}

type devShard struct {
	mu sync.Mutex
	m  map[netip.Addr]*tokens
}

type tokens struct {
	n  float64
	at time.Time // when n was counted
}

// newDeviceLimiter returns nil (no limit) for perMinute 0.
func newDeviceLimiter(perMinute, burst int) *deviceLimiter {
	if perMinute <= 0 {
		return nil
	}
	l := &deviceLimiter{perSec: float64(perMinute) / 60, burst: float64(max(burst, 1)), seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].m = make(map[netip.Addr]*tokens)
	}
	return l
}

func (l *deviceLimiter) shard(a netip.Addr) *devShard {
	b := a.As16()
	return &l.shards[maphash.Bytes(l.seed, b[:])%uint64(len(l.shards))]
}

// refill brings t up to now.
func (l *deviceLimiter) refill(t *tokens, now time.Time) {
	if d := now.Sub(t.at); d > 0 {
		t.n = math.Min(l.burst, t.n+d.Seconds()*l.perSec)
		t.at = now
	}
}

// take spends a token of a; false when there is none. Without a limit it
// always succeeds. As the REGISTER limiter does, a source that finds the
// table full is not limited: a spoofed flood must not make it grow.
func (l *deviceLimiter) take(a netip.Addr, now time.Time) bool {
	if l == nil {
		return true
	}
	sh := l.shard(a)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t, ok := sh.m[a]
	if !ok {
		if len(sh.m) >= maxLimited {
			return true
		}
		t = &tokens{n: l.burst, at: now}
		sh.m[a] = t
	}
	l.refill(t, now)
	if t.n < 1 {
		return false
	}
	t.n--
	return true
}

// giveBack returns a token taken for a REGISTER that created nothing.
func (l *deviceLimiter) giveBack(a netip.Addr, now time.Time) {
	if l == nil {
		return
	}
	sh := l.shard(a)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if t, ok := sh.m[a]; ok {
		l.refill(t, now)
		t.n = math.Min(l.burst, t.n+1)
	}
}

// retryAfter is the wait, in whole seconds, for the next token of an
// empty bucket.
func (l *deviceLimiter) retryAfter() int {
	if l == nil {
		return 1
	}
	return int(math.Ceil(1 / l.perSec))
}

// sweep forgets the sources whose bucket is full again: they are as if
// never seen.
func (l *deviceLimiter) sweep(now time.Time) {
	if l == nil {
		return
	}
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for a, t := range sh.m {
			l.refill(t, now)
			if t.n >= l.burst {
				delete(sh.m, a)
			}
		}
		sh.mu.Unlock()
	}
}
