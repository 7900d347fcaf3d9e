package phonesim

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// keepAliveServer answers /<text> with text and counts its connections.
func keepAliveServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	block := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/block":
			<-block
		case r.Method == http.MethodPost:
			b, _ := io.ReadAll(r.Body)
			_, _ = w.Write(append([]byte("posted "), b...))
		case r.URL.Path == "/block":
			<-block
		case r.URL.Path == "/empty":
		default:
			_, _ = io.WriteString(w, strings.TrimPrefix(r.URL.Path, "/"))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(func() { close(block); srv.Close() })
	return srv, &conns
}

func get(t *testing.T, c *http.Client, ctx context.Context, url string) (string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

func TestKeepAliveTransportReusesConnections(t *testing.T) {
	srv, conns := keepAliveServer(t)
	tr := &KeepAliveTransport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for _, want := range []string{"one", "two", "", "three"} {
		path := want
		if want == "" {
			path = "empty"
		}
		got, err := get(t, c, context.Background(), srv.URL+"/"+path)
		if err != nil || got != want {
			t.Fatalf("GET /%s: %q, %v; want %q", path, got, err, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for four GETs in turn, want 1", n)
	}

	// A body closed before its end spoils its connection.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/four", nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got, err := get(t, c, context.Background(), srv.URL+"/five"); err != nil || got != "five" {
		t.Fatalf("GET /five: %q, %v", got, err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the one of the unread body is not reused", n)
	}
}

func TestKeepAliveTransportRedialsWhenTheServerClosed(t *testing.T) {
	srv, conns := keepAliveServer(t)
	tr := &KeepAliveTransport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	if got, err := get(t, c, context.Background(), srv.URL+"/one"); err != nil || got != "one" {
		t.Fatalf("GET /one: %q, %v", got, err)
	}
	srv.CloseClientConnections()
	if got, err := get(t, c, context.Background(), srv.URL+"/two"); err != nil || got != "two" {
		t.Fatalf("GET /two after the server closed the kept connection: %q, %v", got, err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestKeepAliveTransportBounds(t *testing.T) {
	srv, _ := keepAliveServer(t)
	c := &http.Client{Transport: &KeepAliveTransport{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := get(t, c, ctx, srv.URL+"/block")
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled GET succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled GET did not return")
	}

	// The transport's bound ends the GET, long before the test's own.
	outer, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	c = &http.Client{Transport: &KeepAliveTransport{Timeout: 50 * time.Millisecond}}
	if _, err := get(t, c, outer, srv.URL+"/block"); err == nil || outer.Err() != nil {
		t.Fatalf("a GET past the transport's Timeout: %v", err)
	}
}

func TestKeepAliveTransportLeavesOtherRequestsToFallback(t *testing.T) {
	srv, _ := keepAliveServer(t)
	c := &http.Client{Transport: &KeepAliveTransport{}}
	res, err := c.Post(srv.URL+"/", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if b, _ := io.ReadAll(res.Body); string(b) != "posted body" {
		t.Fatalf("POST answered %q", b)
	}

	// The transport's bound ends the POST too, long before the test's own.
	outer, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	c = &http.Client{Transport: &KeepAliveTransport{Timeout: 50 * time.Millisecond}}
	req, _ := http.NewRequestWithContext(outer, http.MethodPost, srv.URL+"/block", strings.NewReader("body"))
	if res, err := c.Do(req); err == nil || outer.Err() != nil {
		if err == nil {
			res.Body.Close()
		}
		t.Fatalf("a POST past the transport's Timeout: %v", err)
	}
}
