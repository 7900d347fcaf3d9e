// Package registrar is the SIP adapter of selfprov: it answers Cisco-style
// REGISTERs (SPEC §3), keeps the bindings in memory, auto-registers unknown
// phones through the core, and sends the service-control NOTIFY that resets
// or restarts a phone (it implements provision.Notifier).
//
// It is built on github.com/emiago/sipgo v1.7.2: the message parser, and the
// stream transport for TCP and TLS (framing, and the connection pool a
// NOTIFY to a TCP phone is written to). That release carries the datagram
// body-size bound of sipgo PR #343: a Content-Length larger than what is
// left of MaxMessageLength is refused before the body is allocated. The
// registrar bounds every message itself before parsing anyway: UDP
// datagrams longer than Options.MaxMessageSize are dropped unread, and the
// stream parser's MaxMessageLength is set to the same bound.
//
// REGISTER and OPTIONS are answered statelessly, as a registrar may: a
// retransmitted REGISTER is simply answered again (refreshing a binding and
// auto-registration are idempotent), so no server transaction state grows
// with load. UDP is read by a goroutine of our own (Options.UDPReaders)
// rather than sipgo's UDP listener, which keeps every source address it
// ever saw in its connection pool; it takes a batch of datagrams a system
// call and sends the answers to a batch in one. A REGISTER that needs the
// store is handed to it without waiting (provision's AutoRegisterAsync):
// the store answers a batch at a time, and one responder goroutine sends
// a batch's answers, one write per stream connection and one sendmmsg for
// the datagrams. At most Options.QueueSize REGISTERs wait for the store;
// beyond that the answer is 503.
package registrar

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/ipv4"

	"selfprov/provision"
)

// Core is what the registrar needs of the provisioning core;
// *provision.Service implements it.
type Core interface {
	Device(ctx context.Context, name string) (provision.Device, error)
	// AutoRegisterAsync hands done the device (existing or created) or the
	// reason it cannot be; done may run on another goroutine and must not
	// block.
	AutoRegisterAsync(ctx context.Context, r provision.Registration, done func(dev provision.Device, created bool, err error))
	// RouteCall decides where a call goes; registered tells whether a
	// device has a live binding from the INVITE's source address.
	RouteCall(ctx context.Context, r provision.CallRequest, registered func(device string) bool) (provision.CallRoute, error)
}

var _ Core = (*provision.Service)(nil)

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	Core       Core
	Logger     *slog.Logger          // default slog.Default()
	Registerer prometheus.Registerer // nil: metrics are not exported
	Clock      provision.Clock       // default provision.SystemClock

	// Advertise is the host written into NOTIFY From, Via and Contact and
	// into Warning headers. Default: the address of the UDP socket.
	Advertise string
	// ServerName is sent as Server and User-Agent. Default "selfprov".
	ServerName string

	DefaultExpires int // seconds granted when a phone asks for more; default 120
	MinExpires     int // shorter requests get 423; default 60
	RatePerSource  int // requests per second per source IP; 0 = no limit
	// AutoRegPerMinute bounds new devices (auto-registrations) per source
	// IP a minute, after a burst of AutoRegBurst (default: one minute's
	// worth); 0 = no limit. Beyond it a new phone gets 503 and takes no DN.
	AutoRegPerMinute int
	AutoRegBurst     int

	// TLSConfig, if set, serves SIP over TLS on the TLS listener given to Serve.
	TLSConfig *tls.Config

	QueueSize      int // REGISTERs waiting for the store before 503; default 8192
	UDPReaders     int // goroutines reading the UDP socket, a batch at a time; default 1
	MaxConnections int // concurrent TCP+TLS connections; default 4096
	MaxMessageSize int // bytes; larger messages are dropped unparsed; default 16384

	// MaxConnectionsPerSource bounds the TCP+TLS connections of one source
	// address; beyond it a new one is closed at once. Default 128: a site
	// behind one NAT address registers a connection per phone.
	MaxConnectionsPerSource int
	// IdleTimeout closes a TCP or TLS connection that carries no binding
	// and has sent nothing for this long; one carrying a binding stays
	// open while the binding lives. Default 30 s.
	IdleTimeout time.Duration

	// ConfigStamp, if set, gives the versionStamp of the config file the
	// device is served now, for the ConfigVersionStamp of a reset or
	// restart; without it (or when it fails) the device's stored config
	// version is sent.
	ConfigStamp func(ctx context.Context, deviceName string) (string, error)

	// NotifyTimeout is how long a NOTIFY waits for the phone's final answer
	// (Timer F, 64×T1); default 32 s.
	NotifyTimeout time.Duration
	// MaxPendingNotifies bounds NOTIFYs awaiting an answer; default 8192.
	MaxPendingNotifies int
	// SweepInterval is how often expired bindings are removed; default 2 s.
	SweepInterval time.Duration
	// RefusalLogInterval: REGISTER answers other than 200 are logged at
	// info level, at most one line per source address and status code per
	// interval (with the count of those held back). Default 10 s.
	RefusalLogInterval time.Duration
	// MaxCalls bounds the calls ringing or answered through the proxy;
	// beyond it a new INVITE gets 503. Default 100,000: an answered call
	// holds well under 1 KB.
	MaxCalls int
	// MaxCallDuration is how long an answered call is remembered without a
	// BYE (a phone that lost power never sends one); default 12 h, CUCM's
	// maximum call duration timer.
	MaxCallDuration time.Duration

	// VerifyAfter is how long a binding trusts that its device exists; after
	// that the next REGISTER reads the device from the store again, so a
	// deleted device does not stay registered forever. Default 5 min.
	VerifyAfter time.Duration
}

func (o *Options) defaults() error {
	if o.Core == nil {
		return errors.New("registrar: a core is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = provision.SystemClock
	}
	if o.ServerName == "" {
		o.ServerName = "selfprov"
	}
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&o.DefaultExpires, 120)
	setInt(&o.MinExpires, 60)
	if o.MinExpires > o.DefaultExpires {
		return fmt.Errorf("registrar: minExpires %d is above defaultExpires %d", o.MinExpires, o.DefaultExpires)
	}
	if o.RatePerSource < 0 {
		return fmt.Errorf("registrar: ratePerSource %d is negative", o.RatePerSource)
	}
	if o.AutoRegPerMinute < 0 || o.AutoRegBurst < 0 {
		return fmt.Errorf("registrar: autoRegPerSource %d a minute, burst %d: neither may be negative", o.AutoRegPerMinute, o.AutoRegBurst)
	}
	if o.AutoRegBurst == 0 {
		o.AutoRegBurst = o.AutoRegPerMinute
	}
	// 8192: most of a second of a 10,000 phones/s storm, so that a store
	// stall of 100-200 ms refuses no phone and drops no restart. A phone
	// waiting, or waiting for its NOTIFY's answer, holds about 4 KB: each
	// bound keeps under 40 MB.
	setInt(&o.QueueSize, 8192)
	// One reader: it takes up to udpBatchSize datagrams a read, and the
	// store and the responder run beside it. A second one only added
	// wake-ups; on two cores, refreshes at 100 in flight went from about
	// 17,000/s to 18,800/s with one, on a quarter less CPU.
	setInt(&o.UDPReaders, 1)
	setInt(&o.MaxConnections, 4096)
	setInt(&o.MaxConnectionsPerSource, 128)
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Second
	}
	setInt(&o.MaxMessageSize, 16384)
	setInt(&o.MaxPendingNotifies, 8192)
	if o.NotifyTimeout <= 0 {
		o.NotifyTimeout = 64 * 500 * time.Millisecond
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = 2 * time.Second
	}
	if o.RefusalLogInterval <= 0 {
		o.RefusalLogInterval = 10 * time.Second
	}
	setInt(&o.MaxCalls, 100000)
	if o.MaxCallDuration <= 0 {
		o.MaxCallDuration = 12 * time.Hour
	}
	if o.VerifyAfter <= 0 {
		o.VerifyAfter = 5 * time.Minute
	}
	return nil
}

const udpReadBuffer = 4 << 20

// bindingGrace is how long a binding outlives its granted expiry: a Cisco
// phone refreshes 5 s before it, and a late one must not flap.
const bindingGrace = 5 * time.Second

// Server is the SIP registrar.
type Server struct {
	opts    Options
	log     *slog.Logger
	core    Core
	clock   provision.Clock
	date    dateCache
	table   *table
	limiter *limiter
	newDevs *deviceLimiter // new auto-registrations per source
	m       *metrics
	parser  *sip.Parser
	tp      *sip.TransportLayer // TCP and TLS

	waiting  atomic.Int64 // REGISTERs the store has not answered yet
	doneMu   sync.Mutex
	doneQ    []*job        // answered by the store, for respond
	doneWake chan struct{} // respond has work
	inflight sync.Map      // UDP REGISTERs queued or being handled, by source, Call-ID and CSeq
	conns    *conns        // TCP and TLS connections
	refusals *refusalLog   // REGISTER answers other than 200, logged
	notifier *notifier
	calls    *proxy // calls between registered lines

	mu       sync.Mutex
	udp      net.PacketConn
	udpConn  *net.UDPConn     // udp, when it is one (allocation-free writes)
	udpBatch *ipv4.PacketConn // udpConn, for recvmmsg and sendmmsg
	udpPort  int
	tcpPort  int
	tlsPort  int
	closers  []func() error
	shutdown chan struct{}
	closed   atomic.Bool
	wg       sync.WaitGroup // readers, responder, sweeper, notifier
}

// New builds a Server; Serve starts it.
func New(opts Options) (*Server, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		core:     opts.Core,
		clock:    opts.Clock,
		table:    newTable(bindingGrace, 0.1),
		limiter:  newLimiter(opts.RatePerSource),
		newDevs:  newDeviceLimiter(opts.AutoRegPerMinute, opts.AutoRegBurst),
		doneWake: make(chan struct{}, 1),
		shutdown: make(chan struct{}),
	}
	var err error
	if s.m, err = newMetrics(opts.Registerer, func() float64 { return float64(s.table.len()) },
		func() float64 { return float64(s.conns.open()) }, func() float64 { return float64(s.calls.active()) }); err != nil {
		return nil, fmt.Errorf("registrar: metrics: %w", err)
	}
	s.refusals = newRefusalLog(opts.Logger, opts.RefusalLogInterval)
	s.conns = newConns(opts.MaxConnections, opts.MaxConnectionsPerSource, opts.IdleTimeout, s.clock.Now, s.m)
	s.parser = newParser(opts.MaxMessageSize)
	// sipgo logs every unparsable stream chunk at error level with its
	// bytes; that is input, not a fault of ours, so it goes to debug.
	quiet := slog.New(debugOnly{opts.Logger.Handler()})
	s.tp = sip.NewTransportLayer(net.DefaultResolver, s.parser, nil,
		sip.WithTransportLayerLogger(quiet))
	s.tp.OnMessage(func(msg sip.Message) { s.handle(msg, nil, netip.AddrPort{}, nil) })
	s.notifier = newNotifier(s)
	s.calls = newProxy(s)
	return s, nil
}

// newParser is sipgo's parser without its Contact parser: a bad Contact
// must get a 400 naming it, not make the whole message unparsable, and
// Cisco's Contact parameters are read by parseContact. Its CSeq parser is
// ours (see parseCSeq).
func newParser(maxSize int) *sip.Parser {
	hp := sip.HeadersParser{}
	for k, v := range sip.DefaultHeadersParser() {
		if k != "contact" && k != "m" {
			hp[k] = v
		}
	}
	hp["cseq"] = parseCSeq
	p := sip.NewParser(sip.WithHeadersParsers(hp))
	p.MaxMessageLength = maxSize
	return p
}

// Listeners are the sockets SIP is served on: UDP, and TCP and TLS on
// their listeners. TCP and TLS may be nil (TLS is used only with
// Options.TLSConfig).
type Listeners struct {
	UDP net.PacketConn
	TCP net.Listener
	TLS net.Listener
}

// Serve answers SIP on ln until Shutdown. It returns nil after Shutdown.
func (s *Server) Serve(ln Listeners) error {
	udp, tcp, tlsLn := ln.UDP, ln.TCP, ln.TLS
	if udp == nil {
		return errors.New("registrar: a UDP socket is required")
	}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return errors.New("registrar: server is shut down")
	}
	s.udp = udp
	s.udpConn, _ = udp.(*net.UDPConn)
	if s.udpConn != nil {
		// A burst of REGISTERs (a building powering up) must queue in the
		// kernel rather than be dropped while the readers are descheduled;
		// the kernel caps this at net.core.rmem_max.
		_ = s.udpConn.SetReadBuffer(udpReadBuffer)
		s.udpBatch = ipv4.NewPacketConn(s.udpConn)
	}
	s.udpPort = portOf(udp.LocalAddr())
	if s.opts.Advertise == "" {
		if ap, err := netip.ParseAddrPort(udp.LocalAddr().String()); err == nil {
			s.opts.Advertise = ap.Addr().Unmap().String()
		}
	}
	s.closers = append(s.closers, udp.Close)
	errc := make(chan error, 2)
	streams := 0
	if tcp != nil {
		s.tcpPort = portOf(tcp.Addr())
		l := &limitListener{Listener: tcp, transport: TCP, conns: s.conns}
		s.closers = append(s.closers, l.Close)
		streams++
		go func() { errc <- s.tp.ServeTCP(l) }()
	}
	if tlsLn != nil && s.opts.TLSConfig != nil {
		s.tlsPort = portOf(tlsLn.Addr())
		l := &limitListener{Listener: tls.NewListener(tlsLn, s.opts.TLSConfig), transport: TLS, conns: s.conns}
		s.closers = append(s.closers, l.Close)
		streams++
		go func() { errc <- s.tp.ServeTLS(l) }()
	}
	for range s.opts.UDPReaders {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.readUDP(udp) }()
	}
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.respond() }()
	go func() { defer s.wg.Done(); s.sweep() }()
	go func() { defer s.wg.Done(); s.notifier.run(s.shutdown) }()
	s.mu.Unlock()

	for range streams {
		select {
		case err := <-errc:
			if err != nil && !s.closed.Load() {
				return fmt.Errorf("registrar: %w", err) // the daemon then shuts everything down
			}
		case <-s.shutdown:
			return nil
		}
	}
	<-s.shutdown
	return nil
}

// Shutdown stops reading and waits for every goroutine of the server, or
// for ctx. REGISTERs still waiting for the store go unanswered; the phones
// send them again, and auto-registration is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	s.closeSockets()
	close(s.shutdown)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("registrar: shutdown: %w", ctx.Err())
	}
}

func (s *Server) closeSockets() {
	s.mu.Lock()
	closers := s.closers
	s.closers = nil
	s.mu.Unlock()
	for _, c := range closers {
		_ = c()
	}
	_ = s.tp.Close() // closes TCP/TLS connections; their readers exit
}

// Bindings returns a snapshot of the live registrations.
func (s *Server) Bindings() []Binding { return s.table.list() }

// Binding returns the live registration of a device.
func (s *Server) Binding(deviceName string) (Binding, bool) { return s.table.binding(deviceName) }

func (s *Server) sweep() {
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.shutdown:
			return
		case <-t.C:
			now := s.clock.Now()
			s.table.sweep(now)
			s.limiter.sweep(now)
			s.newDevs.sweep(now)
			s.refusals.sweep(now)
			s.calls.sweep(time.Now())
		}
	}
}

func portOf(a net.Addr) int {
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// DebugHandler returns h with every record demoted to debug level. sipgo
// logs through a process-wide default logger (sip.SetDefaultLogger) at warn
// level for events such as a connection closed twice; the daemon routes
// that logger through this.
func DebugHandler(h slog.Handler) slog.Handler { return debugOnly{h} }

// debugOnly demotes every record to debug level.
type debugOnly struct{ h slog.Handler }

func (d debugOnly) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.h.Enabled(ctx, slog.LevelDebug)
}
func (d debugOnly) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return d.h.Handle(ctx, r)
}
func (d debugOnly) WithAttrs(a []slog.Attr) slog.Handler { return debugOnly{d.h.WithAttrs(a)} }
func (d debugOnly) WithGroup(n string) slog.Handler      { return debugOnly{d.h.WithGroup(n)} }
