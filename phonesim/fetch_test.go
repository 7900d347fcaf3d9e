package phonesim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"selfprov/phonecfg"
)

func TestFetchRetries(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := calls.Add(1); {
		case r.URL.Path == "/missing":
			http.NotFound(w, r)
		case n < 3:
			http.Error(w, "busy", http.StatusServiceUnavailable)
		default:
			w.Write([]byte("<device/>"))
		}
	}))
	defer srv.Close()
	f := &Fetcher{HTTP: srv.Listener.Addr().String(), Retries: 2}
	b, via, err := f.Fetch(context.Background(), "SEP001122334455.cnf.xml", nil)
	if err != nil || string(b) != "<device/>" || via != ViaHTTP || calls.Load() != 3 {
		t.Errorf("got %q via %s, %v after %d calls; want the file on the third try", b, via, err, calls.Load())
	}
	calls.Store(0)
	if _, _, err := f.Fetch(context.Background(), "missing", nil); !errors.Is(err, ErrNotFound) || calls.Load() != 1 {
		t.Errorf("not found: %v after %d calls, want ErrNotFound at once", err, calls.Load())
	}
	calls.Store(0)
	f.Retries = 0
	if _, _, err := f.Fetch(context.Background(), "x", nil); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("a busy server without retries: %v", err)
	}
}

// TestParseConfigSharesXMLDefault: the same XMLDefault bytes give the same
// parsed config; other bytes, and device configs, are parsed anew.
func TestParseConfigSharesXMLDefault(t *testing.T) {
	def1, err := phonecfg.RenderDefault(phonecfg.Default{CallManagers: []phonecfg.CallManager{{Host: "192.0.2.1", SIPPort: 5060}}, AutoRegistration: true})
	if err != nil {
		t.Fatal(err)
	}
	def2, err := phonecfg.RenderDefault(phonecfg.Default{CallManagers: []phonecfg.CallManager{{Host: "192.0.2.2", SIPPort: 5060}}, AutoRegistration: true})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := phonecfg.RenderDevice(phonecfg.Device{Name: "SEP001122334455", CallManagers: []phonecfg.CallManager{{Host: "192.0.2.1", SIPPort: 5060}}})
	if err != nil {
		t.Fatal(err)
	}
	parse := func(b []byte) *phonecfg.Config {
		t.Helper()
		c, err := parseConfig(b)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := parse(def1), parse(bytes.Clone(def1))
	if a != b {
		t.Error("the same XMLDefault was parsed twice")
	}
	if c := parse(def2); c == a || c.CallManagers[0].Host != "192.0.2.2" {
		t.Errorf("another XMLDefault gave %+v", c.CallManagers)
	}
	if parse(dev) == parse(dev) {
		t.Error("a device config was shared")
	}
}

func TestNotFoundError(t *testing.T) {
	err := error(&notFound{proto: "HTTP", name: "CTLSEP001122334455.tlv", detail: "404"})
	if !errors.Is(err, ErrNotFound) || !errors.Is(fmt.Errorf("wrapped: %w", err), ErrNotFound) {
		t.Fatal("not ErrNotFound")
	}
	if want := fmt.Errorf("%w: HTTP %s: 404", ErrNotFound, "CTLSEP001122334455.tlv").Error(); err.Error() != want {
		t.Fatalf("%q, want %q", err.Error(), want)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal("a missing file is not a cancellation")
	}
}
