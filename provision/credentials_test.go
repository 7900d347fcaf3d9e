package provision_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"selfprov/configs"
	"selfprov/internal/coretest"
	"selfprov/provision"
	"selfprov/store/sqlite"
)

func src(s string) netip.Addr { return netip.MustParseAddr(s) }

func creds(id, secret, source string) provision.Credentials {
	return provision.Credentials{UserID: id, Secret: secret, Source: src(source)}
}

// answers runs the same script of logins for one ID and returns the codes.
func answers(t *testing.T, e *env, id, source string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	try := func(secret string) {
		_, err := e.svc.Authenticate(ctx, creds(id, secret, source))
		out = append(out, provision.CodeOf(err))
	}
	try("0") // two failures, then the counter window passes
	try("0")
	e.clock.Advance(31 * time.Minute)
	try("0") // three failures lock
	try("0")
	try("0")
	try("12345") // alice's PIN: locked either way
	try("0")
	e.clock.Advance(31 * time.Minute) // the lockout runs out
	try("0")
	return out
}

// TestUnknownUserAnswersLikeKnown: an ID that names no user gets the same
// sequence of answers as a real user, lockout included, so answers do not
// reveal which IDs exist.
func TestUnknownUserAnswersLikeKnown(t *testing.T) {
	e := newEnv(t, nil)
	known := answers(t, e, "alice", "192.0.2.1")
	unknown := answers(t, e, "nobody", "192.0.2.2")
	want := []string{"AUTH_FAILED", "AUTH_FAILED", "AUTH_FAILED", "AUTH_FAILED", "ACCOUNT_LOCKED", "ACCOUNT_LOCKED", "ACCOUNT_LOCKED", "AUTH_FAILED"}
	if !slices.Equal(known, want) {
		t.Fatalf("known user: %v, want %v", known, want)
	}
	if !slices.Equal(unknown, known) {
		t.Fatalf("unknown user answers %v, known user %v", unknown, known)
	}
}

// TestUnknownUserLockedUntilAdminUnlocks: with no lockout duration a real
// account stays locked; so does an unknown ID.
func TestUnknownUserLockedUntilAdminUnlocks(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) { c.Cluster.CredentialPolicy.LockoutDuration = 0 })
	ctx := context.Background()
	for _, id := range []string{"bob", "nobody"} {
		for range 3 {
			e.svc.Authenticate(ctx, creds(id, "0", "192.0.2.1"))
		}
	}
	e.clock.Advance(1000 * time.Hour)
	for _, id := range []string{"bob", "nobody"} {
		if _, err := e.svc.Authenticate(ctx, creds(id, "12345", "192.0.2.1")); !errors.Is(err, provision.ErrAccountLocked) {
			t.Errorf("%s: %v, want locked", id, err)
		}
	}
}

// TestUnknownEmailCountsWithoutCase: email addresses match without case,
// for real users and unknown ones alike.
func TestUnknownEmailCountsWithoutCase(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, pair := range [][2]string{{"Alice@Example.com", "alice@example.COM"}, {"Ghost@Example.com", "ghost@example.COM"}} {
		for _, id := range []string{pair[0], pair[1], pair[0]} {
			e.svc.Authenticate(ctx, creds(id, "0", "192.0.2.1"))
		}
		if _, err := e.svc.Authenticate(ctx, creds(pair[1], "12345", "192.0.2.1")); !errors.Is(err, provision.ErrAccountLocked) {
			t.Errorf("%s: %v, want locked after three failures in any case", pair[1], err)
		}
	}
}

// TestUnknownUserDoesTheSameHashWork: a failed login for an unknown ID
// verifies hashes of the same costs, in the same order, as one for a real
// user, so timing does not tell them apart either. Counted through the
// service's verifier, not timed.
func TestUnknownUserDoesTheSameHashWork(t *testing.T) {
	for _, mode := range []provision.AuthMode{provision.AuthUsers, provision.AuthUsersAndAdmin} {
		t.Run(string(mode), func(t *testing.T) {
			c := coretest.New(t, coretest.Options{HashIterations: -1, Change: func(c *configs.Config) {
				c.Cluster.AuthMode = mode
				c.Cluster.AuthCode = "778899"
			}})
			var mu sync.Mutex
			var costs []string
			provision.SetVerifier(c.Svc, func(hash, secret string) bool {
				mu.Lock()
				costs = append(costs, strings.Split(hash, "$")[1])
				mu.Unlock()
				return provision.VerifySecret(hash, secret)
			})
			work := func(id, secret string) []string {
				costs = nil
				if _, err := c.Svc.Authenticate(context.Background(), creds(id, secret, "192.0.2.1")); err == nil {
					t.Fatalf("%s logged in", id)
				}
				return slices.Clone(costs)
			}
			// alice has a PIN and a password, bob a PIN only.
			alice, bob := work("alice", "0"), work("bob", "0")
			want := []string{"1024", "4096"}
			if mode == provision.AuthUsersAndAdmin {
				want = append(want, "4096")
			}
			if !slices.Equal(alice, want) || !slices.Equal(bob, want) {
				t.Fatalf("hash costs verified: alice %v, bob %v; want %v", alice, bob, want)
			}
			for _, unknown := range [][2]string{{"nobody", "0"}, {"nobody@example.com", "0"}, {"nobody", ""}, {"alice", ""}} {
				if got := work(unknown[0], unknown[1]); !slices.Equal(got, want) {
					t.Errorf("%q with secret %q verified %v, want %v", unknown[0], unknown[1], got, want)
				}
			}
		})
	}
}

// TestFailedLoginsPerSource: one source may fail so many logins across
// all user IDs; then every login from it is refused with a retry time,
// without a user's counter moving, while other sources are unaffected.
func TestFailedLoginsPerSource(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) {
		c.SelfProvisioning.FailedLoginsPerSource = 4
		c.SelfProvisioning.FailedLoginWindow = 10 * time.Minute
	})
	ctx := context.Background()
	attacker := "198.51.100.7"
	for _, id := range []string{"alice", "alice", "bob", "nobody"} {
		if _, err := e.svc.Authenticate(ctx, creds(id, "0", attacker)); provision.CodeOf(err) != provision.CodeAuthFailed {
			t.Fatalf("%s: %v, want AUTH_FAILED within the limit", id, err)
		}
	}
	e.clock.Advance(time.Minute)
	// Over the limit: refused, the right PIN too, and alice's third failure
	// is not counted.
	for _, c := range []provision.Credentials{creds("alice", "0", attacker), creds("bob", "12345", attacker), creds("nobody", "0", attacker)} {
		_, err := e.svc.Authenticate(ctx, c)
		if !errors.Is(err, provision.ErrTooManyAttempts) {
			t.Fatalf("%s over the limit: %v, want TOO_MANY_ATTEMPTS", c.UserID, err)
		}
		if ra := provision.RetryAfter(err); ra != 9*time.Minute {
			t.Fatalf("retry after %v, want 9m (the window from the first failure)", ra)
		}
	}
	u, err := e.st.User(ctx, "alice")
	if err != nil || u.Credential.FailedAttempts != 2 || !u.Credential.LockedAt.IsZero() {
		t.Fatalf("alice's state %+v %v: the refused attempt was counted", u.Credential, err)
	}
	// Another address, and the same address in IPv4-mapped form counts as it.
	if _, err := e.svc.Authenticate(ctx, creds("alice", "12345", "203.0.113.9")); err != nil {
		t.Fatalf("another source: %v", err)
	}
	if _, err := e.svc.Authenticate(ctx, creds("alice", "12345", "::ffff:"+attacker)); !errors.Is(err, provision.ErrTooManyAttempts) {
		t.Fatalf("mapped address: %v", err)
	}
	// An IPv6 /64 is one source.
	for i, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3", "2001:db8:1:2::4"} {
		e.svc.Authenticate(ctx, creds("user"+strconv.Itoa(i), "0", a))
	}
	if _, err := e.svc.Authenticate(ctx, creds("bob", "12345", "2001:db8:1:2::99")); !errors.Is(err, provision.ErrTooManyAttempts) {
		t.Fatalf("same /64: %v", err)
	}
	if _, err := e.svc.Authenticate(ctx, creds("bob", "12345", "2001:db8:1:3::1")); err != nil {
		t.Fatalf("next /64: %v", err)
	}
	// The window passes: the source may try again.
	e.clock.Advance(9 * time.Minute)
	if _, err := e.svc.Authenticate(ctx, creds("alice", "12345", attacker)); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestFailedLoginsPerSourceCountsOnlyFailures: right logins do not use up
// the source's share (a boot storm behind one address), and a limit of 0
// in the configuration is no limit.
func TestFailedLoginsPerSourceCountsOnlyFailures(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *configs.Config) { c.SelfProvisioning.FailedLoginsPerSource = 2 })
	for range 10 {
		if _, err := e.svc.Authenticate(ctx, creds("alice", "12345", "192.0.2.1")); err != nil {
			t.Fatal(err)
		}
	}
	e = newEnv(t, func(c *configs.Config) { c.SelfProvisioning.FailedLoginsPerSource = 0 })
	for i := range 30 {
		if _, err := e.svc.Authenticate(ctx, creds("nobody"+strconv.Itoa(i), "0", "192.0.2.1")); provision.CodeOf(err) != provision.CodeAuthFailed {
			t.Fatalf("attempt %d with no limit: %v", i, err)
		}
	}
}

// TestFailedLoginsPerSourceInModeNone: with no PIN asked, an unknown ID is
// the failure, so sweeping IDs from one address is limited too.
func TestFailedLoginsPerSourceInModeNone(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) {
		c.Cluster.AuthMode = provision.AuthNone
		c.SelfProvisioning.FailedLoginsPerSource = 2
	})
	ctx := context.Background()
	for _, id := range []string{"ghost1", "ghost2"} {
		if _, err := e.svc.Authenticate(ctx, creds(id, "", "192.0.2.1")); !errors.Is(err, provision.ErrAuthFailed) {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if _, err := e.svc.Authenticate(ctx, creds("alice", "", "192.0.2.1")); !errors.Is(err, provision.ErrTooManyAttempts) {
		t.Fatalf("sweep went on: %v", err)
	}
}

// TestFailedLoginsPerSourceConcurrent: attempts racing from one source
// cannot overshoot the limit.
func TestFailedLoginsPerSourceConcurrent(t *testing.T) {
	const limit, n = 5, 40
	e := newEnv(t, func(c *configs.Config) { c.SelfProvisioning.FailedLoginsPerSource = limit })
	var wg sync.WaitGroup
	codes := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.Authenticate(context.Background(), creds("u"+strconv.Itoa(i), "0", "192.0.2.1"))
			codes[i] = provision.CodeOf(err)
		}()
	}
	wg.Wait()
	counted := 0
	for _, c := range codes {
		if c == provision.CodeAuthFailed {
			counted++
		} else if c != provision.CodeTooManyAttempts {
			t.Fatalf("unexpected %s", c)
		}
	}
	if counted != limit {
		t.Fatalf("%d attempts checked, want %d", counted, limit)
	}
}

// TestGoodLoginsAtOnceFromOneSource: many good logins in flight at once
// from one address (a floor behind NAT) are never refused because the
// limit's slots are held by attempts still being checked.
func TestGoodLoginsAtOnceFromOneSource(t *testing.T) {
	const limit, n = 2, 40
	e := newEnv(t, func(c *configs.Config) { c.SelfProvisioning.FailedLoginsPerSource = limit })
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = e.svc.Authenticate(context.Background(), creds("alice", "12345", "192.0.2.1"))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
}

func TestParseSource(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:5060": "192.0.2.1", "[2001:db8::1]:443": "2001:db8::1", "192.0.2.9": "192.0.2.9",
		"[fe80::1%eth0]:80": "fe80::1%eth0", "pipe": "invalid IP", "": "invalid IP",
	} {
		if got := provision.ParseSource(in).String(); got != want {
			t.Errorf("ParseSource(%q) = %s, want %s", in, got, want)
		}
	}
}

// countingStore counts the credential-state writes that reach the store.
type countingStore struct {
	provision.Store
	mu     sync.Mutex
	writes int
}

func (s *countingStore) SetCredentialState(ctx context.Context, id string, st provision.CredentialState) error {
	s.mu.Lock()
	s.writes++
	s.mu.Unlock()
	return s.Store.SetCredentialState(ctx, id, st)
}

// TestUnknownUserDoesTheSameStoreWork: a failed login for an unknown ID
// makes the credential-state write a real user's failure makes (matching
// no row), so the store's time does not tell them apart; and it creates
// nothing.
func TestUnknownUserDoesTheSameStoreWork(t *testing.T) {
	var cs *countingStore
	c := coretest.New(t, coretest.Options{Wrap: func(st *sqlite.Store) provision.Store {
		cs = &countingStore{Store: st}
		return cs
	}})
	ctx := context.Background()
	for _, id := range []string{"bob", "nobody"} {
		cs.writes = 0
		if _, err := c.Svc.Authenticate(ctx, creds(id, "0", "192.0.2.1")); !errors.Is(err, provision.ErrAuthFailed) {
			t.Fatalf("%s: %v", id, err)
		}
		if cs.writes != 1 {
			t.Errorf("%s: %d credential writes, want 1", id, cs.writes)
		}
	}
	if _, err := c.Store.User(ctx, "nobody"); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("the unknown ID became a user: %v", err)
	}
}
