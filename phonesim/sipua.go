package phonesim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// UA is the SIP side of a whole fleet of simulated phones.
//
// It is hand-rolled over plain sockets rather than built on sipgo's UA
// and Client: a fleet of thousands of phones shares a few UDP sockets and
// TCP connections, so requests are matched to phones by Via branch and
// incoming NOTIFYs by RegisterCallId / Request-URI user, with no per-phone
// transport, transaction layer or goroutine. REGISTERs are written as text
// so the Cisco headers are byte-exact in traces; sipgo's parser reads what
// arrives.
type UA struct {
	// UDPSockets is how many UDP sockets the fleet shares (default 4).
	UDPSockets int
	// TCPConns is how many TCP connections per registrar the fleet shares
	// (default 4). Real phones hold one each; sharing keeps a 10,000-phone
	// fleet within file-descriptor limits while NOTIFYs still come back on
	// the connection the phone registered over.
	TCPConns int
	// Timeout bounds one transaction (default 8 s; RFC 3261 Timer F is 32 s).
	Timeout time.Duration
	// LocalIPs are the addresses sockets bind and put in Via and Contact,
	// used in turn so a fleet can come from many sources (e.g. 127.0.1.1
	// to 127.0.1.64 on loopback); default the address the host routes the
	// registrar through. There are at least as many sockets as addresses.
	LocalIPs []string
	// MaxCall bounds an answered call that neither side hangs up (default
	// 10 min): the line then sends BYE, so no dialog outlives a run.
	MaxCall time.Duration

	parser *sip.Parser

	mu       sync.Mutex
	pending  map[string]*clientTx // by Via branch (CANCELs by branch+"|CANCEL")
	handlers map[string]Handler   // by Call-ID of the REGISTER or by Contact/AOR user
	callees  map[string]Callee    // by Contact or AOR user
	invites  map[string]*call     // INVITE server transactions by Via branch
	dialogs  map[string]*call     // by Call-ID and local tag
	counts   callCounters
	udp      []*udpLeg
	tcp      map[string][]*tcpLeg // by remote address
	closed   bool
	next     atomic.Uint64
	wg       sync.WaitGroup
}

// Handler answers a SIP request sent to a phone; it returns the status.
type Handler func(req *sip.Request) (code int, reason string)

type clientTx struct {
	ch   chan *sip.Response
	conn *tcpLeg // nil for UDP
}

// ErrTimeout is returned when a transaction gets no final response.
var ErrTimeout = errors.New("phonesim: SIP transaction timed out")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("phonesim: UA closed")

// NewUA returns a UA with default settings; sockets open on first use.
func NewUA() *UA {
	return &UA{
		parser:   sip.NewParser(),
		pending:  map[string]*clientTx{},
		handlers: map[string]Handler{},
		callees:  map[string]Callee{},
		invites:  map[string]*call{},
		dialogs:  map[string]*call{},
		tcp:      map[string][]*tcpLeg{},
	}
}

func (ua *UA) timeout() time.Duration {
	if ua.Timeout > 0 {
		return ua.Timeout
	}
	return 8 * time.Second
}

// Close closes every socket and waits for the readers.
func (ua *UA) Close() error {
	ua.mu.Lock()
	if ua.closed {
		ua.mu.Unlock()
		return nil
	}
	ua.closed = true
	for _, l := range ua.udp {
		l.conn.Close()
	}
	for _, ls := range ua.tcp {
		for _, l := range ls {
			if l != nil {
				l.conn.Close()
			}
		}
	}
	ua.mu.Unlock()
	ua.endAll()
	ua.wg.Wait()
	return nil
}

// Handle routes requests whose RegisterCallId or Request-URI user is key
// to h; a nil h removes the route.
func (ua *UA) Handle(key string, h Handler) {
	ua.mu.Lock()
	if h == nil {
		delete(ua.handlers, key)
	} else {
		ua.handlers[key] = h
	}
	ua.mu.Unlock()
}

// ParseIPs reads a comma-separated list of addresses; an item
// "127.0.1.1-64" is a range of the last octet.
func ParseIPs(s string) ([]string, error) {
	var ips []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		first, last, isRange := strings.Cut(item, "-")
		ip := net.ParseIP(first)
		if ip == nil {
			return nil, fmt.Errorf("phonesim: address %q", first)
		}
		if !isRange {
			ips = append(ips, ip.String())
			continue
		}
		v4 := ip.To4()
		end, err := strconv.Atoi(last)
		if v4 == nil || err != nil || end < int(v4[3]) || end > 255 {
			return nil, fmt.Errorf("phonesim: address range %q: want a.b.c.d-e with d <= e <= 255", item)
		}
		for o := int(v4[3]); o <= end; o++ {
			ips = append(ips, net.IPv4(v4[0], v4[1], v4[2], byte(o)).String())
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("phonesim: no address in %q", s)
	}
	return ips, nil
}

// Leg is the socket one phone talks to its registrar through.
type Leg struct {
	ua        *UA
	Transport string // "UDP" or "TCP"
	Local     string // host:port for Via and Contact
	Remote    string
	udp       *udpLeg
	udpDst    *net.UDPAddr
	tcp       *tcpLeg
	n         int // the phone's index, for the TCP slot of other hops
}

// Leg returns the shared socket phone n uses to reach remote over
// transport ("udp" or "tcp").
func (ua *UA) Leg(transport, remote string, n int) (*Leg, error) {
	switch strings.ToLower(transport) {
	case "udp":
		dst, err := net.ResolveUDPAddr("udp", remote)
		if err != nil {
			return nil, fmt.Errorf("phonesim: registrar %q: %w", remote, err)
		}
		u, err := ua.udpLeg(dst, n)
		if err != nil {
			return nil, err
		}
		return &Leg{ua: ua, Transport: "UDP", Local: u.local, Remote: dst.String(), udp: u, udpDst: dst, n: n}, nil
	case "tcp":
		t, err := ua.tcpLeg(remote, n)
		if err != nil {
			return nil, err
		}
		return &Leg{ua: ua, Transport: "TCP", Local: t.local, Remote: remote, tcp: t, n: n}, nil
	}
	return nil, fmt.Errorf("phonesim: transport %q: want udp or tcp", transport)
}

// localIP is the address of socket i.
func (ua *UA) localIP(i int, remote *net.UDPAddr) string {
	if len(ua.LocalIPs) > 0 {
		return ua.LocalIPs[i%len(ua.LocalIPs)]
	}
	c, err := net.DialUDP("udp", nil, remote)
	if err != nil {
		return "127.0.0.1"
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}

type udpLeg struct {
	conn  *net.UDPConn
	local string
}

func (ua *UA) udpLeg(dst *net.UDPAddr, n int) (*udpLeg, error) {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	if ua.closed {
		return nil, ErrClosed
	}
	size := max(ua.UDPSockets, len(ua.LocalIPs))
	if size <= 0 {
		size = 4
	}
	if len(ua.udp) < size {
		ip := ua.localIP(len(ua.udp), dst)
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
		if err != nil {
			return nil, fmt.Errorf("phonesim: binding a SIP UDP socket: %w", err)
		}
		_ = conn.SetReadBuffer(4 << 20)
		_ = conn.SetWriteBuffer(4 << 20)
		l := &udpLeg{conn: conn, local: conn.LocalAddr().String()}
		ua.udp = append(ua.udp, l)
		ua.wg.Add(1)
		go ua.readUDP(l)
		return l, nil
	}
	return ua.udp[n%len(ua.udp)], nil
}

type tcpLeg struct {
	conn   net.Conn
	local  string
	remote string
	wmu    sync.Mutex
	dead   atomic.Bool
}

func (ua *UA) tcpLeg(remote string, n int) (*tcpLeg, error) {
	ua.mu.Lock()
	if ua.closed {
		ua.mu.Unlock()
		return nil, ErrClosed
	}
	size := max(ua.TCPConns, len(ua.LocalIPs))
	if size <= 0 {
		size = 4
	}
	// Phone n always uses slot n%size, and slot i is bound to LocalIPs[i]:
	// a fleet spreads evenly over the addresses, whichever phone dials a
	// slot first.
	slot := n % size
	pool := ua.tcp[remote]
	if pool == nil {
		pool = make([]*tcpLeg, size)
		ua.tcp[remote] = pool
	}
	if l := pool[slot]; l != nil && !l.dead.Load() {
		ua.mu.Unlock()
		return l, nil
	}
	ua.mu.Unlock()

	d := net.Dialer{Timeout: ua.timeout()}
	if len(ua.LocalIPs) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ua.LocalIPs[slot%len(ua.LocalIPs)])}
	}
	conn, err := d.Dial("tcp", remote)
	if err != nil {
		return nil, fmt.Errorf("phonesim: connecting to registrar %s: %w", remote, err)
	}
	l := &tcpLeg{conn: conn, local: conn.LocalAddr().String(), remote: remote}

	ua.mu.Lock()
	defer ua.mu.Unlock()
	if ua.closed {
		conn.Close()
		return nil, ErrClosed
	}
	pool = ua.tcp[remote]
	if old := pool[slot]; old != nil && !old.dead.Load() {
		// Another phone of the slot dialed it first.
		conn.Close()
		return old, nil
	}
	pool[slot] = l
	ua.wg.Add(1)
	go ua.readTCP(l)
	return l, nil
}

func (ua *UA) readUDP(l *udpLeg) {
	defer ua.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, src, err := l.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if n < 4 || strings.TrimSpace(string(buf[:n])) == "" {
			continue // keepalive
		}
		msg, err := ua.parser.ParseSIP(buf[:n])
		if err != nil {
			continue
		}
		ua.dispatch(msg, func(b []byte) { _, _ = l.conn.WriteToUDP(b, src) }, inbound{udp: l, src: src})
	}
}

func (ua *UA) readTCP(l *tcpLeg) {
	defer ua.wg.Done()
	defer func() {
		l.dead.Store(true)
		l.conn.Close()
		ua.failConn(l)
	}()
	stream := ua.parser.NewSIPStream()
	defer stream.Close()
	buf := make([]byte, 65535)
	for {
		n, err := l.conn.Read(buf)
		if n > 0 {
			_, _ = stream.Write(buf[:n])
			for stream.Buffer().Len() > 0 {
				msg, _, perr := stream.ParseNext()
				if errors.Is(perr, io.ErrUnexpectedEOF) || errors.Is(perr, io.EOF) {
					break // more to come
				}
				if perr != nil {
					return // the stream cannot be resynchronised
				}
				ua.dispatch(msg, func(b []byte) { _ = l.write(b) }, inbound{tcp: l})
			}
		}
		if err != nil {
			return
		}
	}
}

func (l *tcpLeg) write(b []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	_ = l.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := l.conn.Write(b)
	if err != nil {
		l.dead.Store(true)
	}
	return err
}

// failConn ends every transaction waiting on a closed connection.
func (ua *UA) failConn(l *tcpLeg) {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	for br, tx := range ua.pending {
		if tx.conn == l {
			close(tx.ch)
			delete(ua.pending, br)
		}
	}
}

// inbound is where a message came from: a UDP socket and the sender's
// address, or a TCP connection.
type inbound struct {
	udp *udpLeg
	src *net.UDPAddr
	tcp *tcpLeg
}

// source is the sender's host:port; "" when unknown.
func (in inbound) source() string {
	switch {
	case in.tcp != nil:
		return in.tcp.conn.RemoteAddr().String()
	case in.src != nil:
		return in.src.String()
	}
	return ""
}

// leg is a leg back to where the message came from; nil when unknown.
func (in inbound) leg(ua *UA) *Leg {
	switch {
	case in.tcp != nil:
		return &Leg{ua: ua, Transport: "TCP", Local: in.tcp.local, Remote: in.tcp.remote, tcp: in.tcp}
	case in.udp != nil && in.src != nil:
		return &Leg{ua: ua, Transport: "UDP", Local: in.udp.local, Remote: in.src.String(), udp: in.udp, udpDst: in.src}
	}
	return nil
}

func (ua *UA) dispatch(msg sip.Message, reply func([]byte), in inbound) {
	switch m := msg.(type) {
	case *sip.Response:
		via := m.Via()
		if via == nil || m.From() == nil || m.To() == nil || m.CallID() == nil || m.CSeq() == nil {
			return // not a response of anything this UA sent
		}
		br, _ := via.Params.Get("branch")
		key := br
		cseq := m.CSeq()
		if cseq.MethodName == sip.CANCEL {
			key = br + "|CANCEL"
		}
		// Delivered under the lock: failConn closes channels under it too.
		ua.mu.Lock()
		tx := ua.pending[key]
		if tx != nil {
			if !m.IsProvisional() {
				delete(ua.pending, key)
			}
			select {
			case tx.ch <- m:
			default:
			}
		}
		ua.mu.Unlock()
		if tx == nil && cseq.MethodName == sip.INVITE && m.IsSuccess() {
			// A 2xx retransmitted after its transaction ended: the
			// dialog ACKs it again.
			ua.retransmitted2xx(m, in)
		}
	case *sip.Request:
		if !wellFormed(m) {
			return // no response could say whose it is (RFC 3261 8.1.1)
		}
		if ua.callRequest(m, reply, in) {
			return
		}
		if m.IsAck() {
			return
		}
		code, reason := ua.route(m)
		res := sip.NewResponseFromRequest(m, code, reason, nil)
		if to := res.To(); to != nil {
			if _, ok := to.Params.Get("tag"); !ok {
				to.Params.Add("tag", randHex(8))
			}
		}
		reply([]byte(res.String()))
	}
}

// wellFormed tells whether a request has what a response is built from: a
// method, SIP/2.0, a Via with a transport and host, From, To, Call-ID and CSeq.
func wellFormed(m *sip.Request) bool {
	via := m.Via()
	return m.Method != "" && m.SipVersion == "SIP/2.0" && via != nil && via.Transport != "" && via.Host != "" &&
		m.From() != nil && m.To() != nil && m.CallID() != nil && m.CSeq() != nil
}

// route finds the phone a request is for: by the RegisterCallId of a
// service-control body, then by the Request-URI user.
func (ua *UA) route(req *sip.Request) (int, string) {
	if req.Method == sip.OPTIONS {
		return 200, "OK"
	}
	var h Handler
	ua.mu.Lock()
	if id := ServiceControlCallID(req.Body()); id != "" {
		h = ua.handlers[id]
	}
	if h == nil {
		h = ua.handlers[req.Recipient.User]
	}
	ua.mu.Unlock()
	if h == nil {
		return 481, "Call/Transaction Does Not Exist"
	}
	return h(req)
}

// Do sends one request on the leg and waits for its final response. br is
// the request's Via branch. UDP requests are retransmitted (T1 500 ms
// doubling to T2 4 s) until a response or the UA's timeout.
func (l *Leg) Do(ctx context.Context, br string, msg []byte) (*sip.Response, error) {
	return l.do(ctx, br, msg)
}

// do is Do with the key the response is matched by: the branch, or for a
// CANCEL the branch and "|CANCEL", as a CANCEL shares its INVITE's branch.
func (l *Leg) do(ctx context.Context, key string, msg []byte) (*sip.Response, error) {
	ua := l.ua
	tx, err := ua.addPending(key, l)
	if err != nil {
		return nil, err
	}
	defer ua.removePending(key, tx)

	if err := l.send(msg); err != nil {
		return nil, err
	}
	deadline := time.NewTimer(ua.timeout())
	defer deadline.Stop()
	var retrans <-chan time.Time
	interval := 500 * time.Millisecond
	var rt *time.Timer
	if l.udp != nil {
		rt = time.NewTimer(interval)
		defer rt.Stop()
		retrans = rt.C
	}
	for {
		select {
		case res, ok := <-tx.ch:
			if !ok {
				return nil, fmt.Errorf("phonesim: connection to %s closed", l.Remote)
			}
			if res.IsProvisional() {
				interval = 4 * time.Second // RFC 3261 17.1.2.2: Proceeding retransmits at T2
				continue
			}
			return res, nil
		case <-retrans:
			if err := l.send(msg); err != nil {
				return nil, err
			}
			interval = min(2*interval, 4*time.Second)
			rt.Reset(interval)
		case <-deadline.C:
			return nil, ErrTimeout
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// addPending opens a client transaction whose responses arrive on the
// returned channel.
func (ua *UA) addPending(key string, l *Leg) (*clientTx, error) {
	tx := &clientTx{ch: make(chan *sip.Response, 8), conn: l.tcp}
	ua.mu.Lock()
	defer ua.mu.Unlock()
	if ua.closed {
		return nil, ErrClosed
	}
	ua.pending[key] = tx
	return tx, nil
}

func (ua *UA) removePending(key string, tx *clientTx) {
	ua.mu.Lock()
	if ua.pending[key] == tx {
		delete(ua.pending, key)
	}
	ua.mu.Unlock()
}

// dead reports a TCP connection that closed; the phone dials again.
func (l *Leg) dead() bool { return l.tcp != nil && l.tcp.dead.Load() }

func (l *Leg) send(b []byte) error {
	if l.udp != nil {
		_, err := l.udp.conn.WriteToUDP(b, l.udpDst)
		return err
	}
	return l.tcp.write(b)
}

// LoopbackSources is how many loopback addresses a fleet spreads over by
// default: the registrar limits requests per source address, and a fleet
// from one address would meet that limit rather than the server's speed.
const LoopbackSources = 64

// DefaultLocalIPs chooses the source addresses of a fleet whose registrar
// is host when none are given: 127.0.1.1 to 127.0.1.64 when host is IPv4
// loopback (Linux routes all of 127/8 to the host), else none (the route's
// address). note says which, and why, for the run's output.
func DefaultLocalIPs(host string) (ips []string, note string) {
	ip := net.ParseIP(host)
	if host == "localhost" {
		ip = net.IPv4(127, 0, 0, 1)
	}
	if ip != nil && ip.To4() != nil && ip.IsLoopback() {
		ips, _ = ParseIPs(fmt.Sprintf("127.0.1.1-%d", LoopbackSources))
		return ips, fmt.Sprintf("phones spread over %d source addresses 127.0.1.1-127.0.1.%d, as the registrar limits requests per source address (sip.ratePerSource); -local-ip chooses others", LoopbackSources, LoopbackSources)
	}
	return nil, "every phone comes from this host's one address; the registrar limits requests per source address (sip.ratePerSource, 200/s by default) and refuses more with 503 RATE_LIMITED: give -local-ip addresses of this host to spread them, or raise the limit"
}
