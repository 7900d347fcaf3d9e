package provision

import (
	"context"
	"errors"
	"hash/maphash"
	"strings"
	"sync"

	"selfprov/internal/clip"
)

// Authenticate checks a login of the self-provisioning flow (phone screens,
// IVR): the user's PIN or password, or in users-and-admin mode also the
// system authentication code, or in none mode nothing, under the
// credential policy and the per-source limit of failed logins.
//
// A locked account answers ErrAccountLocked whatever the secret, so a
// lockout never reveals whether a PIN was right. An ID that names no user
// fails and locks as a real account does, after the same hash work, so
// answers and timing do not tell whether a user exists.
func (s *Service) Authenticate(ctx context.Context, c Credentials) (User, error) {
	return s.authenticate(ctx, c, false)
}

// AuthenticateUser checks a user's own credentials (PIN or password), as
// the user-facing HTTP APIs and AXL's doAuthenticateUser need them,
// whatever the self-provisioning authentication mode. Policy and limits
// are those of Authenticate.
func (s *Service) AuthenticateUser(ctx context.Context, c Credentials) (User, error) {
	return s.authenticate(ctx, c, true)
}

func (s *Service) authenticate(ctx context.Context, c Credentials, own bool) (User, error) {
	src := sourceKey(c.Source)
	retry, err := s.sources.begin(ctx, src, s.clock.Now)
	if err != nil {
		return User{}, err
	}
	if retry > 0 {
		return User{}, tooManyAttemptsError{retry}
	}
	u, err := s.checkCredentials(ctx, c.UserID, c.Secret, own)
	failed := errors.Is(err, ErrAuthFailed) || errors.Is(err, ErrAccountLocked)
	if s.sources.end(src, failed, s.clock.Now()) {
		s.log.Warn("failed logins from one source reached the limit; its logins are refused for the window",
			"source", src.String(), "limit", s.sources.limit.PerSource, "window", s.sources.limit.Window.String(), "code", CodeTooManyAttempts)
	}
	return u, err
}

func (s *Service) checkCredentials(ctx context.Context, userID, secret string, own bool) (User, error) {
	c, err := s.Cluster(ctx)
	if err != nil {
		return User{}, err
	}
	mode := c.AuthMode
	if own {
		mode = AuthUsers
	}
	if mode == AuthNone {
		secret = "" // the login screen asks for none in this mode
	}
	if userID == "" || len(userID) > maxClientField || len(secret) > 128 {
		s.secretMatches(nil, secret, c, mode)
		return User{}, ErrAuthFailed
	}
	now := s.clock.Now()
	policy := c.CredentialPolicy
	u, unlock, err := s.lockUser(ctx, userID)
	if errors.Is(err, ErrUserNotFound) {
		if mode == AuthNone {
			return User{}, ErrAuthFailed
		}
		if s.unknown.locked(userID, policy, now) {
			return User{}, ErrAccountLocked
		}
		s.secretMatches(nil, secret, c, mode)
		locked := s.unknown.fail(userID, policy, now)
		// The write a real account's failure makes, here matching no row,
		// so that the store's share of the time is alike too (without it an
		// unknown ID answered ~10% faster). A user created with this ID
		// meanwhile has this empty state anyway.
		if err := s.store.SetCredentialState(ctx, userID, CredentialState{}); err != nil && !errors.Is(err, ErrUserNotFound) {
			return User{}, err
		}
		if locked {
			s.log.Warn("unknown user ID locked", "user", clip.String(userID, 40), "code", CodeAccountLocked)
			return User{}, ErrAccountLocked
		}
		return User{}, ErrAuthFailed
	}
	if err != nil {
		return User{}, err
	}
	defer unlock()
	if mode == AuthNone {
		return u, nil
	}
	st, locked := policy.current(u.Credential, now)
	if locked {
		return User{}, ErrAccountLocked
	}
	if s.secretMatches(&u, secret, c, mode) {
		if st != u.Credential || st.FailedAttempts > 0 {
			if err := s.store.SetCredentialState(ctx, u.ID, CredentialState{}); err != nil {
				return User{}, err
			}
		}
		u.Credential = CredentialState{}
		return u, nil
	}
	st, locked = policy.failed(st, now)
	if err := s.store.SetCredentialState(ctx, u.ID, st); err != nil {
		return User{}, err
	}
	if locked {
		s.log.Warn("account locked", "user", u.ID, "failed_attempts", st.FailedAttempts, "code", CodeAccountLocked)
		return User{}, ErrAccountLocked
	}
	return User{}, ErrAuthFailed
}

// secretMatches verifies secret against the user's PIN, then password,
// then (users-and-admin mode) the system authentication code, stopping at
// the first match. A missing hash, or a nil user, is verified against a
// dummy of the same cost, so a failure does the same work for every user
// and for none.
func (s *Service) secretMatches(u *User, secret string, c Cluster, mode AuthMode) bool {
	var pin, password string
	if u != nil {
		pin, password = u.PINHash, u.PasswordHash
	}
	check := func(hash, dummy string) bool {
		if hash == "" {
			s.verify(dummy, secret)
			return false
		}
		return s.verify(hash, secret)
	}
	ok := check(pin, s.dummyPIN) || check(password, s.dummyPassword)
	if !ok && mode == AuthUsersAndAdmin && c.AuthCodeHash != "" {
		ok = s.verify(c.AuthCodeHash, secret)
	}
	return ok && u != nil && secret != ""
}

// lockUser reads a user by ID, self-service ID or email under the user's
// credential lock, so the state read is the latest: a concurrent failure
// may just have locked the account. The lock is keyed by the user ID, so
// a user typed by self-service ID is read again under that lock.
func (s *Service) lockUser(ctx context.Context, userID string) (User, func(), error) {
	mu := s.userLock(userID)
	mu.Lock()
	u, err := s.store.User(ctx, userID)
	if errors.Is(err, ErrUserNotFound) && strings.Contains(userID, "@") {
		u, err = s.userByEmail(ctx, userID)
	}
	if err == nil && u.ID != userID {
		mu.Unlock()
		mu = s.userLock(u.ID)
		mu.Lock()
		u, err = s.store.User(ctx, u.ID)
	}
	if err != nil {
		mu.Unlock()
		return User{}, nil, err
	}
	return u, mu.Unlock, nil
}

func (s *Service) userLock(id string) *sync.Mutex {
	return &s.userLocks[maphash.String(s.seed, id)%uint64(len(s.userLocks))]
}

// Unlock clears a user's failed-logon state and lockout.
func (s *Service) Unlock(ctx context.Context, userID string) error {
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return err
	}
	return s.store.SetCredentialState(ctx, u.ID, CredentialState{})
}
