package provision

import (
	"selfprov/internal/clip"

	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Application users log in to the administrative interfaces (AXL,
// RisPort70), as CUCM's application users do; they are not end users, who
// can neither provision phones with them nor use them on these interfaces.

// AppUser is an application user.
type AppUser struct {
	ID           string   `json:"userId"`
	PasswordHash string   `json:"-"`
	Roles        []string `json:"roles"`
}

// Roles of application users, with CUCM's names.
const (
	// RoleAXL lets a user call AXL.
	RoleAXL = "Standard AXL API Access"
	// RoleRealtime lets a user read registration state (RisPort70).
	RoleRealtime = "Standard RealtimeAndTraceCollection"
)

// DefaultAppUser is the application user that exists from first start.
const DefaultAppUser = "administrator"

// DefaultAppRoles are the roles of DefaultAppUser.
var DefaultAppRoles = []string{RoleAXL, RoleRealtime}

// CodeAccessDenied refuses an application user without the role an
// interface needs.
const CodeAccessDenied = "ACCESS_DENIED"

// ErrAccessDenied refuses an application user without the needed role.
var ErrAccessDenied = &Error{CodeAccessDenied, "the application user does not have the role this interface needs"}

// HasRole reports whether u holds role.
func (u AppUser) HasRole(role string) bool { return slices.Contains(u.Roles, role) }

// ValidateAppUser checks an application user's ID and roles.
func ValidateAppUser(u AppUser) error {
	var errs []error
	if u.ID == "" || len(u.ID) > 128 || strings.ContainsAny(u.ID, " \t\r\n\x00:") {
		errs = append(errs, invalidf("application user ID %q must be 1 to 128 characters without spaces or ':'", clip.String(u.ID, 40)))
	}
	for _, r := range u.Roles {
		if r == "" || len(r) > 128 {
			errs = append(errs, invalidf("application user %q: role %q must be 1 to 128 characters", clip.String(u.ID, 40), clip.String(r, 40)))
		}
	}
	return errors.Join(errs...)
}

// AppUser returns an application user.
func (s *Service) AppUser(ctx context.Context, id string) (AppUser, error) {
	return s.store.AppUser(ctx, id)
}

// AppUsers lists the application users in ID order.
func (s *Service) AppUsers(ctx context.Context) ([]AppUser, error) {
	return s.store.AppUsers(ctx)
}

// PutAppUser creates or replaces an application user. An empty password
// keeps the stored one; a new user needs one.
func (s *Service) PutAppUser(ctx context.Context, u AppUser, password string) (AppUser, error) {
	if err := ValidateAppUser(u); err != nil {
		return AppUser{}, err
	}
	if len(password) > 128 {
		return AppUser{}, invalidf("application user %q: password is longer than 128 characters", clip.String(u.ID, 40))
	}
	s.refMu.Lock()
	defer s.refMu.Unlock()
	old, err := s.store.AppUser(ctx, u.ID)
	switch {
	case err == nil:
		u.PasswordHash = old.PasswordHash
	case !errors.Is(err, ErrNotFound):
		return AppUser{}, err
	case password == "":
		return AppUser{}, invalidf("application user %q: a password is required", clip.String(u.ID, 40))
	}
	if password != "" && !(err == nil && s.verify(old.PasswordHash, password)) {
		if u.PasswordHash, err = s.HashSecret(password); err != nil {
			return AppUser{}, err
		}
	}
	if err := s.store.PutAppUser(ctx, u); err != nil {
		return AppUser{}, err
	}
	s.log.Info("application user saved", "user", clip.String(u.ID, 40), "roles", strings.Join(u.Roles, ","), "code", LogCode(nil))
	return u, nil
}

// DeleteAppUser removes an application user.
func (s *Service) DeleteAppUser(ctx context.Context, id string) error {
	err := s.store.DeleteAppUser(ctx, id)
	s.log.Info("application user deleted", "user", clip.String(id, 40), "code", LogCode(err))
	return err
}

// SeedAppUser makes sure the default application user exists with
// password (from the configuration, or generated into the data directory)
// and its roles; a stored user that already has that password is left
// as it is.
func (s *Service) SeedAppUser(ctx context.Context, password string) error {
	if password == "" {
		return invalidf("application user %s: a password is required", DefaultAppUser)
	}
	u, err := s.store.AppUser(ctx, DefaultAppUser)
	if err == nil && s.verify(u.PasswordHash, password) && !slices.ContainsFunc(DefaultAppRoles, func(r string) bool { return !u.HasRole(r) }) {
		return nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	roles := append(slices.Clone(u.Roles), DefaultAppRoles...)
	slices.Sort(roles)
	_, err = s.PutAppUser(ctx, AppUser{ID: DefaultAppUser, Roles: slices.Compact(roles)}, password)
	return err
}

// AuthenticateApp checks an application user's credentials and that the
// user holds role: ErrAuthFailed for an unknown user (end users included)
// or a wrong password, ErrAccessDenied for a missing role. Failed attempts
// count toward the per-source limit of failed logins, as end users' do.
//
// A password that once matched is remembered (as a keyed digest, with the
// hash it matched) so that a client sending HTTP Basic on every request
// does not pay the password hash each time; a changed password changes
// the stored hash and so forgets it.
func (s *Service) AuthenticateApp(ctx context.Context, c Credentials, role string) (AppUser, error) {
	u, err := s.store.AppUser(ctx, c.UserID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return AppUser{}, err
	}
	key := s.appKey(c.UserID, c.Secret)
	if err == nil && s.appOK.matched(key, u.PasswordHash) {
		return u, s.checkRole(u, role)
	}
	src := sourceKey(c.Source)
	retry, gerr := s.sources.begin(ctx, src, s.clock.Now)
	if gerr != nil {
		return AppUser{}, gerr
	}
	if retry > 0 {
		return AppUser{}, tooManyAttemptsError{retry}
	}
	hash := s.dummyPassword
	if err == nil {
		hash = u.PasswordHash
	}
	ok := s.verify(hash, c.Secret) && err == nil
	s.sources.end(src, !ok, s.clock.Now())
	if !ok {
		s.log.Info("application user login refused", "user", clip.String(c.UserID, 40), "source", c.Source.String(), "code", CodeAuthFailed)
		return AppUser{}, fmt.Errorf("%w: application user %q", ErrAuthFailed, clip.String(c.UserID, 40))
	}
	s.appOK.remember(key, u.PasswordHash)
	return u, s.checkRole(u, role)
}

func (s *Service) checkRole(u AppUser, role string) error {
	if role != "" && !u.HasRole(role) {
		return fmt.Errorf("%w: %s lacks %q", ErrAccessDenied, clip.String(u.ID, 40), role)
	}
	return nil
}

func (s *Service) appKey(id, secret string) [32]byte {
	h := sha256.New()
	h.Write(s.appSalt[:])
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(secret))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// appLogins remembers recent successful application logins, bounded.
type appLogins struct {
	mu sync.Mutex
	m  map[[32]byte]string // digest of ID and password → hash it matched
}

const maxAppLogins = 256

func (a *appLogins) matched(k [32]byte, hash string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	h, ok := a.m[k]
	return ok && h == hash && hash != ""
}

func (a *appLogins) remember(k [32]byte, hash string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil || len(a.m) >= maxAppLogins {
		a.m = map[[32]byte]string{}
	}
	a.m[k] = hash
}
