package provision_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"selfprov/internal/coretest"
	"selfprov/provision"
	"selfprov/store/sqlite"
)

// TestAppUsers: the default application user is seeded with its password
// and roles, authenticates on the interfaces its roles open, and an end
// user's credentials, a wrong password or a missing role are refused.
func TestAppUsers(t *testing.T) {
	ctx := context.Background()
	c := coretest.New(t, coretest.Options{})
	svc := c.Svc
	if err := svc.SeedAppUser(ctx, "s3cret-pass"); err != nil {
		t.Fatal(err)
	}
	u, err := svc.AuthenticateApp(ctx, creds(provision.DefaultAppUser, "s3cret-pass", "192.0.2.1"), provision.RoleAXL)
	if err != nil || u.ID != provision.DefaultAppUser {
		t.Fatalf("administrator: %+v, %v", u, err)
	}
	if _, err := svc.AuthenticateApp(ctx, creds(provision.DefaultAppUser, "wrong", "192.0.2.1"), provision.RoleAXL); !errors.Is(err, provision.ErrAuthFailed) {
		t.Fatalf("wrong password: %v, want AUTH_FAILED", err)
	}
	// erin is an end user with a password, not an application user.
	if _, err := svc.CreateUser(ctx, provision.User{ID: "erin", LastName: "E"}, provision.Secrets{Password: "erinpass"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateApp(ctx, creds("erin", "erinpass", "192.0.2.1"), provision.RoleAXL); !errors.Is(err, provision.ErrAuthFailed) {
		t.Fatalf("end user on AXL: %v, want AUTH_FAILED", err)
	}
	if _, err := svc.PutAppUser(ctx, provision.AppUser{ID: "reader", Roles: []string{provision.RoleRealtime}}, "readerpass"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateApp(ctx, creds("reader", "readerpass", "192.0.2.1"), provision.RoleAXL); !errors.Is(err, provision.ErrAccessDenied) {
		t.Fatalf("reader on AXL: %v, want ACCESS_DENIED", err)
	}
	if _, err := svc.AuthenticateApp(ctx, creds("reader", "readerpass", "192.0.2.1"), provision.RoleRealtime); err != nil {
		t.Fatalf("reader on RisPort: %v", err)
	}
	if _, err := svc.PutAppUser(ctx, provision.AppUser{ID: "nopass"}, ""); !errors.Is(err, provision.ErrInvalid) {
		t.Fatalf("new user without a password: %v", err)
	}
	// A changed password forgets the remembered login.
	if _, err := svc.PutAppUser(ctx, provision.AppUser{ID: "reader", Roles: []string{provision.RoleRealtime}}, "newpass123"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateApp(ctx, creds("reader", "readerpass", "192.0.2.1"), provision.RoleRealtime); !errors.Is(err, provision.ErrAuthFailed) {
		t.Fatalf("old password after a change: %v", err)
	}
	if err := svc.DeleteAppUser(ctx, "reader"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateApp(ctx, creds("reader", "newpass123", "192.0.2.1"), provision.RoleRealtime); !errors.Is(err, provision.ErrAuthFailed) {
		t.Fatalf("deleted user: %v", err)
	}
}

// TestSeedAppUserKeepsAndChanges: seeding again with the same password
// writes nothing; with another password the new one is the one that works,
// and the user survives a reopen of the store.
func TestSeedAppUserKeepsAndChanges(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var puts atomic.Int32
	c := coretest.New(t, coretest.Options{Dir: dir, Wrap: func(st *sqlite.Store) provision.Store {
		return appPutCounter{st, &puts}
	}})
	for range 2 {
		if err := c.Svc.SeedAppUser(ctx, "first-pass"); err != nil {
			t.Fatal(err)
		}
	}
	if n := puts.Load(); n != 1 {
		t.Fatalf("seeding twice with the same password wrote %d times, want 1", n)
	}
	if err := c.Svc.SeedAppUser(ctx, "second-pass"); err != nil {
		t.Fatal(err)
	}
	c.Store.Close()
	c2 := coretest.New(t, coretest.Options{Dir: dir})
	if _, err := c2.Svc.AuthenticateApp(ctx, creds(provision.DefaultAppUser, "second-pass", "192.0.2.1"), provision.RoleAXL); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if _, err := c2.Svc.AuthenticateApp(ctx, creds(provision.DefaultAppUser, "first-pass", "192.0.2.1"), provision.RoleAXL); !errors.Is(err, provision.ErrAuthFailed) {
		t.Fatalf("old password after reopen: %v", err)
	}
}

type appPutCounter struct {
	*sqlite.Store
	puts *atomic.Int32
}

func (s appPutCounter) PutAppUser(ctx context.Context, u provision.AppUser) error {
	s.puts.Add(1)
	return s.Store.PutAppUser(ctx, u)
}
