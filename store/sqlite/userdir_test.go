package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"selfprov/provision"
)

// TestUserReadFromMemory: users come from the directory loaded at Open
// and kept by the Store's own writes: a change made to a row behind the
// Store's back (which the lock file rules out in use) is not seen, not
// even after another user's write, until the Store writes that user.
func TestUserReadFromMemory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "selfprov.db")
	s := open(t, path)
	ctx := context.Background()
	if err := s.CreateUser(ctx, provision.User{ID: "erin", LastName: "Evans", SelfServiceID: "4711", Groups: []string{"a"}}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	behind := func(last string) {
		t.Helper()
		if _, err := s.w.ExecContext(ctx, `UPDATE users SET data = json_set(data, '$.lastName', ?) WHERE id = 'erin'`, last); err != nil {
			t.Fatal(err)
		}
	}
	behind("Behind")
	for _, id := range []string{"erin", "4711"} {
		u, err := s.User(ctx, id)
		if err != nil || u.LastName != "Evans" || len(u.Groups) != 1 {
			t.Fatalf("User(%s) = %+v, %v; want the row as Open read it", id, u, err)
		}
		u.Groups[0] = "changed by the caller"
	}
	addUser(t, s, "frank")
	for _, id := range []string{"erin", "4711"} {
		if u, err := s.User(ctx, id); err != nil || u.LastName != "Evans" || u.Groups[0] != "a" {
			t.Fatalf("User(%s) = %+v, %v; want the copy read at Open", id, u, err)
		}
	}
	// The Store's own write of erin reads the row back as committed.
	if err := s.SetCredentialState(ctx, "erin", provision.CredentialState{FailedAttempts: 1}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"erin", "4711"} {
		if u, err := s.User(ctx, id); err != nil || u.LastName != "Behind" || u.Credential.FailedAttempts != 1 {
			t.Fatalf("User(%s) = %+v, %v; want the row as it is now", id, u, err)
		}
	}
}

// TestStaleUserDirectory: while the directory is stale (a row written but
// not read back), reads go to the database; the next user write reloads
// the directory whole.
func TestStaleUserDirectory(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	if err := s.CreateUser(ctx, provision.User{ID: "erin", LastName: "Evans", SelfServiceID: "4711"}, nil); err != nil {
		t.Fatal(err)
	}
	s.users.markStale()
	if _, err := s.w.ExecContext(ctx, `UPDATE users SET data = json_set(data, '$.lastName', 'Behind') WHERE id = 'erin'`); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"erin", "4711"} {
		if u, err := s.User(ctx, id); err != nil || u.LastName != "Behind" {
			t.Fatalf("stale: User(%s) = %+v, %v; want the database's row", id, u, err)
		}
	}
	if _, err := s.User(ctx, "nobody"); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("stale: unknown user: %v", err)
	}
	addUser(t, s, "frank")
	if _, found, ok := s.users.get("erin"); !ok || !found {
		t.Fatalf("after a write: directory ok=%v found=%v, want reloaded", ok, found)
	}
	if u, _, _ := s.users.get("4711"); u.ID != "erin" || u.LastName != "Behind" {
		t.Fatalf("reloaded directory has %+v", u)
	}
}

// TestRolledBackUserWriteNotInDirectory: a user whose transaction fails
// (here on its device) is neither in the database nor in the directory.
func TestRolledBackUserWriteNotInDirectory(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	d := provision.Device{Name: "SEP001122334455", Model: 7841, Protocol: "SIP", State: provision.StateProvisioned}
	if err := s.CreateUser(ctx, provision.User{ID: "erin", LastName: "Evans"}, &d); err != nil {
		t.Fatal(err)
	}
	err := s.CreateUser(ctx, provision.User{ID: "frank", LastName: "Fox", SelfServiceID: "4712"}, &d)
	if !errors.Is(err, provision.ErrDuplicate) {
		t.Fatalf("second device of the same name: %v", err)
	}
	for _, id := range []string{"frank", "4712"} {
		if u, err := s.User(ctx, id); !errors.Is(err, provision.ErrUserNotFound) {
			t.Fatalf("User(%s) = %+v, %v; want not found", id, u, err)
		}
	}
	// The next write's log starts empty: frank does not come back with it.
	addUser(t, s, "gina")
	if _, err := s.User(ctx, "frank"); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("after the next write: %v", err)
	}
}

// TestImportManyUsersReadBack: an import above reloadUsersAbove reloads the
// directory whole; every user and self-service ID is found.
func TestImportManyUsersReadBack(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	addUser(t, s, "before")
	var users []provision.User
	for i := range 3 * reloadUsersAbove {
		users = append(users, provision.User{ID: fmt.Sprint("u", i), LastName: "L", SelfServiceID: fmt.Sprint(9000 + i)})
	}
	if _, err := s.Import(ctx, users, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 * reloadUsersAbove {
		for _, id := range []string{fmt.Sprint("u", i), fmt.Sprint(9000 + i)} {
			if u, err := s.User(ctx, id); err != nil || u.ID != fmt.Sprint("u", i) {
				t.Fatalf("User(%s) = %+v, %v", id, u, err)
			}
		}
	}
	if _, err := s.User(ctx, "before"); err != nil {
		t.Fatalf("user from before the import: %v", err)
	}
}

// TestUserReadsFollowEveryWrite: each kind of user write is what the next
// read sees, the read before it having filled the cache.
func TestUserReadsFollowEveryWrite(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	read := func(id string) (provision.User, error) {
		t.Helper()
		if _, err := s.User(ctx, id); err != nil && !errors.Is(err, provision.ErrUserNotFound) {
			t.Fatal(err)
		}
		return s.User(ctx, id)
	}
	if _, err := read("erin"); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("before create: %v", err)
	}
	if err := s.CreateUser(ctx, provision.User{ID: "erin", LastName: "Evans"}, nil); err != nil {
		t.Fatal(err)
	}
	if u, err := read("erin"); err != nil || u.LastName != "Evans" {
		t.Fatalf("after create: %+v, %v", u, err)
	}
	if err := s.UpdateUser(ctx, provision.User{ID: "erin", LastName: "Evans-Ward", SelfServiceID: "4711"}); err != nil {
		t.Fatal(err)
	}
	if u, err := read("erin"); err != nil || u.LastName != "Evans-Ward" {
		t.Fatalf("after update: %+v, %v", u, err)
	}
	if u, err := read("4711"); err != nil || u.ID != "erin" {
		t.Fatalf("self-service ID after update: %+v, %v", u, err)
	}
	st := provision.CredentialState{FailedAttempts: 3}
	if err := s.SetCredentialState(ctx, "erin", st); err != nil {
		t.Fatal(err)
	}
	if u, err := read("erin"); err != nil || u.Credential != st {
		t.Fatalf("after a failed login: %+v, %v", u, err)
	}
	// A user ID comes before a self-service ID: an imported user whose ID
	// is erin's self-service ID is found by it from then on.
	if u, err := read("4711"); err != nil || u.ID != "erin" {
		t.Fatalf("self-service ID before import: %+v, %v", u, err)
	}
	if _, err := s.Import(ctx, []provision.User{{ID: "4711", LastName: "Numbers"}}, nil); err != nil {
		t.Fatal(err)
	}
	if u, err := read("4711"); err != nil || u.ID != "4711" {
		t.Fatalf("user ID after import: %+v, %v", u, err)
	}
	// erin gives up a self-service ID, which then finds nobody, and
	// another user takes it.
	if err := s.UpdateUser(ctx, provision.User{ID: "erin", LastName: "Evans-Ward", SelfServiceID: "4713"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateUser(ctx, provision.User{ID: "erin", LastName: "Evans-Ward"}); err != nil {
		t.Fatal(err)
	}
	if _, err := read("4713"); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("self-service ID given up: %v", err)
	}
	if err := s.CreateUser(ctx, provision.User{ID: "frank", LastName: "Fox", SelfServiceID: "4712"}, nil); err != nil {
		t.Fatal(err)
	}
	if u, err := read("4712"); err != nil || u.ID != "frank" {
		t.Fatalf("self-service ID after create: %+v, %v", u, err)
	}
	if err := s.DeleteUser(ctx, "frank", func(d provision.Device) provision.Device { return d }); err != nil {
		t.Fatal(err)
	}
	if _, err := read("frank"); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := read("4712"); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("deleted user's self-service ID: %v", err)
	}
}

// TestUserReadsRaceWrites: readers beside a writer always end on the last
// write (run with -race).
func TestUserReadsRaceWrites(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	addUser(t, s, "erin")
	const writes = 50
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.User(ctx, "erin"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range writes {
		if err := s.UpdateUser(ctx, provision.User{ID: "erin", LastName: fmt.Sprint("v", i)}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if u, err := s.User(ctx, "erin"); err != nil || u.LastName != fmt.Sprint("v", writes-1) {
		t.Fatalf("User = %+v, %v; want the last write", u, err)
	}
}
