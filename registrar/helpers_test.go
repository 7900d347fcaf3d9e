package registrar

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"selfprov/configs"
	"selfprov/internal/coretest"
	"selfprov/internal/testkit"
	"selfprov/provision"
)

// env is a registrar over a fresh SQLite store seeded with the demo
// configuration, serving UDP and TCP on 127.0.0.1.
type env struct {
	svc   *provision.Service
	srv   *Server
	reg   *prometheus.Registry
	clock *coretest.Clock
	udp   string
	tcp   string
	tls   string
}

type envOpt struct {
	cfg  func(*configs.Config)
	opts func(*Options)
	tls  *tls.Config // serve TLS too
	// sendBuffer, if set, is the send buffer of the server's TCP
	// connections, so that a test can fill it.
	sendBuffer int
	// udp is the UDP address to listen on; default 127.0.0.1:0.
	udp string
}

func newEnv(t testing.TB, o envOpt) *env {
	t.Helper()
	clock := coretest.NewClock(time.Now())
	c := coretest.New(t, coretest.Options{Clock: clock, Change: func(cfg *configs.Config) {
		cfg.Advertise = "127.0.0.1"
		if o.cfg != nil {
			o.cfg(cfg)
		}
	}})
	cfg := c.Config
	e := &env{svc: c.Svc, clock: clock, reg: prometheus.NewRegistry()}
	log := slog.New(slog.DiscardHandler)
	opts := Options{
		Core: e.svc, Logger: log, Registerer: e.reg, Clock: e.clock, Advertise: "127.0.0.1",
		DefaultExpires: cfg.SIP.DefaultExpires, MinExpires: cfg.SIP.MinExpires, RatePerSource: 0,
		NotifyTimeout: 5 * time.Second,
	}
	opts.TLSConfig = o.tls
	if o.opts != nil {
		o.opts(&opts)
	}
	var err error
	e.srv, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.SetNotifier(e.srv)
	udpAddr := "127.0.0.1:0"
	if o.udp != "" {
		udpAddr = o.udp
	}
	pc, err := net.ListenPacket("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.udp, e.tcp = pc.LocalAddr().String(), ln.Addr().String()
	if o.sendBuffer > 0 {
		ln = sendBufferListener{ln, o.sendBuffer}
	}
	var tln net.Listener
	if o.tls != nil {
		if tln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		e.tls = tln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- e.srv.Serve(Listeners{UDP: pc, TCP: ln, TLS: tln}) }()
	// Serving before the test goes on: a Shutdown that came first would
	// make Serve refuse to start.
	testkit.WaitFor(t, "Serve", func() bool {
		e.srv.mu.Lock()
		defer e.srv.mu.Unlock()
		return e.srv.udp != nil
	})
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(sctx); err != nil {
			t.Error(err)
		}
		select {
		case err := <-errc:
			if err != nil {
				t.Error(err)
			}
		case <-sctx.Done():
			t.Error("Serve did not return after Shutdown")
		}
	})
	return e
}

func (e *env) counter(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}

func (e *env) registers(code int) float64 {
	return testutil.ToFloat64(e.srv.m.registers.WithLabelValues(strconv.Itoa(code)))
}

// client is a phone's socket: UDP or TCP to the registrar.
type client struct {
	t     testing.TB
	tr    string // "UDP" or "TCP"
	conn  net.Conn
	r     *bufio.Reader
	local string
}

// options is an OPTIONS from c whose branch and Call-ID name id.
func (c *client) options(id string) string {
	return fmt.Sprintf("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK%s\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", c.tr, c.local, id, id)
}

func (e *env) dial(t testing.TB, tr string) *client {
	t.Helper()
	addr, network := e.udp, "udp"
	if tr == "TCP" {
		addr, network = e.tcp, "tcp"
	}
	var conn net.Conn
	var err error
	if tr == "TLS" {
		conn, err = tls.Dial("tcp", e.tls, &tls.Config{InsecureSkipVerify: true})
	} else {
		conn, err = net.Dial(network, addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, tr: tr, conn: conn, r: bufio.NewReaderSize(conn, 65536), local: conn.LocalAddr().String()}
}

func (c *client) send(msg string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(msg)); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next SIP message, failing the test after 5 s.
func (c *client) read() sip.Message {
	c.t.Helper()
	m, err := c.tryRead(5 * time.Second)
	if err != nil {
		c.t.Fatalf("reading a SIP message: %v", err)
	}
	return m
}

func (c *client) tryRead(d time.Duration) (sip.Message, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	if c.tr == "UDP" {
		buf := make([]byte, 65536)
		n, err := c.conn.Read(buf)
		if err != nil {
			return nil, err
		}
		return sip.ParseMessage(buf[:n])
	}
	var head strings.Builder
	length := 0
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return nil, err
	}
	return sip.ParseMessage(append([]byte(head.String()), body...))
}

// response returns the next response, passing over requests (the restart
// NOTIFYs of earlier phones). It must be final: the registrar sends no 100
// Trying to a REGISTER (RFC 4320 §4.1 forbids an early one over UDP).
func (c *client) response() *sip.Response {
	c.t.Helper()
	for {
		r, ok := c.read().(*sip.Response)
		if !ok {
			continue
		}
		if r.StatusCode < 200 {
			c.t.Fatalf("got %d %s, want a final response", r.StatusCode, r.Reason)
		}
		return r
	}
}

func (c *client) request() *sip.Request {
	c.t.Helper()
	m := c.read()
	r, ok := m.(*sip.Request)
	if !ok {
		c.t.Fatalf("got %s, want a request", m.String())
	}
	return r
}

// reg describes a Cisco REGISTER.
type reg struct {
	mac     string // lower-case 12 hex
	dn      string
	callID  string
	cseq    int
	expires string // Expires header; "" for none
	contact string // whole Contact value; "" for the Cisco one
	extra   string // more header lines, each ending in \r\n
	body    string
	ctype   string
}

func (c *client) register(r reg) string {
	if r.dn == "" {
		r.dn = "1000"
	}
	if r.callID == "" {
		r.callID = r.mac[:8] + "-" + r.mac[8:] + "0002-00001a2b-00003c4d@" + strings.Split(c.local, ":")[0]
	}
	if r.cseq == 0 {
		r.cseq = 101
	}
	if r.contact == "" {
		r.contact = fmt.Sprintf(`<sip:6c1f0b52-2d4e-4c1b-9a51-0f3e8d2a7b11@%s;transport=%s>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-%s>";+u.sip!devicename.ccm.cisco.com="SEP%s";+u.sip!model.ccm.cisco.com="36224"`,
			c.local, strings.ToLower(c.tr), r.mac, strings.ToUpper(r.mac))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:127.0.0.1 SIP/2.0\r\n")
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=z9hG4bK%s%d\r\n", c.tr, c.local, r.mac, r.cseq)
	fmt.Fprintf(&b, "From: <sip:%s@127.0.0.1>;tag=%s00020000a1b2-00003c4d\r\n", r.dn, r.mac)
	fmt.Fprintf(&b, "To: <sip:%s@127.0.0.1>\r\n", r.dn)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", r.callID)
	fmt.Fprintf(&b, "CSeq: %d REGISTER\r\n", r.cseq)
	b.WriteString("Max-Forwards: 70\r\n")
	b.WriteString("User-Agent: Cisco-CP8845/14.2.1\r\n")
	fmt.Fprintf(&b, "Contact: %s\r\n", r.contact)
	b.WriteString("Supported: replaces,join,X-cisco-service-control,X-cisco-config,X-cisco-sis-7.0.0\r\n")
	if r.expires != "" {
		fmt.Fprintf(&b, "Expires: %s\r\n", r.expires)
	}
	b.WriteString(r.extra)
	if r.ctype != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", r.ctype)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(r.body), r.body)
	c.send(b.String())
	return r.callID
}

// answer replies 200 to a request, as a phone answers a NOTIFY.
func (c *client) answer(req *sip.Request, code int) {
	c.t.Helper()
	res := sip.NewResponseFromRequest(req, code, "OK", nil)
	c.send(res.String())
}

func header(m interface{ GetHeader(string) sip.Header }, name string) string {
	if h := m.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

func mac(i int) string { return fmt.Sprintf("0a1b%08x", i) }

// sendBufferListener sets the send buffer of every connection it accepts.
type sendBufferListener struct {
	net.Listener
	size int
}

func (l sendBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(l.size)
	}
	return c, err
}
