package phonesim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer serves h on loopback and counts its connections.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// keepAliveServer answers /<text> with text and counts its connections.
func keepAliveServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	block := make(chan struct{})
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
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
	})
	t.Cleanup(func() { close(block) }) // before the server's Close, which waits for handlers
	return srv, conns
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

func TestKeepAliveTransportGet(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			for _, part := range []string{"one ", "two ", "three"} {
				_, _ = io.WriteString(w, part)
				w.(http.Flusher).Flush() // each part its own chunk
			}
		case "/header":
			_, _ = io.WriteString(w, r.Header.Get("X-Model")+" "+r.Host+" "+r.URL.RawQuery)
		case "/missing":
			http.NotFound(w, r)
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "closing")
		case "/big":
			_, _ = w.Write(bytes.Repeat([]byte("x"), 100))
		case "/redirect":
			http.Redirect(w, r, "/header?from=redirect", http.StatusFound)
		default:
			_, _ = io.WriteString(w, strings.TrimPrefix(r.URL.Path, "/"))
		}
	})
	addr := srv.Listener.Addr().String()
	tr := &KeepAliveTransport{Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	ctx := context.Background()

	for _, tc := range []struct {
		path   string
		header []string
		code   int
		body   string
	}{
		{"/plain", nil, 200, "plain"},
		{"/chunked", nil, 200, "one two three"},
		{"/header?a=b", []string{"X-Model", "CP-8845"}, 200, "CP-8845 " + addr + " a=b"},
		{"/missing", nil, 404, "404 page not found\n"},
		{"/plain2", nil, 200, "plain2"},
	} {
		r, err := tr.Get(ctx, addr, tc.path, tc.header, 1000)
		if err != nil || r.StatusCode != tc.code || string(r.Body) != tc.body {
			t.Fatalf("Get %s: %d %q, %v; want %d %q", tc.path, r.StatusCode, r.Body, err, tc.code, tc.body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for five GETs in turn, want 1", n)
	}
	if r, err := tr.Get(ctx, addr, "/missing", nil, 1000); err != nil || r.Status != "404 Not Found" {
		t.Errorf("status %q, %v; want 404 Not Found", r.Status, err)
	}

	// An answer that closes its connection is read, and the next GET dials.
	if r, err := tr.Get(ctx, addr, "/close", nil, 1000); err != nil || string(r.Body) != "closing" {
		t.Fatalf("Get /close: %q, %v", r.Body, err)
	}
	if _, err := tr.Get(ctx, addr, "/after", nil, 1000); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the closed one is not reused", n)
	}

	// Over the limit: limit+1 bytes, and the connection is not kept.
	if r, err := tr.Get(ctx, addr, "/big", nil, 10); err != nil || len(r.Body) != 11 {
		t.Fatalf("Get /big with a limit of 10: %d bytes, %v; want 11", len(r.Body), err)
	}
	if r, err := tr.Get(ctx, addr, "/chunked", nil, 5); err != nil || string(r.Body) != "one tw" {
		t.Fatalf("chunked Get with a limit of 5: %q, %v; want the first 6 bytes", r.Body, err)
	}
	if _, err := tr.Get(ctx, addr, "/after", nil, 1000); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 4 {
		t.Errorf("%d connections, want 4: neither over-long answer's connection is reused", n)
	}

	// The server closing the kept connection: the GET goes on a new one.
	srv.CloseClientConnections()
	if r, err := tr.Get(ctx, addr, "/again", nil, 1000); err != nil || string(r.Body) != "again" {
		t.Fatalf("Get after the server closed the kept connection: %q, %v", r.Body, err)
	}

	// httpGet: a redirect is followed through the client.
	c := &http.Client{Transport: tr}
	r, err := httpGet(ctx, c, srv.URL+"/redirect", []string{"X-Model", "CP-7841"}, 1000)
	if err != nil || r.StatusCode != 200 || string(r.Body) != "CP-7841 "+addr+" from=redirect" {
		t.Fatalf("httpGet of a redirect: %d %q, %v", r.StatusCode, r.Body, err)
	}
	if _, err := httpGet(ctx, c, "http://a b/", nil, 1000); !errors.Is(err, errBadURL) {
		t.Fatalf("httpGet of a bad URL: %v, want errBadURL", err)
	}
}

func TestKeepAliveTransportGetBounds(t *testing.T) {
	srv, _ := keepAliveServer(t)
	addr := srv.Listener.Addr().String()
	tr := &KeepAliveTransport{}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := tr.Get(ctx, addr, "/block", nil, 100)
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled Get: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled Get did not return")
	}

	outer, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	tr = &KeepAliveTransport{Timeout: 50 * time.Millisecond}
	if _, err := tr.Get(outer, addr, "/block", nil, 100); err == nil || outer.Err() != nil {
		t.Fatalf("a Get past the transport's Timeout: %v", err)
	}
}

// TestReadReply covers answers net/http's server does not send.
func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		code     int
		body     string
		keep     bool
		err      bool
	}{
		{"HTTP/1.0 ends at close", "HTTP/1.0 200 OK\r\n\r\nall of it", 200, "all of it", false, false},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok", 200, "ok", true, false},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 200, "ok", true, false},
		{"no reason", "HTTP/1.1 204\r\n\r\n", 204, "", true, false},
		{"interim", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, "x", true, false},
		{"chunk extension and trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n", 200, "abc", true, false},
		{"Connection: close among tokens", "HTTP/1.1 200 OK\r\nConnection: foo, Close\r\nContent-Length: 0\r\n\r\n", 200, "", false, false},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", 0, "", false, true},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 0, "", false, true},
		{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, "", false, true},
		{"gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, "", false, true},
		{"not HTTP", "SIP/2.0 200 OK\r\n\r\n", 0, "", false, true},
		{"letters for a code", "HTTP/1.1 2x0 OK\r\n\r\n", 0, "", false, true},
		{"header without colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", 0, "", false, true},
		{"headers cut short", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", 0, "", false, true},
		{"empty", "", 0, "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			br := bufio.NewReader(strings.NewReader(tc.in))
			r, keep, err := exchangeGet(br, bufio.NewWriter(&out), "h:1", "/p", nil, 100)
			if tc.err {
				if err == nil {
					t.Fatalf("no error; got %d %q", r.StatusCode, r.Body)
				}
				return
			}
			if err != nil || r.StatusCode != tc.code || string(r.Body) != tc.body || keep != tc.keep {
				t.Fatalf("%d %q keep=%v, %v; want %d %q keep=%v", r.StatusCode, r.Body, keep, err, tc.code, tc.body, tc.keep)
			}
			if want := "GET /p HTTP/1.1\r\nHost: h:1\r\n\r\n"; out.String() != want {
				t.Errorf("request %q, want %q", out.String(), want)
			}
		})
	}
}

// FuzzReadReply: any answer is read within its limit or refused; a kept
// connection never has part of an answer left behind.
func FuzzReadReply(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 404 Not Found\r\n\r\nnope"))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), 8<<10)
		r, keep, err := readReply(br, 64)
		if err != nil {
			return
		}
		if len(r.Body) > 65 {
			t.Fatalf("%d bytes of body with a limit of 64", len(r.Body))
		}
		if keep && len(r.Body) > 64 {
			t.Fatal("an answer over the limit keeps its connection")
		}
		if r.StatusCode < 0 || r.StatusCode > 999 {
			t.Fatalf("status %d", r.StatusCode)
		}
	})
}

// A connection kept past its last exchange's deadline serves the next one.
func TestKeepAliveTransportGetAfterDeadline(t *testing.T) {
	srv, conns := keepAliveServer(t)
	addr := srv.Listener.Addr().String()
	tr := &KeepAliveTransport{Timeout: 50 * time.Millisecond}
	defer tr.CloseIdleConnections()
	for _, path := range []string{"/one", "/two"} {
		r, err := tr.Get(context.Background(), addr, path, nil, 100)
		if err != nil || string(r.Body) != path[1:] {
			t.Fatalf("Get %s: %q, %v", path, r.Body, err)
		}
		time.Sleep(100 * time.Millisecond) // past the deadline the exchange set
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}
