package provision

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Credentials are what a login presents, on a phone screen, over HTTP
// Basic or through an administrative interface.
type Credentials struct {
	// UserID is the user ID, the self-service ID or the email address.
	UserID string
	// Secret is the PIN or the password (in users-and-admin mode on the
	// phone flow, also the system authentication code).
	Secret string
	// Source is the address the attempt came from. Failed logins are
	// limited per source; an adapter that cannot tell the source leaves it
	// zero, and all such attempts share one limit.
	Source netip.Addr
}

// ParseSource reads the address of a "host:port" or bare address as
// adapters get it from their connection (http.Request.RemoteAddr); zero
// when it is neither.
func ParseSource(addr string) netip.Addr {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr()
	}
	if a, err := netip.ParseAddr(addr); err == nil {
		return a
	}
	return netip.Addr{}
}

// Outcome codes of credential checks beyond those in errors.go.
const (
	CodeTooManyAttempts = "TOO_MANY_ATTEMPTS"
	CodeUserMismatch    = "USER_MISMATCH"
)

var (
	// ErrTooManyAttempts refuses every login from a source that has had
	// its share of failed logins; RetryAfter tells for how long.
	ErrTooManyAttempts = &Error{CodeTooManyAttempts, "too many failed logins from this address; try again later"}
	// ErrUserMismatch refuses a request about another user than the one
	// whose credentials it carries.
	ErrUserMismatch = &Error{CodeUserMismatch, "the credentials are not those of the user the request is about"}
)

type tooManyAttemptsError struct{ remaining time.Duration }

func (e tooManyAttemptsError) Error() string {
	return fmt.Sprintf("%v: retry in %s", ErrTooManyAttempts, e.remaining.Round(time.Second))
}
func (e tooManyAttemptsError) Unwrap() error { return ErrTooManyAttempts }

// RetryAfter is how long the source stays refused.
func (e tooManyAttemptsError) RetryAfter() time.Duration { return e.remaining }

// FailedLoginLimit bounds failed logins per source address across all
// user IDs, so that one address can neither lock a whole directory out
// (three failures lock an account) nor sweep it for IDs or PINs. Over the
// limit every login from the source is refused, the right ones too, with
// nothing checked or counted against a user, until the window that began
// with its first failure has passed.
type FailedLoginLimit struct {
	PerSource int           // failed logins per source in Window; 0 = no limit
	Window    time.Duration // 0 means DefaultFailedLoginWindow
}

// Defaults of the per-source limit.
const (
	DefaultFailedLoginsPerSource = 20
	DefaultFailedLoginWindow     = 15 * time.Minute
)

// Bounds of the memory kept for credential checks: sources with failed
// logins, and unknown user IDs with failed attempts. The least recently
// seen entry goes when a table is full.
const (
	maxTrackedSources    = 16384
	maxTrackedUnknownIDs = 16384
)

// sourceKey groups addresses into what one client controls: an IPv4
// address, an IPv6 /64. The zero key collects attempts of unknown source.
func sourceKey(a netip.Addr) netip.Prefix {
	a = a.Unmap().WithZone("")
	if !a.IsValid() {
		return netip.Prefix{}
	}
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

type sourceState struct {
	first   time.Time // first failure of the window
	failed  int
	pending int           // attempts being checked now
	settled chan struct{} // closed when a pending attempt ends; nil if none waits
}

// sourceGuard counts failed logins per source. An attempt reserves a slot
// before it is checked, so concurrent attempts cannot overshoot the limit;
// one that finds the remaining slots held by attempts still being checked
// waits for them rather than being refused, so many good logins at once
// from one address (a floor behind NAT) all go through.
type sourceGuard struct {
	mu    sync.Mutex
	limit FailedLoginLimit
	m     *lru[netip.Prefix, *sourceState]
}

func newSourceGuard(l FailedLoginLimit) *sourceGuard {
	if l.Window <= 0 {
		l.Window = DefaultFailedLoginWindow
	}
	return &sourceGuard{limit: l, m: newLRU[netip.Prefix, *sourceState](maxTrackedSources)}
}

// begin reserves an attempt for src; a positive retry refuses it. While
// only pending attempts fill the source's share it waits for one of them
// to end, until ctx is done.
func (g *sourceGuard) begin(ctx context.Context, src netip.Prefix, now func() time.Time) (retry time.Duration, err error) {
	if g.limit.PerSource <= 0 {
		return 0, nil
	}
	for {
		g.mu.Lock()
		st, ok := g.m.get(src)
		if !ok {
			st = &sourceState{}
			g.m.put(src, st)
		}
		t := now()
		if st.failed > 0 && t.Sub(st.first) >= g.limit.Window {
			st.failed = 0
		}
		if st.failed >= g.limit.PerSource {
			retry = max(st.first.Add(g.limit.Window).Sub(t), time.Second)
			g.mu.Unlock()
			return retry, nil
		}
		if st.failed+st.pending < g.limit.PerSource {
			st.pending++
			g.mu.Unlock()
			return 0, nil
		}
		if st.settled == nil {
			st.settled = make(chan struct{})
		}
		settled := st.settled
		g.mu.Unlock()
		select {
		case <-settled:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// end releases the reservation, counting a failure; reached tells that
// this failure used up the source's share.
func (g *sourceGuard) end(src netip.Prefix, failed bool, now time.Time) (reached bool) {
	if g.limit.PerSource <= 0 {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.m.get(src)
	if !ok {
		return false // dropped from a full table meanwhile
	}
	st.pending--
	if st.settled != nil {
		close(st.settled)
		st.settled = nil
	}
	if failed {
		if st.failed == 0 {
			st.first = now
		}
		st.failed++
		return st.failed == g.limit.PerSource
	}
	return false
}

// unknownIDs keeps the failed-logon state of user IDs that name no user,
// under the same credential policy as real accounts, so an unknown ID
// "locks" as a real one does and the answers do not tell them apart.
type unknownIDs struct {
	mu sync.Mutex
	m  *lru[string, CredentialState]
}

func newUnknownIDs() *unknownIDs {
	return &unknownIDs{m: newLRU[string, CredentialState](maxTrackedUnknownIDs)}
}

// unknownKey is how the store matches the ID: user IDs exactly, email
// addresses without case.
func unknownKey(id string) string {
	if strings.Contains(id, "@") {
		return strings.ToLower(id)
	}
	return id
}

// locked tells whether the unknown ID is locked out now.
func (u *unknownIDs) locked(id string, p CredentialPolicy, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	st, ok := u.m.get(unknownKey(id))
	if !ok {
		return false
	}
	st, locked := p.current(st, now)
	if !locked && (st.FailedAttempts == 0 || p.counterExpired(st, now)) {
		u.m.remove(unknownKey(id))
	}
	return locked
}

// fail counts a failed attempt; true when it locks the ID.
func (u *unknownIDs) fail(id string, p CredentialPolicy, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	key := unknownKey(id)
	st, _ := u.m.get(key)
	st, _ = p.current(st, now)
	st, locked := p.failed(st, now)
	u.m.put(key, st)
	return locked
}

// current is st at now: locked, or cleared when its lockout has run out.
func (p CredentialPolicy) current(st CredentialState, now time.Time) (CredentialState, bool) {
	if st.LockedAt.IsZero() {
		return st, false
	}
	if p.LockoutDuration == 0 || now.Before(st.LockedAt.Add(p.LockoutDuration)) {
		return st, true
	}
	return CredentialState{}, false
}

func (p CredentialPolicy) counterExpired(st CredentialState, now time.Time) bool {
	return p.ResetCounterAfter > 0 && now.Sub(st.FirstFailure) >= p.ResetCounterAfter
}

// failed is st after one more failed attempt; locked when it reaches the
// threshold.
func (p CredentialPolicy) failed(st CredentialState, now time.Time) (CredentialState, bool) {
	if st.FailedAttempts == 0 || p.counterExpired(st, now) {
		st = CredentialState{FirstFailure: now}
	}
	st.FailedAttempts++
	locked := p.FailedLogonThreshold > 0 && st.FailedAttempts >= p.FailedLogonThreshold
	if locked {
		st.LockedAt = now
	}
	return st, locked
}
