// Package xmlsvc is the HTTP adapter of self-provisioning: the IP Phone XML
// screens a phone shows from its idle URL (login, checks, confirm,
// provision, exit), the same flow under the UDS path, and the
// authenticationURL phones call before accepting a push (SPEC §4,
// protocol.md §5–6). Extra handlers (Webex client provisioning) are mounted
// beside the screens through Options.Routes.
//
// Every flow step answers 200 with a screen; an outcome is a
// CiscoIPPhoneText naming its code, because a phone shows nothing useful
// for an HTTP error status.
package xmlsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"selfprov/provision"
)

// Paths of the flow. The idle URL and the authenticationURL are those of
// the auto-registration template (configs/demo.yaml).
const (
	PathIdle         = "/xps/idle"
	PathLogin        = "/xps/login"
	PathConfirm      = "/xps/confirm"
	PathExit         = "/xps/exit"
	PathAuthenticate = "/xps/authenticate"
	// PathUDS serves the same flow for clients that use the UDS path: the
	// login screen at PathUDS, the steps at PathUDS+"/login" and so on.
	PathUDS = "/cucm-uds/private/selfProvision"
)

// DefaultNotifyTimeout bounds the reset sent after a provisioning.
const DefaultNotifyTimeout = 10 * time.Second

// Options configure a Server.
type Options struct {
	Service *provision.Service // required
	Logger  *slog.Logger       // default slog.Default()
	// Registerer takes the selfprov_xmlsvc_* metrics; nil registers none.
	Registerer prometheus.Registerer
	// Routes are extra http.ServeMux patterns served on the same listener
	// (client auto-provisioning). A pattern that conflicts with the
	// screens is an error from New.
	Routes map[string]http.Handler
	// Clock times confirmation tokens (default provision.SystemClock).
	Clock provision.Clock
	// TokenTTL is how long a confirm screen stays valid (default DefaultTokenTTL).
	TokenTTL time.Duration
	// MaxPending bounds pending confirmations (default DefaultMaxPending).
	MaxPending int
	// BaseURL, e.g. "http://192.0.2.10:8080", prefixes the URLs of the
	// screens. Empty takes the Host the phone asked for, which is the host
	// of its idle URL, so the flow stays on the address the phone reached.
	BaseURL string
	// NotifyTimeout bounds the reset after provisioning (default DefaultNotifyTimeout).
	NotifyTimeout time.Duration
}

// Server serves the XML service.
type Server struct {
	svc           *provision.Service
	log           *slog.Logger
	m             *metrics
	tokens        *tokens
	baseURL       string
	notifyTimeout time.Duration
	mux           *http.ServeMux
	srv           *http.Server

	after     sync.WaitGroup // resets sent after responses
	closeOnce sync.Once
	stop      chan struct{}
}

// New returns a Server; it serves once Serve is called.
func New(opts Options) (*Server, error) {
	if opts.Service == nil {
		return nil, errors.New("xmlsvc: a provisioning service is required")
	}
	s := &Server{
		svc:           opts.Service,
		log:           opts.Logger,
		baseURL:       strings.TrimRight(opts.BaseURL, "/"),
		notifyTimeout: opts.NotifyTimeout,
		mux:           http.NewServeMux(),
		stop:          make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.notifyTimeout <= 0 {
		s.notifyTimeout = DefaultNotifyTimeout
	}
	clock := opts.Clock
	if clock == nil {
		clock = provision.SystemClock
	}
	ttl := opts.TokenTTL
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	maxPending := opts.MaxPending
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	s.tokens = newTokens(clock, ttl, maxPending)
	m, err := newMetrics(opts.Registerer, func() float64 { return float64(s.tokens.len()) })
	if err != nil {
		return nil, fmt.Errorf("xmlsvc: metrics: %w", err)
	}
	s.m = m
	s.routes()
	for pattern, h := range opts.Routes {
		if err := handle(s.mux, pattern, h); err != nil {
			return nil, fmt.Errorf("xmlsvc: route %q: %w", pattern, err)
		}
	}
	s.srv = &http.Server{
		Handler: s,
		// Phones fetch small pages; the timeouts keep stalled clients
		// from holding connections and goroutines.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// handle registers h, turning the mux's panic on a bad or conflicting
// pattern into an error.
func handle(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	if h == nil {
		return errors.New("nil handler")
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// Serve answers requests on ln until Shutdown; it owns ln.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, waits for requests in flight and for the
// resets already due, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		// Handlers may still be running and adding resets; give up here.
		return err
	}
	done := make(chan struct{})
	go func() { s.after.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("xmlsvc: resets still pending: %w", ctx.Err())
	}
}

// ServeHTTP routes a request. A phone that appends its parameters with
// "&" to a URL without a query ("/xps/login&userid=…") gets them read as
// the query.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if i := strings.IndexByte(r.URL.Path, '&'); i >= 0 && ownPath(r.URL.Path[:i]) {
		r2 := r.Clone(r.Context())
		extra := r.URL.Path[i+1:]
		r2.URL.Path, r2.URL.RawPath = r.URL.Path[:i], ""
		if r.URL.RawQuery != "" {
			extra += "&" + r.URL.RawQuery
		}
		r2.URL.RawQuery = extra
		r = r2
	}
	s.mux.ServeHTTP(w, r)
}

func ownPath(p string) bool {
	return strings.HasPrefix(p, "/xps/") || strings.HasPrefix(p, PathUDS)
}

// Handler returns the server's handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s }
