package phonesim

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
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
