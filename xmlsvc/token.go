package xmlsvc

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"selfprov/provision"
)

// Confirmation tokens: the Continue soft key of the confirm screen carries
// one. A token is random (128 bits), lives in memory only, is bound to the
// device and the user who logged in, expires after a TTL and is removed
// when used, so a replayed, forged, expired or other-device token finds
// nothing. A device has at most one pending token: logging in again
// replaces it, which also bounds the table by the number of auto-registered
// devices that passed the checks.

// DefaultTokenTTL is how long a confirm screen stays valid.
const DefaultTokenTTL = 2 * time.Minute

// DefaultMaxPending bounds the pending confirmations.
const DefaultMaxPending = 100_000

var (
	errTokenInvalid = errors.New("confirmation is not valid: it was used, expired, or belongs to another phone")
	errTokenFull    = errors.New("too many confirmations pending")
)

type pending struct {
	device, user string
	expires      time.Time
}

type tokens struct {
	clock provision.Clock
	ttl   time.Duration
	max   int

	mu       sync.Mutex
	byToken  map[string]pending
	byDevice map[string]string
	sweepAt  time.Time
}

func newTokens(clock provision.Clock, ttl time.Duration, max int) *tokens {
	return &tokens{clock: clock, ttl: ttl, max: max,
		byToken: map[string]pending{}, byDevice: map[string]string{}}
}

// issue returns a new token for device and user, revoking the device's
// previous one.
func (t *tokens) issue(device, user string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(now)
	if old, ok := t.byDevice[device]; ok {
		delete(t.byToken, old)
	} else if len(t.byToken) >= t.max {
		return "", errTokenFull
	}
	t.byToken[tok] = pending{device: device, user: user, expires: now.Add(t.ttl)}
	t.byDevice[device] = tok
	return tok, nil
}

// take consumes tok if it is pending for device and not expired, and
// returns the user it was issued to. A token presented for another device
// is left alone for its own phone.
func (t *tokens) take(device, tok string) (user string, err error) {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.byToken[tok]
	if !ok || p.device != device {
		return "", errTokenInvalid
	}
	delete(t.byToken, tok)
	delete(t.byDevice, device)
	if !now.Before(p.expires) {
		return "", errTokenInvalid
	}
	return p.user, nil
}

func (t *tokens) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byToken)
}

// sweepLocked drops expired tokens at most once per TTL, so the cost is
// amortised over the issues in between.
func (t *tokens) sweepLocked(now time.Time) {
	if now.Before(t.sweepAt) {
		return
	}
	t.sweepAt = now.Add(t.ttl)
	for tok, p := range t.byToken {
		if !now.Before(p.expires) {
			delete(t.byToken, tok)
			delete(t.byDevice, p.device)
		}
	}
}
