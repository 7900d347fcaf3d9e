package registrar

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"selfprov/internal/testkit"
	"selfprov/provision"
)

// serverConn returns the registrar's side of the client's connection.
func (e *env) serverConn(t *testing.T, c *client) *limitConn {
	t.Helper()
	var lc *limitConn
	testkit.WaitFor(t, "the server to accept "+c.local, func() bool {
		v, ok := e.srv.conns.byRemote.Load(c.local)
		if ok {
			lc = v.(*limitConn)
		}
		return ok
	})
	return lc
}

// TestKeepAlivePong: a CRLFCRLF ping on TCP and TLS gets a CRLF pong and
// the connection stays, even when an earlier answer left its write
// deadline in the past (as every answer did, long before the next ping).
func TestKeepAlivePong(t *testing.T) {
	for _, tr := range []string{"TCP", "TLS"} {
		t.Run(tr, func(t *testing.T) {
			e := newEnv(t, envOpt{tls: &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}})
			c := e.dial(t, tr)
			c.register(reg{mac: mac(0x7100)})
			if res := c.response(); res.StatusCode != 200 {
				t.Fatalf("REGISTER got %d", res.StatusCode)
			}
			c.request() // the restart NOTIFY
			lc := e.serverConn(t, c)
			for i := range 3 {
				// What an answer written a while ago leaves behind.
				_ = lc.Conn.SetWriteDeadline(time.Now().Add(-time.Second))
				c.send("\r\n\r\n")
				_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				pong := make([]byte, 2)
				if _, err := io.ReadFull(c.r, pong); err != nil {
					t.Fatalf("ping %d: no pong: %v", i, err)
				}
				if string(pong) != "\r\n" {
					t.Fatalf("ping %d: pong %q", i, pong)
				}
			}
			// Same connection, still served: a refresh is answered on it.
			c.register(reg{mac: mac(0x7100), cseq: 102})
			if res := c.response(); res.StatusCode != 200 {
				t.Fatalf("refresh got %d", res.StatusCode)
			}
			if n := e.srv.conns.open(); n != 1 {
				t.Fatalf("%d connections open, want 1", n)
			}
		})
	}
}

// expectClosed waits (bounded) for the server to close c.
func expectClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: still open after 5 s", what)
		}
		return
	}
}

// TestIdleConnections: a connection that sends nothing, or only an OPTIONS,
// is closed after the idle timeout; one carrying a binding outlives it.
func TestIdleConnections(t *testing.T) {
	for _, tr := range []string{"TCP", "TLS"} {
		t.Run(tr, func(t *testing.T) {
			e := newEnv(t, envOpt{
				tls:  &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}},
				opts: func(o *Options) { o.IdleTimeout = 200 * time.Millisecond },
			})
			bound := e.dial(t, tr)
			bound.register(reg{mac: mac(0x7200)})
			if res := bound.response(); res.StatusCode != 200 {
				t.Fatalf("REGISTER got %d", res.StatusCode)
			}
			bound.answer(bound.request(), 200)

			silent := e.dial(t, tr)
			chatty := e.dial(t, tr)
			chatty.send(chatty.options("idle1"))
			if res := chatty.response(); res.StatusCode != 200 {
				t.Fatalf("OPTIONS got %d", res.StatusCode)
			}
			expectClosed(t, silent.conn, "a connection that sent nothing")
			expectClosed(t, chatty.conn, "a connection with no binding")
			// The bound connection's last read began before the others were
			// opened: its idle time is over too, and it must still be served.
			bound.send(bound.options("idle2"))
			if res := bound.response(); res.StatusCode != 200 {
				t.Fatalf("OPTIONS on the bound connection got %d", res.StatusCode)
			}
			if got := e.counter(t, e.srv.m.closedOf[connClosedIdle]); got != 2 {
				t.Fatalf("%v idle closes counted, want 2", got)
			}
			if n := e.srv.conns.open(); n != 1 {
				t.Fatalf("%d connections open, want 1", n)
			}
		})
	}
}

// dialTCPFrom opens a TCP connection to addr from the loopback address from.
func dialTCPFrom(t testing.TB, from, addr string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, tr: "TCP", conn: conn, r: bufio.NewReaderSize(conn, 65536), local: conn.LocalAddr().String()}
}

// TestConnectionCaps: a source at its cap gets its next connection closed
// at once, while other sources are still accepted and served; at the
// global cap every new connection is closed and the accept loop goes on.
func TestConnectionCaps(t *testing.T) {
	e := newEnv(t, envOpt{opts: func(o *Options) {
		o.MaxConnectionsPerSource = 3
		o.MaxConnections = 5
	}})
	var held []*client
	for range 3 {
		held = append(held, dialTCPFrom(t, "127.0.0.2", e.tcp))
	}
	testkit.WaitFor(t, "3 connections", func() bool { return e.srv.conns.open() == 3 })
	over := dialTCPFrom(t, "127.0.0.2", e.tcp)
	expectClosed(t, over.conn, "a 4th connection from 127.0.0.2")
	if got := e.counter(t, e.srv.m.closedOf[connClosedSourceCap]); got != 1 {
		t.Fatalf("%v source-cap refusals, want 1", got)
	}
	// Another source registers, on a connection of its own.
	p := dialTCPFrom(t, "127.0.0.3", e.tcp)
	p.register(reg{mac: mac(0x7300)})
	if res := p.response(); res.StatusCode != 200 {
		t.Fatalf("REGISTER from 127.0.0.3 got %d", res.StatusCode)
	}
	// The held connections are still served.
	held[0].send(held[0].options("cap1"))
	if res := held[0].response(); res.StatusCode != 200 {
		t.Fatalf("OPTIONS on a held connection got %d", res.StatusCode)
	}
	// Global cap: 4 open, one more fits, the next is refused.
	dialTCPFrom(t, "127.0.0.4", e.tcp)
	testkit.WaitFor(t, "5 connections", func() bool { return e.srv.conns.open() == 5 })
	full := dialTCPFrom(t, "127.0.0.5", e.tcp)
	expectClosed(t, full.conn, "a connection beyond MaxConnections")
	if got := e.counter(t, e.srv.m.closedOf[connClosedCap]); got != 1 {
		t.Fatalf("%v cap refusals, want 1", got)
	}
	// A slot freed is taken again.
	held[1].conn.Close()
	testkit.WaitFor(t, "a slot to be freed", func() bool { return e.srv.conns.open() == 4 })
	again := dialTCPFrom(t, "127.0.0.5", e.tcp)
	again.send(again.options("cap2"))
	if res := again.response(); res.StatusCode != 200 {
		t.Fatalf("OPTIONS after a slot was freed got %d", res.StatusCode)
	}
}

// TestNotifyConnectionGone: a reset for a phone whose TCP connection has
// closed reports NOTIFY_FAILED (no NOTIFY left), not success; over a live
// connection it succeeds and the phone gets it.
func TestNotifyConnectionGone(t *testing.T) {
	e := newEnv(t, envOpt{})
	live := e.dial(t, "TCP")
	live.register(reg{mac: mac(0x7400)})
	if res := live.response(); res.StatusCode != 200 {
		t.Fatalf("REGISTER got %d", res.StatusCode)
	}
	live.answer(live.request(), 200)
	gone := e.dial(t, "TCP")
	gone.register(reg{mac: mac(0x7401)})
	if res := gone.response(); res.StatusCode != 200 {
		t.Fatalf("REGISTER got %d", res.StatusCode)
	}
	gone.answer(gone.request(), 200)
	gone.conn.Close()
	testkit.WaitFor(t, "the server to see the connection close", func() bool { return e.srv.conns.open() == 1 })

	ctx := context.Background()
	err := e.svc.Notify(ctx, "SEP"+strings.ToUpper(mac(0x7401)), provision.ActionReset)
	if provision.CodeOf(err) != provision.CodeNotifyFailed {
		t.Fatalf("reset over a closed connection: %v, want %s", err, provision.CodeNotifyFailed)
	}
	testkit.WaitFor(t, "the send error to be counted", func() bool { return e.counter(t, e.srv.m.notifyOf[notifySendError]) == 1 })
	if err := e.svc.Notify(ctx, "SEP"+strings.ToUpper(mac(0x7400)), provision.ActionRestart); err != nil {
		t.Fatalf("reset over a live connection: %v", err)
	}
	if n := live.request(); !strings.HasPrefix(string(n.Body()), "action=restart\r\n") {
		t.Fatalf("NOTIFY body %q", n.Body())
	}
}

// TestWildcardUnregisterOfLineDN: "Contact: *" with Expires 0 whose AOR is
// a line's DN removes every binding of that AOR and no other (SPEC §7).
func TestWildcardUnregisterOfLineDN(t *testing.T) {
	e := newEnv(t, envOpt{})
	c := e.dial(t, "UDP")
	for i, dn := range []string{"2001", "2001", "2002"} {
		c.register(reg{mac: mac(0x7700 + i), dn: dn})
		if res := c.response(); res.StatusCode != 200 {
			t.Fatalf("REGISTER %d got %d", i, res.StatusCode)
		}
	}
	if n := len(e.srv.Bindings()); n != 3 {
		t.Fatalf("%d bindings, want 3", n)
	}
	c.register(reg{mac: mac(0x7700), dn: "2001", contact: "*", expires: "0", cseq: 200})
	if res := c.response(); res.StatusCode != 200 {
		t.Fatalf("Contact * for DN 2001 got %d %s (%s)", res.StatusCode, res.Reason, header(res, "Warning"))
	}
	bs := e.srv.Bindings()
	if len(bs) != 1 || bs[0].AOR != "2002" {
		t.Fatalf("bindings after unregistering 2001: %+v", bs)
	}
}

// TestEvictionAtGlobalCap: with every slot taken, a new connection closes
// the longest silent ones that carry no binding and is served; a
// connection carrying a binding is never closed for it, and silent ones
// are not evicted before evictAfter.
func TestEvictionAtGlobalCap(t *testing.T) {
	e := newEnv(t, envOpt{opts: func(o *Options) { o.MaxConnections = 3 }})
	bound := dialTCPFrom(t, "127.0.0.2", e.tcp)
	bound.register(reg{mac: mac(0x7900)})
	if res := bound.response(); res.StatusCode != 200 {
		t.Fatalf("REGISTER got %d", res.StatusCode)
	}
	bound.answer(bound.request(), 200)
	silent := []*client{dialTCPFrom(t, "127.0.0.3", e.tcp), dialTCPFrom(t, "127.0.0.4", e.tcp)}
	testkit.WaitFor(t, "3 connections", func() bool { return e.srv.conns.open() == 3 })

	// Not silent for long enough yet: the newcomer is refused.
	early := dialTCPFrom(t, "127.0.0.5", e.tcp)
	expectClosed(t, early.conn, "a connection at the cap before anyone was silent long enough")
	if got := e.counter(t, e.srv.m.closedOf[connClosedEvicted]); got != 0 {
		t.Fatalf("%v evicted early", got)
	}

	e.clock.Advance(e.srv.conns.evictAfter + time.Second)
	late := dialTCPFrom(t, "127.0.0.5", e.tcp)
	late.send(late.options("evict1"))
	if res := late.response(); res.StatusCode != 200 {
		t.Fatalf("OPTIONS on the newcomer got %d", res.StatusCode)
	}
	for _, c := range silent {
		expectClosed(t, c.conn, "a silent connection without a binding")
	}
	if got := e.counter(t, e.srv.m.closedOf[connClosedEvicted]); got != 2 {
		t.Fatalf("%v evicted, want the 2 silent ones", got)
	}
	bound.send(bound.options("evict2"))
	if res := bound.response(); res.StatusCode != 200 {
		t.Fatalf("OPTIONS on the bound connection got %d", res.StatusCode)
	}
}

// TestSameSourceTCPAndTLS: a host connected over TCP and over TLS from
// the same address and port (two sockets bound with SO_REUSEADDR) gets
// each answer on the connection its request came in on, though the
// registrar keeps its connections by remote address.
func TestSameSourceTCPAndTLS(t *testing.T) {
	e := newEnv(t, envOpt{tls: &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}})
	reuse := func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		}); err != nil {
			return err
		}
		return serr
	}
	port := testkit.LoopbackPort(t, 1, "tcp")
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	dial := func(addr string) net.Conn {
		d := net.Dialer{LocalAddr: local, Control: reuse, Timeout: 5 * time.Second}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Skipf("this system does not let two connections share a source port: %v", err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	plain := dial(e.tcp)
	tc := tls.Client(dial(e.tls), &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	clients := map[string]*client{
		"TCP": {t: t, tr: "TCP", conn: plain, r: bufio.NewReaderSize(plain, 65536), local: plain.LocalAddr().String()},
		"TLS": {t: t, tr: "TLS", conn: tc, r: bufio.NewReaderSize(tc, 65536), local: tc.LocalAddr().String()},
	}
	if clients["TCP"].local != clients["TLS"].local {
		t.Fatalf("source addresses %s and %s differ", clients["TCP"].local, clients["TLS"].local)
	}
	for i, tr := range []string{"TCP", "TLS", "TCP", "TLS"} {
		c := clients[tr]
		c.send(c.options(fmt.Sprintf("%s%d", strings.ToLower(tr), i)))
		res, err := c.tryRead(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: no answer on its own connection: %v", tr, err)
		}
		if got := res.CallID().Value(); got != fmt.Sprintf("%s%d", strings.ToLower(tr), i) {
			t.Fatalf("%s: answer to %s on its connection", tr, got)
		}
	}
}
