package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"selfprov/admin"
	"selfprov/configs"
	"selfprov/internal/coretest"
	"selfprov/provision"
	"selfprov/store/sqlite"
)

// recordingNotifier stands in for the registrar.
type recordingNotifier struct {
	mu    sync.Mutex
	calls []string
	err   error // what Notify answers, as the registrar does when no NOTIFY left
}

func (n *recordingNotifier) Notify(_ context.Context, name string, a provision.Action) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.err != nil {
		return n.err
	}
	n.calls = append(n.calls, string(a)+" "+name)
	return nil
}

func (n *recordingNotifier) failWith(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.err = err
}

func (n *recordingNotifier) got() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.calls...)
}

// breakableStore fails on demand, as a store whose disk went away.
type breakableStore struct {
	*sqlite.Store
	broken atomic.Bool
}

var errBroken = errors.New("sql: database is closed")

func (b *breakableStore) Cluster(ctx context.Context) (provision.Cluster, error) {
	if b.broken.Load() {
		return provision.Cluster{}, errBroken
	}
	return b.Store.Cluster(ctx)
}

func (b *breakableStore) UDTs(ctx context.Context) ([]provision.UDT, error) {
	if b.broken.Load() {
		return nil, errBroken
	}
	return b.Store.UDTs(ctx)
}

type env struct {
	t        testing.TB
	store    *breakableStore
	dir      string
	svc      *provision.Service
	st       *sqlite.Store
	srv      *admin.Server
	reg      *prometheus.Registry
	notifier *recordingNotifier
	base     string
	token    string
	client   *http.Client

	stopFn func()

	regs *regsBox
}

type regsBox struct {
	mu   sync.Mutex
	list []admin.Registration
}

// with returns the env reporting to t, for subtests.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

type envOpt struct {
	dir     string                // reuse a data directory (restart)
	noRegs  bool                  // Registrations left nil
	maxBody int64                 // Options.MaxBodyBytes
	reg     *prometheus.Registry  // default: a new empty registry
	log     *slog.Logger          // default: discard
	change  func(*configs.Config) // edits the demo configuration first
	calls   func() []admin.Call   // Options.Calls
}

// usersInNone puts users' lines in the <None> partition beside the
// auto-registered ones, as a configuration without partitions does: the
// setting in which a user's extension and the auto-registration range can
// clash.
func usersInNone(c *configs.Config) {
	for i := range c.ULTs {
		if c.ULTs[i].Name == "User Line Template" {
			c.ULTs[i].RoutePartition = ""
		}
	}
}

// newEnv starts an admin server on 127.0.0.1:0 over a SQLite store seeded
// with the demo configuration, the token generated into the data directory.
func newEnv(t testing.TB, o envOpt) *env {
	t.Helper()
	e := &env{t: t, dir: o.dir, regs: &regsBox{}, reg: o.reg, notifier: &recordingNotifier{},
		client: &http.Client{Timeout: 10 * time.Second}}
	if e.dir == "" {
		e.dir = t.TempDir()
	}
	if e.reg == nil {
		e.reg = prometheus.NewRegistry()
	}
	c := coretest.New(t, coretest.Options{Dir: e.dir, Change: o.change, Clock: provision.SystemClock, Wrap: func(st *sqlite.Store) provision.Store {
		e.store = &breakableStore{Store: st}
		return e.store
	}})
	e.st, e.svc = c.Store, c.Svc
	e.svc.SetNotifier(e.notifier)
	var err error
	e.token, _, err = admin.LoadToken("", e.dir)
	if err != nil {
		t.Fatal(err)
	}
	logger := o.log
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := admin.Options{Service: e.svc, Token: e.token, Logger: logger,
		Registerer: e.reg, Gatherer: e.reg, MaxBodyBytes: o.maxBody, Calls: o.calls}
	if !o.noRegs {
		opts.Registrations = func() []admin.Registration {
			e.regs.mu.Lock()
			defer e.regs.mu.Unlock()
			return append([]admin.Registration(nil), e.regs.list...)
		}
	}
	e.srv, err = admin.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.base = "http://" + ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ln) }()
	t.Cleanup(func() { e.stop() })
	e.stopFn = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-sctx.Done():
			t.Error("Serve did not return after Shutdown")
		}
		e.st.Close()
	}
	return e
}

// stop shuts the server down and closes the store, once.
func (e *env) stop() {
	if e.stopFn != nil {
		f := e.stopFn
		e.stopFn = nil
		f()
	}
}

// response is an answer of the server.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorBody decodes a JSON error answer.
func (r response) errorBody(t testing.TB) (code, msg string) {
	t.Helper()
	var b struct{ Code, Message string }
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("error answer is not JSON: %v\n%s", err, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error answer Content-Type %q", ct)
	}
	return b.Code, b.Message
}

// raw sends a request with the given token ("" for none) and body (a
// string or []byte is sent as is, anything else as JSON).
func (e *env) raw(method, path, token string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		e.t.Fatalf("%s %s: reading: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// call sends an authenticated request, wants the status, and decodes the
// answer into out (if not nil).
func (e *env) call(method, path string, body any, want int, out any) response {
	e.t.Helper()
	r := e.raw(method, path, e.token, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: %v\n%s", method, path, err, r.body)
		}
	}
	return r
}

// fails sends an authenticated request that must fail with status and
// outcome code; it returns the message.
func (e *env) fails(method, path string, body any, status int, code string) string {
	e.t.Helper()
	r := e.raw(method, path, e.token, body)
	gotCode, msg := r.errorBody(e.t)
	if r.status != status || gotCode != code {
		e.t.Fatalf("%s %s: %d %s (%s), want %d %s", method, path, r.status, gotCode, msg, status, code)
	}
	if msg == "" {
		e.t.Fatalf("%s %s: error without a message", method, path)
	}
	return msg
}

func (e *env) setRegistrations(r []admin.Registration) {
	e.regs.mu.Lock()
	e.regs.list = r
	e.regs.mu.Unlock()
}
