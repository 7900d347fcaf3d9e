// Package tftpd delivers phone configuration: per-device config files
// generated from the provisioning core, XMLDefault.cnf.xml, trust lists and
// a read-only static folder, over TFTP (pin/tftp/v3) and over the HTTP
// mirror phones try first (port 6970).
package tftpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus"

	"selfprov/phonecfg"
)

// Defaults of Options.
const (
	DefaultMaxTransfers    = 512
	DefaultTimeout         = 2 * time.Second
	DefaultRetries         = 5
	DefaultRegisterExpires = 3600   // CUCM writes 3600; the registrar grants its own expiry
	DefaultMaxCached       = 16_384 // covers 10,000 devices in about 20 MB
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
	// Timeout is the retransmission timeout when the client asks for none
	// (RFC 2349 lets it ask for 1 to 255 s). Default DefaultTimeout.
	Timeout time.Duration
	// Retries per block before a transfer is abandoned. Default DefaultRetries.
	Retries int
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
	log     *slog.Logger
	content *content
	m       *metrics
	timeout time.Duration
	retries int
	max     int64
	active  atomic.Int64
	ctx     context.Context // lookups made by transfers
	cancel  context.CancelFunc

	mu      sync.Mutex
	tftp    *tftp.Server
	front   *frontConn
	closing chan struct{}
	closed  bool
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
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Retries <= 0 {
		o.Retries = DefaultRetries
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
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		log: o.Logger, content: c, m: m, timeout: o.Timeout, retries: o.Retries,
		max: int64(o.MaxTransfers), ctx: ctx, cancel: cancel, closing: make(chan struct{}),
	}, nil
}

// Serve answers TFTP on conn until Shutdown. conn is owned by the Server
// from then on.
func (s *Server) Serve(conn net.PacketConn) error {
	s.mu.Lock()
	if s.closed || s.tftp != nil {
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
	ts := tftp.NewServer(s.readHandler, nil)
	ts.SetTimeout(s.timeout)
	ts.SetRetries(s.retries)
	ts.SetHook(hook{m: s.m, release: s.release})
	front := &frontConn{PacketConn: conn, s: s, ts: ts}
	s.tftp, s.front = ts, front
	s.mu.Unlock()
	return ts.Serve(front)
}

// Shutdown stops accepting requests and waits, until ctx ends, for the
// transfers in progress.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	ts := s.tftp
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		if ts != nil {
			ts.Shutdown() // closes the conn, then waits for transfers
		}
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

var errBusy = errors.New("server busy, try again")

// acquire takes a transfer slot; false when the bound is reached.
func (s *Server) acquire() bool {
	if s.active.Add(1) > s.max {
		s.active.Add(-1)
		return false
	}
	s.m.active.Inc()
	return true
}

func (s *Server) release() {
	for {
		n := s.active.Load()
		if n <= 0 {
			return
		}
		if s.active.CompareAndSwap(n, n-1) {
			s.m.active.Dec()
			return
		}
	}
}

// readBuffer is the listening socket's receive buffer.
const readBuffer = 4 << 20

// lookupTimeout bounds the store read behind one request.
const lookupTimeout = 3 * time.Second

// open resolves a requested name, already accepted by Classify.
func (s *Server) open(name string) (*file, error) {
	req, err := Classify(name)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, lookupTimeout)
	defer cancel()
	return s.content.open(ctx, req)
}

// readHandler runs in pin/tftp's goroutine for one admitted transfer; the
// front end has taken its slot.
func (s *Server) readHandler(name string, rf io.ReaderFrom) error {
	defer s.release()
	f, err := s.open(name)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			s.log.Warn("tftp request failed", "file", clip(name), "err", err)
		}
		return err
	}
	defer f.Close()
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		ot.SetSize(f.size)
		if s.log.Enabled(s.ctx, slog.LevelDebug) {
			addr := ot.RemoteAddr()
			s.log.Debug("tftp transfer", "file", f.name, "remote_addr", addr.String(), "bytes", f.size, "code", "OK")
		}
	}
	n, err := rf.ReadFrom(f.r)
	if err == nil {
		s.m.bytes.WithLabelValues(f.kind.String()).Add(float64(n))
	}
	return err
}
