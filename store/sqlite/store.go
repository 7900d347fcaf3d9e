// Package sqlite is the embedded default provision.Store, on modernc.org/sqlite
// (pure Go): one file under the data directory, WAL journal, embedded
// migrations.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"selfprov/provision"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements provision.Store.
//
// Writes go through one connection in BEGIN IMMEDIATE transactions: SQLite
// has a single writer anyway, and serialising in the pool instead of on
// SQLITE_BUSY keeps AutoRegister storms free of retries. Reads use a pool
// of read-only connections that WAL lets run beside the writer.
type Store struct {
	w    *sql.DB
	r    *sql.DB
	lock *os.File
	gen  atomic.Uint64 // committed writes; see Generation

	// hintMu guards hints: per (partition, range) the lowest DN that may be
	// free. Everything below it is known to be taken, so allocation does not
	// rescan the used part of a range. Lowered whenever a DN is released.
	hintMu sync.Mutex
	hints  map[string]int64
	// ceilings holds, per partition, a number no line's DN exceeds (guarded
	// by hintMu): an allocation starting above it needs no query. Raised on
	// every line insert, never lowered, so a rollback leaves it merely high.
	ceilings map[string]int64

	// The read path's hottest lookups, prepared once on the read pool: a
	// phone's config fetches, a user while the directory is stale, and
	// the lines a call is routed to.
	getDevice *sql.Stmt
	getUser   *sql.Stmt
	linesByDN *sql.Stmt // routing a call

	named   namedCache    // templates and profiles (objects.go)
	devices deviceCache   // every device name and owner, recent devices (devcache.go)
	users   userDirectory // every user (userdir.go)

	// writeMu is held by whoever writes: a transaction from before its
	// begin until its device log is applied to the cache, so that logs are
	// applied in commit order and each transaction sees the cache as of the
	// last commit; a single write statement; and the checkpointer while it
	// starts the WAL over, so that a writer waits for it here rather than in
	// SQLite's busy handler, which sleeps 1, 2, 5, 10 ms and more between
	// tries. devLog is the running transaction's log; autoRegRows the new
	// devices' rows a batch's transaction has not written yet.
	writeMu     sync.Mutex
	devLog      []deviceChange
	userLog     []string // IDs of the users the running transaction wrote
	autoRegRows newRows

	// The checkpointer's connection, its wake-up and its end. dbFile is
	// the database file, opened once and closed after every connection:
	// closing any descriptor of a file drops the process's POSIX locks on
	// it, SQLite's included.
	ckpt     *sql.DB
	dbFile   *os.File
	walGrew  chan struct{}
	ckptDone chan struct{}

	// Auto-registration batches (autoreg.go): the requests waiting, whether
	// a goroutine runs them, and that goroutine for Close to wait on.
	autoRegMu      sync.Mutex
	autoRegPending []*autoRegRequest
	autoRegRunning bool
	autoRegClosed  bool
	autoRegRunners sync.WaitGroup
	closing        chan struct{}
	closeOnce      sync.Once
	// largestAutoRegBatch shows that storms are grouped.
	largestAutoRegBatch atomic.Int64

	// Write statements are prepared once, at Open, on the single write
	// connection: parsing SQL was a quarter of an auto-registration's cost.
	// Read-only after Open.
	stmts map[string]*sql.Stmt
}

// writeStatements lists the write path's SQL, registered by writeStatement.
var writeStatements []string

// writeStatement registers a query to prepare at Open and returns it.
func writeStatement(query string) string {
	writeStatements = append(writeStatements, query)
	return query
}

var _ provision.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path. A file that is
// not a selfprov database, is read-only, or is held by another selfprovd
// gives an error; Open never silently starts from an empty database in
// place of an existing one.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: data directory: %w", err)
	}
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, err
	}
	s := &Store{lock: lock, hints: map[string]int64{}, ceilings: map[string]int64{}, closing: make(chan struct{})}
	fail := func(err error) (*Store, error) {
		s.Close()
		return nil, err
	}
	pragmas := "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath()
	// synchronous=NORMAL in WAL mode fsyncs at checkpoints, not at every
	// commit: a power cut may lose the last commits but never corrupts, and
	// it is what lets auto-registration storms commit thousands per second.
	// Checkpoints run beside the writer (runCheckpointer); the writer's own
	// automatic checkpoint is only a backstop, at 128 MB of WAL instead of
	// 4, should the checkpointer fail. journal_size_limit gives the disk
	// back after a storm.
	if s.w, err = sql.Open("sqlite", dsn+"?_pragma=journal_mode(WAL)&_pragma=cache_size(-16384)&_pragma=wal_autocheckpoint(32768)&_pragma=journal_size_limit(67108864)&_txlock=immediate&"+pragmas); err != nil {
		return fail(fmt.Errorf("sqlite: %w", err))
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	if err := s.migrate(ctx); err != nil {
		return fail(fmt.Errorf("sqlite: %s: %w", path, err))
	}
	if err := s.devices.load(ctx, s.w); err != nil {
		return fail(fmt.Errorf("sqlite: %s: reading device names: %w", path, err))
	}
	if err := s.users.load(ctx, s.w); err != nil {
		return fail(fmt.Errorf("sqlite: %s: reading users: %w", path, err))
	}
	if err := s.loadCeilings(ctx); err != nil {
		return fail(fmt.Errorf("sqlite: %s: reading line numbers: %w", path, err))
	}
	s.stmts = make(map[string]*sql.Stmt, len(writeStatements))
	for _, q := range writeStatements {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			return fail(fmt.Errorf("sqlite: preparing %q: %w", q, err))
		}
		s.stmts[q] = st
	}
	if s.r, err = sql.Open("sqlite", dsn+"?_pragma=query_only(1)&"+pragmas); err != nil {
		return fail(fmt.Errorf("sqlite: %w", err))
	}
	s.r.SetMaxOpenConns(8)
	s.r.SetMaxIdleConns(8)
	s.r.SetConnMaxLifetime(0)
	if s.getDevice, err = s.r.PrepareContext(ctx, `SELECT data FROM devices WHERE name_key = ?`); err != nil {
		return fail(fmt.Errorf("sqlite: %w", err))
	}
	if s.getUser, err = s.r.PrepareContext(ctx, qUserRow); err != nil {
		return fail(fmt.Errorf("sqlite: %w", err))
	}
	if s.linesByDN, err = s.r.PrepareContext(ctx, qLinesByDN); err != nil {
		return fail(fmt.Errorf("sqlite: %w", err))
	}
	// No busy timeout: restartWAL polls instead, and PASSIVE never waits.
	if s.ckpt, err = sql.Open("sqlite", dsn+"?_pragma=busy_timeout(0)&_pragma=synchronous(NORMAL)"); err != nil {
		return fail(fmt.Errorf("sqlite: %w", err))
	}
	s.ckpt.SetMaxOpenConns(1)
	if s.dbFile, err = os.Open(path); err != nil {
		return fail(fmt.Errorf("sqlite: %w", err))
	}
	s.walGrew = make(chan struct{}, 1)
	s.ckptDone = make(chan struct{})
	go s.runCheckpointer()
	return s, nil
}

// lockFile keeps a second selfprovd from opening the same database: two
// writers would each trust their in-memory DN hints.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("sqlite: database %s is locked by another process: %w", strings.TrimSuffix(path, ".lock"), err)
	}
	return f, nil
}

// Close closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.closeAutoRegister()
	if s.ckptDone != nil {
		<-s.ckptDone
	}
	var errs []error
	for _, st := range []**sql.Stmt{&s.getDevice, &s.getUser, &s.linesByDN} {
		if *st != nil {
			errs = append(errs, (*st).Close())
			*st = nil
		}
	}
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = nil
	if s.r != nil {
		errs = append(errs, s.r.Close())
		s.r = nil
	}
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.Close())
		s.ckpt = nil
	}
	if s.w != nil {
		// Fold the WAL back so the file is whole on its own after a clean stop.
		_, _ = s.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		errs = append(errs, s.w.Close())
		s.w = nil
	}
	if s.dbFile != nil {
		errs = append(errs, s.dbFile.Close())
		s.dbFile = nil
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
		s.lock = nil
	}
	return errors.Join(errs...)
}

func (s *Store) migrate(ctx context.Context) error {
	// The first statement reads the file: a file that is not a database
	// fails here ("file is not a database") rather than being replaced.
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	var current int
	if err := s.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	latest := 0
	for _, name := range names {
		v, err := strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: bad name", name)
		}
		latest = max(latest, v)
		if v <= current {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, v)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	if current > latest {
		return fmt.Errorf("database schema version %d is newer than this selfprovd knows (%d)", current, latest)
	}
	// Prove the file is writable now, not at the first phone's REGISTER.
	if _, err := s.w.ExecContext(ctx, `UPDATE schema_migrations SET version = version WHERE version = (SELECT MAX(version) FROM schema_migrations)`); err != nil {
		return fmt.Errorf("database is not writable: %w", err)
	}
	return nil
}

// exec runs a write statement inside tx through the statement cache.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

// queryRow runs a read inside tx through the statement cache.
func (s *Store) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return tx.QueryRowContext(ctx, query, args...) // reports the same error
	}
	return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}

func (s *Store) query(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

func (s *Store) prepared(_ context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	return nil, fmt.Errorf("sqlite: statement not registered with writeStatement: %q", query)
}

// tx runs fn in one write transaction, and brings the device cache and
// the user directory up to date once it commits.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	s.devLog, s.userLog = s.devLog[:0], s.userLog[:0]
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.gen.Add(1)
	s.devices.apply(s.devLog)
	s.applyUserLog()
	s.noteWALGrew()
	return nil
}

// checkpointDelay gathers the commits of a storm into one checkpoint.
const checkpointDelay = 100 * time.Millisecond

// runCheckpointer copies the WAL back into the database file on its own
// connection. SQLite would otherwise do it inside the commit that crosses
// the WAL threshold, fsyncs included, stalling the single writer and every
// phone waiting on it. PASSIVE never blocks the writer or readers.
func (s *Store) runCheckpointer() {
	defer close(s.ckptDone)
	for {
		select {
		case <-s.closing:
			return
		case <-s.walGrew:
		}
		t := time.NewTimer(checkpointDelay)
		select {
		case <-s.closing:
			t.Stop()
			return
		case <-t.C:
		}
		frames, err := s.passiveCheckpoint()
		if err != nil {
			s.noteWALGrew() // try again after the next delay
			continue
		}
		if frames >= restartFrames {
			// Under steady writes a PASSIVE checkpoint never catches up
			// with the end of the WAL, so the WAL is never started over.
			s.startWALOver()
		}
	}
}

// passiveCheckpoint copies what it can of the WAL into the database file
// without waiting for anyone, and returns the WAL's length in frames.
func (s *Store) passiveCheckpoint() (walFrames int, err error) {
	var busy, done int
	err = s.ckpt.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &walFrames, &done)
	return walFrames, err
}

// startWALOver starts a long WAL over with the writers held back as
// briefly as it can. A PASSIVE checkpoint syncs the database file only
// when it reaches the end of the WAL, which under steady writes it never
// does, so a storm's copied pages pile up in the page cache; the RESTART,
// writers held back, then wrote them all out: 35 ms at 10,000 phones/s.
// So the file is synced here first, beside the writer, then what came
// meanwhile is copied and synced too, and the RESTART is left the frames
// of the last few milliseconds. A failed step leaves the WAL to the next
// round.
func (s *Store) startWALOver() {
	if s.syncDatabaseFile() != nil {
		s.noteWALGrew()
		return
	}
	if _, err := s.passiveCheckpoint(); err != nil || s.syncDatabaseFile() != nil {
		s.noteWALGrew()
		return
	}
	if testHookCheckpointStep != nil {
		testHookCheckpointStep("restart")
	}
	s.restartWAL()
}

func (s *Store) syncDatabaseFile() error {
	if testHookCheckpointStep != nil {
		testHookCheckpointStep("sync")
	}
	return s.dbFile.Sync()
}

// testHookCheckpointStep, when set by a test, sees each step of starting
// the WAL over: "sync" before each sync of the database file, "restart"
// before the RESTART.
var testHookCheckpointStep func(step string)

// restartWAL copies the few frames the last PASSIVE checkpoint left and
// starts the WAL over (RESTART), with the writers held back on writeMu.
// RESTART must also wait for the readers still using the WAL; the
// connection has no busy timeout, so the wait is polled here, briefly,
// instead of in SQLite's busy handler. A try that runs out of time leaves
// the WAL to the next round.
func (s *Store) restartWAL() {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	deadline := time.Now().Add(restartWait)
	for {
		var busy, frames, done int
		err := s.ckpt.QueryRow(`PRAGMA wal_checkpoint(RESTART)`).Scan(&busy, &frames, &done)
		if err != nil || busy == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(restartPoll)
	}
}

const (
	restartWait = 50 * time.Millisecond
	restartPoll = 200 * time.Microsecond
)

// restartFrames is the WAL length (4 KB frames, 64 MB) past which the
// checkpointer starts the WAL over. Each RESTART holds the writer back for
// a moment, so not often: an auto-registration storm writes a WAL this
// long in about two seconds. A variable for tests.
var restartFrames = 16384

// execWrite runs one write statement outside a transaction.
func (s *Store) execWrite(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	res, err := s.w.ExecContext(ctx, query, args...)
	if err == nil {
		s.gen.Add(1)
		s.noteWALGrew()
	}
	return res, err
}

// Generation grows with every committed write (provision.Store). Every
// write is a transaction of tx or a statement of execWrite, which add to
// it after the commit.
func (s *Store) Generation() uint64 { return s.gen.Load() }

// noteWALGrew wakes the checkpointer; it never blocks.
func (s *Store) noteWALGrew() {
	select {
	case s.walGrew <- struct{}{}:
	default:
	}
}

// logDevice records a device write of the running transaction (writeMu held).
func (s *Store) logDevice(ch deviceChange) { s.devLog = append(s.devLog, ch) }

// loggedDevice reports whether the running transaction wrote key, and
// whether that write left it in place.
func (s *Store) loggedDevice(key string) (written, exists bool) {
	for i := len(s.devLog) - 1; i >= 0; i-- {
		if s.devLog[i].key == key {
			return true, !s.devLog[i].deleted
		}
	}
	return false, false
}

// mapErr turns driver errors into the core's sentinels.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return provision.ErrNotFound
	}
	if msg := err.Error(); strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "PRIMARY KEY constraint failed") {
		return fmt.Errorf("%w: %v", provision.ErrDuplicate, err)
	}
	return err
}
