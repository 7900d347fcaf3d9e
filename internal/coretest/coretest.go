// Package coretest builds the core over a fresh embedded store for the
// adapters' tests: the demo configuration, seeded, with a clock the test
// moves. It is imported by tests only.
package coretest

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"selfprov/configs"
	"selfprov/provision"
	"selfprov/store/sqlite"
)

// Epoch is where a Clock starts unless told otherwise.
var Epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Clock is a provision.Clock that moves only when told to.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Options change how Core is built; the zero value suits most tests.
type Options struct {
	// Change edits the demo configuration before anything is built.
	Change func(*configs.Config)
	// Clock is the core's clock; nil gives a Clock at Epoch.
	Clock provision.Clock
	// HashIterations for PINs and passwords; 0 gives a cheap 1000, which
	// keeps tests fast, and a negative value the production costs.
	HashIterations int
	// Dir holds the database; "" gives a fresh t.TempDir().
	Dir string
	// Logger for the core; nil discards.
	Logger *slog.Logger
	// Wrap, if set, puts a store of the test's between the core and the
	// SQLite store (to inject failures).
	Wrap func(*sqlite.Store) provision.Store
}

// Core is a seeded core over its own store.
type Core struct {
	Svc    *provision.Service
	Store  *sqlite.Store
	Config *configs.Config
	Clock  provision.Clock
	Path   string // the database file
}

// New builds a Core; the store closes when the test ends.
func New(t testing.TB, o Options) *Core {
	t.Helper()
	ctx := context.Background()
	cfg, err := configs.Demo()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Advertise = "192.0.2.10"
	if o.Change != nil {
		o.Change(cfg)
	}
	if o.Clock == nil {
		o.Clock = NewClock(Epoch)
	}
	switch {
	case o.HashIterations == 0:
		o.HashIterations = 1000
	case o.HashIterations < 0:
		o.HashIterations = 0
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Core{Config: cfg, Clock: o.Clock, Path: filepath.Join(o.Dir, "selfprov.db")}
	c.Store, err = sqlite.Open(ctx, c.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Store.Close() })
	var st provision.Store = c.Store
	if o.Wrap != nil {
		st = o.Wrap(c.Store)
	}
	c.Svc, err = provision.New(provision.Options{Store: st, Clock: o.Clock, Logger: o.Logger,
		Models: cfg.Models, URLVars: cfg.URLVars(), HashIterations: o.HashIterations, FailedLogins: cfg.FailedLoginLimit()})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Seed(ctx, c.Svc); err != nil {
		t.Fatal(err)
	}
	return c
}
