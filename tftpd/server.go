// Package tftpd delivers phone configuration: per-device config files
// generated from the provisioning core, XMLDefault.cnf.xml, trust lists and
// a read-only static folder, over TFTP and over the HTTP
// mirror phones try first (port 6970).
package tftpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"selfprov/phonecfg"
)

// Defaults of Options.
const (
	DefaultMaxTransfers          = 512
	DefaultMaxTransfersPerSource = 128
	DefaultTimeout               = 2 * time.Second
	DefaultRetries               = 5
	DefaultFirstACKTimeout       = 5 * time.Second
	DefaultRegisterExpires       = 3600   // CUCM writes 3600; the registrar grants its own expiry
	DefaultMaxCached             = 16_384 // covers 10,000 devices in about 20 MB
)

// Options configure a Server.
type Options struct {
	Core Core
	// CallManagers are written into every config, in priority order.
	CallManagers []phonecfg.CallManager
	// StaticDir is served read-only; "" or an absent folder serves none.
	StaticDir string
	// MaxTransfers bounds concurrent TFTP transfers; a request over it gets
	// a TFTP error at once. Default DefaultMaxTransfers.
	MaxTransfers int
	// MaxTransfersPerSource bounds the concurrent transfers of one source
	// IP address, so one host cannot take every slot. 0 means
	// DefaultMaxTransfersPerSource, a negative value no bound.
	MaxTransfersPerSource int
	// Timeout is the retransmission timeout when the client asks for none
	// (RFC 2349 lets it ask for 1 to 255 s). Default DefaultTimeout.
	Timeout time.Duration
	// Retries per block before a transfer is abandoned. Default DefaultRetries.
	Retries int
	// FirstACKTimeout bounds the wait for a transfer's first
	// acknowledgement, whatever the retry schedule: a peer that never
	// answers gives its slot back after this long. Default
	// DefaultFirstACKTimeout.
	FirstACKTimeout time.Duration
	// RegisterExpires is the sipStack timerRegisterExpires written into
	// configs. Default DefaultRegisterExpires.
	RegisterExpires int
	// MaxCached bounds the rendered configs kept in memory. Default DefaultMaxCached.
	MaxCached int
	Logger    *slog.Logger
	// Registerer receives the selfprov_tftp_* metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Server serves config files over TFTP and HTTP.
type Server struct {
	log      *slog.Logger
	content  *content
	m        *metrics
	timeout  time.Duration
	retries  int
	firstACK time.Duration
	slots    *slots
	ctx      context.Context // lookups made by transfers
	cancel   context.CancelFunc
	wg       sync.WaitGroup // transfer workers
	work     chan job       // to a worker waiting for a transfer

	mu        sync.Mutex
	conn      net.PacketConn
	serveDone chan struct{}
	closing   chan struct{}
	closed    bool
}

// New builds a Server; it serves nothing until Serve or ServeHTTP.
func New(o Options) (*Server, error) {
	if o.Core == nil {
		return nil, errors.New("tftpd: no core")
	}
	if len(o.CallManagers) == 0 {
		return nil, errors.New("tftpd: no call manager to write into configs")
	}
	if o.MaxTransfers <= 0 {
		o.MaxTransfers = DefaultMaxTransfers
	}
	switch {
	case o.MaxTransfersPerSource == 0:
		o.MaxTransfersPerSource = DefaultMaxTransfersPerSource
	case o.MaxTransfersPerSource < 0:
		o.MaxTransfersPerSource = math.MaxInt
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Retries <= 0 {
		o.Retries = DefaultRetries
	}
	if o.FirstACKTimeout <= 0 {
		o.FirstACKTimeout = DefaultFirstACKTimeout
	}
	if o.RegisterExpires <= 0 {
		o.RegisterExpires = DefaultRegisterExpires
	}
	if o.MaxCached <= 0 {
		o.MaxCached = DefaultMaxCached
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	c, err := newContent(o.Core, o.CallManagers, o.RegisterExpires, o.StaticDir, o.MaxCached)
	if err != nil {
		return nil, err
	}
	c.log = o.Logger
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		log: o.Logger, content: c, m: m, timeout: o.Timeout, retries: o.Retries, firstACK: o.FirstACKTimeout,
		slots: newSlots(o.MaxTransfers, o.MaxTransfersPerSource, m),
		ctx:   ctx, cancel: cancel, closing: make(chan struct{}), work: make(chan job),
	}
	// Ending the server's context ends every transfer still running.
	context.AfterFunc(ctx, s.slots.stop)
	return s, nil
}

// Serve answers TFTP on conn until Shutdown. conn is owned by the Server
// from then on.
func (s *Server) Serve(conn net.PacketConn) error {
	s.mu.Lock()
	if s.closed || s.conn != nil {
		s.mu.Unlock()
		conn.Close()
		return errors.New("tftpd: server already serving or shut down")
	}
	if rb, ok := conn.(interface{ SetReadBuffer(int) error }); ok {
		// A building powering up sends its read requests in one burst:
		// they must queue in the kernel rather than be dropped while the
		// accept loop is descheduled, which costs each phone a 1 s
		// retransmission. The kernel caps this at net.core.rmem_max.
		_ = rb.SetReadBuffer(readBuffer)
	}
	s.conn = conn
	s.serveDone = make(chan struct{})
	s.mu.Unlock()
	defer close(s.serveDone)

	read := requestReader(conn)
	buf := make([]byte, maxRequest)
	for {
		n, addr, local, err := read(buf)
		if err != nil {
			select {
			case <-s.closing:
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			continue // a passing error on one datagram
		}
		if ua, ok := addr.(*net.UDPAddr); ok {
			s.admit(buf[:n], ua, local, time.Now())
		}
	}
}

// requestReader reads datagrams from the listening socket with the local
// address each was sent to, when the socket is bound to every address:
// a transfer answers from the address the client asked, as clients expect
// on a host with several.
func requestReader(conn net.PacketConn) func([]byte) (int, net.Addr, net.IP, error) {
	uc, ok := conn.(*net.UDPConn)
	la, _ := conn.LocalAddr().(*net.UDPAddr)
	if la != nil && !la.IP.IsUnspecified() {
		local := la.IP
		return func(b []byte) (int, net.Addr, net.IP, error) {
			n, addr, err := conn.ReadFrom(b)
			return n, addr, local, err
		}
	}
	if ok && la != nil {
		if la.IP.To4() != nil {
			p4 := ipv4.NewPacketConn(uc)
			if p4.SetControlMessage(ipv4.FlagDst, true) == nil {
				return func(b []byte) (int, net.Addr, net.IP, error) {
					n, cm, addr, err := p4.ReadFrom(b)
					var local net.IP
					if cm != nil {
						local = cm.Dst
					}
					return n, addr, local, err
				}
			}
		} else {
			p6 := ipv6.NewPacketConn(uc)
			if p6.SetControlMessage(ipv6.FlagDst, true) == nil {
				return func(b []byte) (int, net.Addr, net.IP, error) {
					n, cm, addr, err := p6.ReadFrom(b)
					var local net.IP
					if cm != nil {
						local = cm.Dst
					}
					return n, addr, local, err
				}
			}
		}
	}
	return func(b []byte) (int, net.Addr, net.IP, error) {
		n, addr, err := conn.ReadFrom(b)
		return n, addr, nil, err
	}
}

// Shutdown stops accepting requests and waits, until ctx ends, for the
// transfers in progress; those still running then are ended.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	conn, serveDone := s.conn, s.serveDone
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		if conn != nil {
			conn.Close()
			<-serveDone // no transfer starts after this
		}
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("tftpd: transfers still running: %w", ctx.Err())
	}
	s.cancel()
	return errors.Join(err, s.content.close())
}

var (
	errBusy       = errors.New("server busy, try again")
	errSourceBusy = errors.New("too many transfers from your address, try again")
)

// readBuffer is the listening socket's receive buffer.
const readBuffer = 4 << 20

// lookupTimeout bounds the store read behind one request.
const lookupTimeout = 3 * time.Second

// open resolves a requested name, checking it with Classify.
func (s *Server) open(name string) (*file, error) {
	req, err := Classify(name)
	if err != nil {
		return nil, err
	}
	return s.openRequest(req)
}

// openRequest resolves a request already accepted by Classify.
func (s *Server) openRequest(req Request) (*file, error) {
	ctx, cancel := context.WithTimeout(s.ctx, lookupTimeout)
	defer cancel()
	return s.content.open(ctx, req)
}
