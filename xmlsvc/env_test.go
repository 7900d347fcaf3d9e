package xmlsvc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"selfprov/configs"
	"selfprov/internal/coretest"
	"selfprov/internal/testkit"
	"selfprov/phonecfg"
	"selfprov/phonexml"
	"selfprov/provision"
	"selfprov/store/sqlite"
	"selfprov/tftpd"
)

// notifyCall is one Notify the fake notifier received. afterResponse tells
// whether the test had already read the screen when the reset was sent.
type notifyCall struct {
	device        string
	action        provision.Action
	afterResponse bool
}

// fakeNotifier records resets. With gate set, Notify waits (bounded) until
// the test closes it after reading the success screen: a reset sent before
// the response was written would then arrive with afterResponse false.
type fakeNotifier struct {
	gate chan struct{}
	got  chan notifyCall
}

func newFakeNotifier() *fakeNotifier {
	return &fakeNotifier{got: make(chan notifyCall, 64)}
}

func (n *fakeNotifier) Notify(ctx context.Context, device string, action provision.Action) error {
	after := true
	if n.gate != nil {
		select {
		case <-n.gate:
		case <-time.After(3 * time.Second):
			after = false
		case <-ctx.Done():
			after = false
		}
	}
	n.got <- notifyCall{device, action, after}
	return nil
}

// next waits for the next reset, bounded.
func (n *fakeNotifier) next(t *testing.T) notifyCall {
	t.Helper()
	select {
	case c := <-n.got:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no reset was sent within 10s")
		return notifyCall{}
	}
}

// none reports a reset that should not have been sent; the success path
// is asserted by next, so a short bounded look suffices here.
func (n *fakeNotifier) none(t *testing.T) {
	t.Helper()
	select {
	case c := <-n.got:
		t.Fatalf("unexpected reset %+v", c)
	default:
	}
}

type env struct {
	svc      *provision.Service
	st       *sqlite.Store
	clock    *coretest.Clock
	srv      *Server
	reg      *prometheus.Registry
	notifier *fakeNotifier
	base     string // http://127.0.0.1:port
	client   *http.Client
	logs     *testkit.SyncBuffer
}

// newEnv serves the XML service on 127.0.0.1:0 over a fresh SQLite store
// seeded with the demo configuration (changed by change, if set).
func newEnv(t testing.TB, change func(*configs.Config), opt func(*Options)) *env {
	t.Helper()
	return newEnvCost(t, 1000, change, opt)
}

// newEnvCost is newEnv with PINs hashed at the given PBKDF2 cost (0 means
// provision.DefaultHashIterations); tests use a low one to stay fast.
func newEnvCost(t testing.TB, hashIterations int, change func(*configs.Config), opt func(*Options)) *env {
	t.Helper()
	if hashIterations == 0 {
		hashIterations = provision.DefaultHashIterations
	}
	clock := coretest.NewClock(coretest.Epoch)
	c := coretest.New(t, coretest.Options{Change: change, Clock: clock, HashIterations: hashIterations})
	e := &env{svc: c.Svc, st: c.Store, clock: clock, reg: prometheus.NewRegistry(),
		notifier: newFakeNotifier(), logs: &testkit.SyncBuffer{}}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.svc.SetNotifier(e.notifier)
	opts := Options{Service: e.svc, Logger: log, Registerer: e.reg, Clock: e.clock}
	if opt != nil {
		opt(&opts)
	}
	var err error
	e.srv, err = New(opts)
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
	e.client = &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(func() {
		e.client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return within 5s of Shutdown")
		}
	})
	return e
}

func mac(i int) string { return fmt.Sprintf("0A1B%08X", i) }

func (e *env) autoRegister(t testing.TB, i, model int) provision.Device {
	t.Helper()
	if _, known := e.svc.Model(model); !known && model != 0 {
		// Auto-registration refuses a model the catalogue lacks; such a
		// device is one whose model has left the catalogue since.
		d := e.autoRegister(t, i, 36224)
		d.Model = model
		if err := e.st.ReplaceDevice(context.Background(), d.Name, d, 0); err != nil {
			t.Fatal(err)
		}
		return d
	}
	d, _, err := e.svc.AutoRegister(context.Background(), "SEP"+mac(i), model)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// page is one answer of the service.
type page struct {
	status int
	header http.Header
	body   []byte
	obj    phonexml.Object
}

// get fetches a path or an absolute URL taken from a screen.
func (e *env) get(t testing.TB, target string, hdr ...string) page {
	t.Helper()
	return e.do(t, http.MethodGet, target, hdr...)
}

func (e *env) do(t testing.TB, method, target string, hdr ...string) page {
	t.Helper()
	if !strings.HasPrefix(target, "http") {
		target = e.base + target
	}
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := page{status: resp.StatusCode, header: resp.Header, body: body}
	if method != http.MethodHead && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		if p.obj, err = phonexml.Parse(body); err != nil {
			t.Fatalf("%s %s: screen does not parse: %v\n%s", method, target, err, body)
		}
	}
	return p
}

func (p page) text(t testing.TB) *phonexml.Text {
	t.Helper()
	x, ok := p.obj.(*phonexml.Text)
	if !ok {
		t.Fatalf("want CiscoIPPhoneText, got %T:\n%s", p.obj, p.body)
	}
	return x
}

func (p page) input(t testing.TB) *phonexml.Input {
	t.Helper()
	x, ok := p.obj.(*phonexml.Input)
	if !ok {
		t.Fatalf("want CiscoIPPhoneInput, got %T:\n%s", p.obj, p.body)
	}
	return x
}

// code is the outcome code a Text screen names ("" for other screens).
func (p page) code() string {
	// The code closes the text, or opens it where the product's own words
	// start with it (DB-239).
	if x, ok := p.obj.(*phonexml.Text); ok && (strings.Contains(x.Text, "("+x.Prompt+")") || strings.HasPrefix(x.Text, x.Prompt+" ")) {
		return x.Prompt
	}
	return ""
}

func softKey(t testing.TB, keys []phonexml.SoftKeyItem, name string) phonexml.SoftKeyItem {
	t.Helper()
	for _, k := range keys {
		if k.Name == name {
			return k
		}
	}
	t.Fatalf("no %q soft key in %+v", name, keys)
	return phonexml.SoftKeyItem{}
}

// login opens the idle URL of device and submits the credentials the way
// a phone does; it returns the screen after the login.
func (e *env) login(t testing.TB, device, user, pin string, hdr ...string) page {
	t.Helper()
	p := e.get(t, PathIdle+"?name="+device, hdr...)
	in := p.input(t)
	params := [][2]string{{"userid", user}}
	if len(in.Items) > 1 {
		params = append(params, [2]string{"pin", pin})
	}
	return e.get(t, phonexml.SubmitURL(in.URL, params...), hdr...)
}

// confirmURL logs in and returns the Continue URL of the confirm screen.
func (e *env) confirmURL(t testing.TB, device, user, pin string) string {
	t.Helper()
	p := e.login(t, device, user, pin)
	x := p.text(t)
	if x.Prompt != "Confirm" {
		t.Fatalf("login %s as %s: %s", device, user, p.body)
	}
	return softKey(t, x.SoftKeys, "Continue").URL
}

// configServer serves the devices' config files as the daemon's HTTP
// mirror does, on 127.0.0.1:0; the returned function fetches and parses
// SEP<MAC>.cnf.xml.
func (e *env) configServer(t *testing.T) func(device string) *phonecfg.Config {
	t.Helper()
	srv, err := tftpd.New(tftpd.Options{Core: e.svc, CallManagers: []phonecfg.CallManager{{Host: "192.0.2.10"}},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return func(device string) *phonecfg.Config {
		t.Helper()
		resp, err := e.client.Get(ts.URL + "/" + phonecfg.FileName(device))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v %s", device, resp.StatusCode, err, body)
		}
		c, err := phonecfg.Parse(body)
		if err != nil {
			t.Fatalf("%s: %v\n%s", device, err, body)
		}
		return c
	}
}
