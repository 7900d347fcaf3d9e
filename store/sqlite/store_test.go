package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"selfprov/internal/testkit"
	"selfprov/provision"
)

func open(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// addUser stores a user with this ID.
func addUser(t testing.TB, s *Store, id string) {
	t.Helper()
	if err := s.CreateUser(context.Background(), provision.User{ID: id, LastName: id}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesASecondProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "selfprov.db")
	open(t, path)
	_, err := Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open = %v, want a clear lock error", err)
	}
}

func TestOpenRefusesACorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "selfprov.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("this is not a database\n", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "not a database") {
		t.Fatalf("Open = %v, want 'not a database'", err)
	}
	// The file is left for the operator to look at, not replaced.
	if b, _ := os.ReadFile(path); !strings.HasPrefix(string(b), "this is not") {
		t.Fatal("corrupt file was overwritten")
	}
}

func TestOpenRefusesAReadOnlyFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to read-only files; run as a normal user to cover this case")
	}
	path := filepath.Join(t.TempDir(), "selfprov.db")
	s := open(t, path)
	s.Close()
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "readonly") {
		t.Fatalf("Open = %v, want a read-only error", err)
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "selfprov.db")
	s := open(t, path)
	if _, err := s.w.Exec(`INSERT INTO schema_migrations (version) VALUES (999)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open = %v, want a schema version error", err)
	}
}

func TestSecretsAreNotInTheDocument(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	h, _ := provision.HashSecret("12345", 1000)
	if err := s.CreateUser(ctx, provision.User{ID: "u", LastName: "L", PINHash: h}, nil); err != nil {
		t.Fatal(err)
	}
	var data, pin string
	if err := s.r.QueryRow(`SELECT data, pin_hash FROM users WHERE id = 'u'`).Scan(&data, &pin); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(data, "pbkdf2") || pin != h || strings.Contains(pin, "12345") {
		t.Fatalf("data=%s pin=%s", data, pin)
	}
	u, err := s.User(ctx, "u")
	if err != nil || !provision.VerifySecret(u.PINHash, "12345") {
		t.Fatalf("round trip: %v", err)
	}
}

func TestDeviceNamesAreUniqueCaseInsensitively(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	addUser(t, s, "alice") // devices are owned by users that exist
	ctx := context.Background()
	d := provision.Device{Name: "CSFalice", Model: 503, State: provision.StateProvisioned, Owner: "alice",
		Lines: []provision.Line{{Button: 1, DN: "2001"}}}
	if err := s.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.Name = "CSFALICE"
	if err := s.CreateDevice(ctx, d); !errors.Is(err, provision.ErrDuplicate) {
		t.Fatalf("got %v, want duplicate", err)
	}
	// The primary extension may be shared by another of the user's devices.
	d.Name = "BOTALICE"
	if err := s.CreateDevice(ctx, d); err != nil {
		t.Fatalf("shared line refused: %v", err)
	}
	got, err := s.Device(ctx, "csfalice")
	if err != nil || got.Name != "CSFalice" {
		t.Fatalf("lookup: %v %v", got.Name, err)
	}
}

func TestLastDeletion(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	addUser(t, s, "alice") // devices are owned by users that exist
	ctx := context.Background()
	d := provision.Device{Name: "TCTALICE", Model: 562, State: provision.StateProvisioned, Owner: "alice"}
	if err := s.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := s.DeleteDevice(ctx, d.Name, at); err != nil {
		t.Fatal(err)
	}
	got, err := s.LastDeletion(ctx, "alice", "TCT")
	if err != nil || !got.Equal(at) {
		t.Fatalf("LastDeletion = %v %v, want %v", got, err, at)
	}
	if got, _ := s.LastDeletion(ctx, "alice", "BOT"); !got.IsZero() {
		t.Fatalf("BOT deletion %v", got)
	}
}

// TestTemplatesReadAfterWrite: templates are cached, and every change and
// deletion is seen by the next read.
func TestTemplatesReadAfterWrite(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	put := func(desc string) {
		t.Helper()
		u := provision.UDT{Name: "T"}
		u.DescriptionPattern = desc
		if err := s.PutUDT(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	put("one")
	for range 2 { // the second read comes from the cache
		if u, err := s.UDT(ctx, "T"); err != nil || u.DescriptionPattern != "one" {
			t.Fatalf("UDT = %+v, %v", u, err)
		}
	}
	put("two")
	if u, err := s.UDT(ctx, "T"); err != nil || u.DescriptionPattern != "two" {
		t.Fatalf("after the change: %+v, %v", u, err)
	}
	if err := s.DeleteUDT(ctx, "T"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UDT(ctx, "T"); !errors.Is(err, provision.ErrNotFound) {
		t.Fatalf("after the deletion: %v, want ErrNotFound", err)
	}
}

// TestLookupsUseIndexes: the queries a self-provisioning or an
// auto-registration makes use an index, not a scan of every device or line.
func TestLookupsUseIndexes(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	for _, q := range []struct{ query, index string }{
		{qAutoDNHolder, "lines_auto_dn"},
		{qUsedDNs, "lines_dn"},
		{qDeviceData, "sqlite_autoindex_devices_1"},
	} {
		args := make([]any, strings.Count(q.query, "?"))
		for i := range args {
			args[i] = "1"
		}
		rows, err := s.w.Query("EXPLAIN QUERY PLAN "+q.query, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if p := strings.Join(plan, "; "); !strings.Contains(p, "INDEX "+q.index) {
			t.Errorf("%s\nplan %q, want it to use %s", q.query, p, q.index)
		}
	}
}

// TestCheckpointsRunBesideTheWriter: commits leave the WAL to the
// checkpointer, which folds it back into the database file soon after.
func TestCheckpointsRunBesideTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "selfprov.db")
	s := open(t, path)
	ctx := context.Background()
	size := func() int64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	before := size()
	for i := range 200 {
		d := provision.Device{Name: fmt.Sprintf("SEP%012X", i), Model: 36224, State: provision.StateProvisioned,
			Lines: []provision.Line{{Button: 1, DN: fmt.Sprint(5000 + i)}}}
		if err := s.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, fmt.Sprintf("the database file to grow from %d bytes after the writes (a checkpoint)", before),
		func() bool { return size() > before })
}

// TestRestartWALDoesNotStallWriters: starting the WAL over waits for the
// readers still using it, but a writer never waits behind that for more
// than a moment, and once the readers are gone the WAL starts over.
func TestRestartWALDoesNotStallWriters(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	create := func(i int) error {
		return s.CreateDevice(ctx, provision.Device{Name: fmt.Sprintf("SEP%012X", i), Model: 36224,
			State: provision.StateProvisioned, Lines: []provision.Line{{Button: 1, DN: fmt.Sprint(5000 + i)}}})
	}
	for i := range 100 {
		if err := create(i); err != nil {
			t.Fatal(err)
		}
	}
	walFrames := func() int {
		frames, err := s.passiveCheckpoint()
		if err != nil {
			t.Fatal(err)
		}
		return frames
	}

	// A reader holds a snapshot in the WAL while the WAL is restarted and
	// a phone is written.
	rtx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRow(`SELECT COUNT(*) FROM devices`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	restarted := make(chan struct{})
	go func() { s.restartWAL(); close(restarted) }()
	time.Sleep(20 * time.Millisecond) // the restart is waiting for the reader
	start := time.Now()
	if err := create(100); err != nil {
		t.Fatalf("write during a restart: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a write waited %v behind a WAL restart", took)
	}
	<-restarted
	rtx.Rollback()

	if f := walFrames(); f < 50 {
		t.Fatalf("WAL has %d frames: it started over under a reader", f)
	}
	s.restartWAL()
	if err := create(101); err != nil {
		t.Fatal(err)
	}
	if f := walFrames(); f > 20 {
		t.Fatalf("WAL has %d frames after a restart with no reader, want a fresh one", f)
	}
}

// TestWALStartsOverAfterSyncingBesideTheWriter: the database file is
// synced before writers are held back, so that the RESTART, which holds
// them, has only the last frames to sync; and the checkpointer does this
// once the WAL is long.
func TestWALStartsOverAfterSyncingBesideTheWriter(t *testing.T) {
	var mu sync.Mutex
	var steps []string
	var syncUnderWriteMu bool
	// Cleanups, not defers: they must run after the stores have closed.
	t.Cleanup(func() { testHookCheckpointStep = nil })
	createDevices := func(s *Store, from, n int) {
		for i := from; i < from+n; i++ {
			if err := s.CreateDevice(context.Background(), provision.Device{Name: fmt.Sprintf("SEP%012X", i), Model: 36224,
				State: provision.StateProvisioned, Lines: []provision.Line{{Button: 1, DN: fmt.Sprint(5000 + i)}}}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Called directly, with no writer running: writeMu must be free during
	// each sync.
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	createDevices(s, 0, 200)
	testHookCheckpointStep = func(step string) {
		mu.Lock()
		defer mu.Unlock()
		steps = append(steps, step)
		if step == "sync" {
			if !s.writeMu.TryLock() {
				syncUnderWriteMu = true
				return
			}
			s.writeMu.Unlock()
		}
	}
	s.startWALOver()
	mu.Lock()
	got, under := strings.Join(steps, ","), syncUnderWriteMu
	steps = nil
	mu.Unlock()
	if got != "sync,sync,restart" || under {
		t.Fatalf("steps %q, a sync under writeMu: %v; want sync,sync,restart with writeMu free", got, under)
	}
	createDevices(s, 200, 1) // the first write after a restart starts the WAL over
	frames, err := s.passiveCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	if frames > 20 {
		t.Fatalf("WAL has %d frames after starting over, want a fresh one", frames)
	}

	s.Close() // its checkpointer reads restartFrames

	// Through the checkpointer, once the WAL is longer than restartFrames.
	t.Cleanup(func(n int) func() { return func() { restartFrames = n } }(restartFrames))
	restartFrames = 50 // before Open: the checkpointer reads it
	s2 := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	testHookCheckpointStep = func(step string) { mu.Lock(); steps = append(steps, step); mu.Unlock() }
	createDevices(s2, 0, 200)
	testkit.WaitWithin(t, 5*time.Second, "checkpointer steps sync,sync,restart after a long WAL", func() bool {
		mu.Lock()
		got = strings.Join(steps, ",")
		mu.Unlock()
		return strings.HasPrefix(got, "sync,sync,restart")
	}, func() string { return "steps: " + got })
}

// BenchmarkUser: a user read by ID, as a phone's login and confirmation
// read it (from the directory).
func BenchmarkUser(b *testing.B) {
	s, ctx := storeWithErin(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.User(ctx, "erin"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUserFromStore: a user read by ID from the database, as a login
// did before the directory and does while it is stale.
func BenchmarkUserFromStore(b *testing.B) {
	s, ctx := storeWithErin(b)
	s.users.markStale()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.User(ctx, "erin"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCountOwnedDevices: the device-limit check of every login, from
// memory (9.4 µs as a prepared query on the read pool, here).
func BenchmarkCountOwnedDevices(b *testing.B) {
	s, ctx := storeWithErin(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.CountOwnedDevices(ctx, "erin"); err != nil {
			b.Fatal(err)
		}
	}
}

// storeWithErin is a fresh store holding one user, erin.
func storeWithErin(b *testing.B) (*Store, context.Context) {
	s := open(b, filepath.Join(b.TempDir(), "selfprov.db"))
	ctx := context.Background()
	if err := s.CreateUser(ctx, provision.User{ID: "erin", LastName: "Evans"}, nil); err != nil {
		b.Fatal(err)
	}
	return s, ctx
}
