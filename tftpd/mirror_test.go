package tftpd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// mirrorOn serves r's Server on a second mirror whose timeouts change
// can set, on its own loopback listener; it returns host:port.
func mirrorOn(t *testing.T, r *running, change func(*HTTPMirror)) string {
	t.Helper()
	m := r.srv.HTTPServer()
	if r.e.mirror != nil {
		r.e.mirror(m)
	}
	if change != nil {
		change(m)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("mirror shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ln.Addr().String()
}

// mirrorDrivers are the two ways the mirror serves a connection; the
// tests of what it answers run under each.
var mirrorDrivers = []struct {
	name string
	set  func(*HTTPMirror)
}{
	{"event loops", onLoops},
	{"goroutines", func(m *HTTPMirror) { m.useLoops = false }},
}

// onLoops serves every connection on two event loops from its start.
func onLoops(m *HTTPMirror) { m.useLoops, m.loopCount, m.loopCountInTurn, m.loopAfter = true, 2, 2, 0 }

// eachDriver runs test once per driver, on an env whose mirrors use it.
func eachDriver(t *testing.T, test func(t *testing.T, e *env)) {
	for _, d := range mirrorDrivers {
		t.Run(d.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.mirror = d.set
			test(t, e)
		})
	}
}

// rawConn is a client connection that writes bytes as given and reads
// answers with net/http's response reader.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := rc.c.Write([]byte(s)); err != nil {
		rc.t.Fatal(err)
	}
}

// answer reads one answer to a request of method.
func (rc *rawConn) answer(method string) (*http.Response, []byte) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("reading an answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("reading a body: %v", err)
	}
	return resp, body
}

// closed waits, boundedly, for the server to close the connection.
func (rc *rawConn) closed() bool {
	rc.t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := rc.br.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestMirrorPipelining: requests sent in one write are answered in order,
// on a connection kept alive, with the headers net/http sent.
func TestMirrorPipelining(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		r := start(t, e, nil)
		want, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil)
		if err != nil {
			t.Fatal(err)
		}
		rc := dialRaw(t, strings.TrimPrefix(r.http, "http://"))
		rc.send("GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n" +
			"HEAD /sep001122aabbcc.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n" +
			"GET /SEP0A1B00000001.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n" +
			"GET /XMLDefault.cnf.xml?x=1 HTTP/1.1\nHost: x\n\n" + // bare line feeds, a query
			"GET /SEP001122AABBCC%2Ecnf.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, body := rc.answer("GET")
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Fatalf("GET: %d, body equal %v", resp.StatusCode, bytes.Equal(body, want))
		}
		for k, v := range map[string]string{"Content-Type": "text/xml; charset=utf-8", "Content-Length": itoa(len(want)),
			"Cache-Control": "no-cache", "Accept-Ranges": "bytes"} {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %q, want %q", k, got, v)
			}
		}
		if d, err := http.ParseTime(resp.Header.Get("Date")); err != nil || time.Since(d) > time.Minute {
			t.Errorf("Date %q: %v", resp.Header.Get("Date"), err)
		}
		resp, body = rc.answer("HEAD")
		if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len(want)) {
			t.Errorf("HEAD: %d, %d body bytes, length %d", resp.StatusCode, len(body), resp.ContentLength)
		}
		resp, body = rc.answer("GET")
		if resp.StatusCode != 404 || string(body) != "not found\n" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("unknown device: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Type"))
		}
		resp, body = rc.answer("GET")
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<Default>")) || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("XMLDefault: %d\n%s", resp.StatusCode, body)
		}
		resp, body = rc.answer("GET")
		if resp.StatusCode != 200 || !bytes.Equal(body, want) || !resp.Close {
			t.Errorf("escaped name, Connection: close: %d, close %v", resp.StatusCode, resp.Close)
		}
		if !rc.closed() {
			t.Error("the connection stayed open after Connection: close")
		}
		if got := testutil.ToFloat64(r.srv.m.http.WithLabelValues("device", "200")); got != 3 { // GET, HEAD, GET
			t.Errorf("http device 200 = %v, want 3", got)
		}
		if got := testutil.ToFloat64(r.srv.m.http.WithLabelValues(kindNotFound, "404")); got != 1 {
			t.Errorf("http not_found 404 = %v, want 1", got)
		}
	})
}

// TestMirrorBadRequests: a request that cannot be read is answered with
// net/http's status for it and the connection is closed; one that can be
// read but not served keeps the connection.
func TestMirrorBadRequests(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		r := start(t, e, nil)
		addr := strings.TrimPrefix(r.http, "http://")
		for _, tc := range []struct {
			name, req string
			code      int
			keep      bool
		}{
			{"garbage", "HELLO\r\n\r\n", 400, false},
			{"no target", "GET HTTP/1.1\r\nHost: x\r\n\r\n", 400, false},
			{"HTTP/2 on the wire", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, false},
			{"no Host", "GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\n\r\n", 400, false},
			{"two Hosts", "GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, false},
			{"space before colon", "GET /x HTTP/1.1\r\nHost : x\r\n\r\n", 400, false},
			{"control byte in a value", "GET /x HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n", 400, false},
			{"control byte in the target", "GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400, false},
			{"bad escape", "GET /a%zzb HTTP/1.1\r\nHost: x\r\n\r\n", 400, false},
			{"header too large", "GET /x HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", maxHeaderBytes) + "\r\n\r\n", 431, false},
			{"request line too large", "GET /" + strings.Repeat("a", maxHeaderBytes+10), 431, false},
			{"empty lines, then a request that never ends", strings.Repeat("\r\n", 3000) + "GET /" + strings.Repeat("a", maxHeaderBytes-100), 431, false},
			{"conflicting lengths", "GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, false},
			{"dot-dot", "GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 400, true},
			{"escaped dot-dot", "GET /..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n", 400, true},
			{"NUL", "GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 400, true},
			{"root", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, true},
			{"POST without a body", "POST /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n", 405, true},
			{"DELETE", "DELETE /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n", 405, true},
			{"POST with a body, to net/http", "POST /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 405, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rc := dialRaw(t, addr)
				rc.send(tc.req)
				resp, _ := rc.answer("GET")
				if resp.StatusCode != tc.code {
					t.Fatalf("%d, want %d", resp.StatusCode, tc.code)
				}
				if tc.code == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
					t.Errorf("Allow %q", resp.Header.Get("Allow"))
				}
				if !tc.keep {
					if !rc.closed() {
						t.Error("the connection stayed open")
					}
					return
				}
				rc.send("GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n")
				if resp, _ := rc.answer("GET"); resp.StatusCode != 200 {
					t.Errorf("next request on the connection: %d", resp.StatusCode)
				}
			})
		}
	})
}

// TestMirrorHandsOverToNetHTTP: static files, ranges and HTTP/1.0 are
// served by net/http on the same connection, with what was read of it.
func TestMirrorHandsOverToNetHTTP(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		static := t.TempDir()
		if err := os.WriteFile(filepath.Join(static, "ringlist.xml"), []byte("<CiscoIPPhoneRingList/>"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := start(t, e, func(o *Options) { o.StaticDir = static })
		want, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil)
		if err != nil {
			t.Fatal(err)
		}
		addr := strings.TrimPrefix(r.http, "http://")

		rc := dialRaw(t, addr)
		rc.send("GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n" +
			"GET /RINGLIST.XML HTTP/1.1\r\nHost: x\r\n\r\n" +
			"GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := rc.answer("GET")
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want[:10]) {
			t.Errorf("range: %d %q", resp.StatusCode, body)
		}
		resp, body = rc.answer("GET")
		if resp.StatusCode != 200 || string(body) != "<CiscoIPPhoneRingList/>" || resp.Header.Get("Last-Modified") == "" {
			t.Errorf("static file: %d %q, Last-Modified %q", resp.StatusCode, body, resp.Header.Get("Last-Modified"))
		}
		resp, body = rc.answer("GET")
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("config after the hand-over: %d", resp.StatusCode)
		}

		// A static file after fast answers: those are written first.
		rc = dialRaw(t, addr)
		rc.send("GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\nGET /ringlist.xml HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := rc.answer("GET"); resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("config before the hand-over: %d", resp.StatusCode)
		}
		if resp, body := rc.answer("GET"); resp.StatusCode != 200 || string(body) != "<CiscoIPPhoneRingList/>" {
			t.Errorf("static file after a config: %d %q", resp.StatusCode, body)
		}

		rc = dialRaw(t, addr)
		rc.send("GET /SEP001122AABBCC.cnf.xml HTTP/1.0\r\n\r\n")
		if resp, body := rc.answer("GET"); resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("HTTP/1.0: %d", resp.StatusCode)
		}
		if !rc.closed() {
			t.Error("an HTTP/1.0 connection without keep-alive stayed open")
		}
	})
}

// TestMirrorKeepsMissingTrustFiles: the trust lists every booting phone
// asks for, absent without security, are answered on the fast path, and
// the connection stays on it; a file that is there goes to net/http.
func TestMirrorKeepsMissingTrustFiles(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		static := t.TempDir()
		if err := os.WriteFile(filepath.Join(static, "ringlist.xml"), []byte("<CiscoIPPhoneRingList/>"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := start(t, e, func(o *Options) { o.StaticDir = static })
		var m *HTTPMirror
		rc := dialRaw(t, mirrorOn(t, r, func(hm *HTTPMirror) { m = hm }))
		rc.send("GET /CTLSEP001122AABBCC.tlv HTTP/1.1\r\nHost: x\r\n\r\n" +
			"GET /ITLSEP001122AABBCC.tlv HTTP/1.1\r\nHost: x\r\n\r\n" +
			"GET /missing.xml HTTP/1.1\r\nHost: x\r\n\r\n" +
			"GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n")
		for _, want := range []int{404, 404, 404, 200} {
			if resp, _ := rc.answer("GET"); resp.StatusCode != want {
				t.Fatalf("%d, want %d", resp.StatusCode, want)
			}
		}
		if n := m.handed.Load(); n != 0 {
			t.Fatalf("%d connections handed to net/http for missing files", n)
		}
		rc.send("GET /ringlist.xml HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := rc.answer("GET"); resp.StatusCode != 200 || string(body) != "<CiscoIPPhoneRingList/>" {
			t.Fatalf("static file: %d %q", resp.StatusCode, body)
		}
		if n := m.handed.Load(); n != 1 {
			t.Errorf("%d connections handed to net/http, want 1", n)
		}
	})
}

// TestMirrorSlowClients: a connection that goes quiet between requests,
// or in the middle of one, is closed after its timeout; one that does not
// read its answers fails its write after the write timeout, and none of it
// holds up Shutdown.
func TestMirrorSlowClients(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		r := start(t, e, nil)
		addr := mirrorOn(t, r, func(m *HTTPMirror) {
			m.idleTimeout, m.headerTimeout, m.writeTimeout = 300*time.Millisecond, 200*time.Millisecond, 300*time.Millisecond
		})
		idle := dialRaw(t, addr)
		idle.send("GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := idle.answer("GET"); resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
		half := dialRaw(t, addr)
		half.send("GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHo")
		silent := dialRaw(t, addr)
		for name, rc := range map[string]*rawConn{"idle": idle, "half a request": half, "never a byte": silent} {
			if !rc.closed() {
				t.Errorf("%s: the connection stayed open", name)
			}
		}

		// A client that pipelines without reading: the server's writes block
		// once the socket buffers are full, and time out.
		c, err := net.DialTCP("tcp", nil, mustTCPAddr(t, addr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadBuffer(4096)
		req := []byte(strings.Repeat("GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n", 100))
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		for i := 0; i < 200; i++ {
			if _, err := c.Write(req); err != nil {
				break // the server stopped reading: its write timed out and it closed
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.Copy(io.Discard, c)
		if err != nil && !isReset(err) {
			t.Errorf("reading what the server wrote before it gave up: %v", err)
		}
	})
}

func mustTCPAddr(t *testing.T, addr string) *net.TCPAddr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestMirrorShutdown: an idle keep-alive connection does not hold up
// Shutdown, which closes it, and Serve returns ErrServerClosed.
func TestMirrorShutdown(t *testing.T) {
	eachDriver(t, func(t *testing.T, e *env) {
		r := start(t, e, nil)
		m := r.srv.HTTPServer()
		e.mirror(m)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- m.Serve(ln) }()
		rc := dialRaw(t, ln.Addr().String())
		rc.send("GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := rc.answer("GET"); resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
		handed := dialRaw(t, ln.Addr().String())
		handed.send("GET /SEP001122AABBCC.cnf.xml HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		if resp, _ := handed.answer("GET"); resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
		if !rc.closed() || !handed.closed() {
			t.Error("a connection stayed open after Shutdown")
		}
		if err := m.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve after Shutdown: %v", err)
		}
	})
}
