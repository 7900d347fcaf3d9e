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

// TestUserReadFromMemory: a user read again comes from memory: a change
// made to the row behind the Store's back (which the lock file rules out
// in use) is not seen until the Store itself writes a user.
func TestUserReadFromMemory(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	if err := s.CreateUser(ctx, provision.User{ID: "erin", LastName: "Evans", SelfServiceID: "4711", Groups: []string{"a"}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"erin", "4711"} {
		u, err := s.User(ctx, id)
		if err != nil || u.LastName != "Evans" || len(u.Groups) != 1 {
			t.Fatalf("User(%s) = %+v, %v", id, u, err)
		}
		u.Groups[0] = "changed by the caller"
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE users SET data = json_set(data, '$.lastName', 'Behind') WHERE id = 'erin'`); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"erin", "4711"} {
		if u, err := s.User(ctx, id); err != nil || u.LastName != "Evans" || u.Groups[0] != "a" {
			t.Fatalf("User(%s) = %+v, %v; want the copy read before", id, u, err)
		}
	}
	// Any user write drops what was read: here another user's.
	addUser(t, s, "frank")
	for _, id := range []string{"erin", "4711"} {
		if u, err := s.User(ctx, id); err != nil || u.LastName != "Behind" {
			t.Fatalf("User(%s) = %+v, %v; want the row as it is now", id, u, err)
		}
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
	// The self-service ID moves to another user.
	if err := s.UpdateUser(ctx, provision.User{ID: "erin", LastName: "Evans-Ward"}); err != nil {
		t.Fatal(err)
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

// TestUserReadRacingAWriteIsNotKept: a read that began before a write
// commits may return the old row; it must not be cached past the write.
func TestUserReadRacingAWriteIsNotKept(t *testing.T) {
	var c userCache
	_, ok, gen := c.get("erin")
	if ok {
		t.Fatal("empty cache hit")
	}
	c.drop() // a write commits while the reader reads
	c.fill("erin", provision.User{ID: "erin", LastName: "Old"}, gen)
	if u, ok, _ := c.get("erin"); ok {
		t.Fatalf("cached %+v read before the write", u)
	}
}

// TestUserCacheBounded: the cache keeps two generations of users; a user
// read within them stays.
func TestUserCacheBounded(t *testing.T) {
	var c userCache
	for i := range 3 * cachedUsersPerGeneration {
		id := fmt.Sprint("u", i)
		_, _, gen := c.get(id)
		c.fill(id, provision.User{ID: id}, gen)
		if i%100 == 0 {
			c.get("u0") // read now and then: kept
		}
	}
	if n := len(c.docs) + len(c.old); n > 2*cachedUsersPerGeneration {
		t.Fatalf("%d users kept", n)
	}
	if _, ok, _ := c.get("u0"); !ok {
		t.Fatal("a user read often was dropped")
	}
	if _, ok, _ := c.get("u1"); ok {
		t.Fatal("a user read once, long ago, is still kept")
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
