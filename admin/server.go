// Package admin is the HTTP admin API over the provisioning core, with the
// health, readiness and metrics endpoints of the daemon.
//
// Everything under /api/v1 needs "Authorization: Bearer <token>"; /healthz,
// /readyz and /metrics do not, so probes and Prometheus can reach them. The
// listener is meant for loopback or a management network.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"selfprov/provision"
)

// DefaultMaxBodyBytes bounds a request body; the largest legitimate one,
// a user or template, is a few kilobytes.
const DefaultMaxBodyBytes = 1 << 20

// Registration is one live SIP binding of a device.
type Registration struct {
	DeviceName string    `json:"deviceName"`
	Contact    string    `json:"contact"`
	Transport  string    `json:"transport"`
	Source     string    `json:"source"` // address the REGISTER came from
	CallID     string    `json:"callId"`
	UserAgent  string    `json:"userAgent,omitempty"`
	Expires    time.Time `json:"expires"`
}

// Call is a call through the proxy: ringing (forked, no answer yet) or up.
type Call struct {
	CallID     string    `json:"callId"`
	State      string    `json:"state"` // CallRinging or CallUp
	Calling    CallParty `json:"calling"`
	Called     CallParty `json:"called"`
	StartedAt  time.Time `json:"startedAt"`
	AnsweredAt time.Time `json:"answeredAt,omitzero"` // zero while ringing
}

// CallParty is one side of a call: the device and its line's DN. The
// called device is "" while a forked call rings on several.
type CallParty struct {
	Device string `json:"device"`
	DN     string `json:"dn"`
}

// The states of a Call.
const (
	CallRinging = "ringing"
	CallUp      = "up"
)

// Options configure a Server.
type Options struct {
	Service *provision.Service
	// Token is the bearer token of the API; see LoadToken. Required.
	Token string
	// Registrations lists the live bindings; nil shows none.
	Registrations func() []Registration
	// Calls lists the calls in progress; nil shows none.
	Calls  func() []Call
	Logger *slog.Logger // default slog.Default()
	// Registerer takes the admin metrics; Gatherer is served on /metrics.
	// Either may be nil.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// MaxBodyBytes bounds request bodies (0 means DefaultMaxBodyBytes).
	MaxBodyBytes int64
}

// Server serves the admin API.
type Server struct {
	svc      *provision.Service
	token    [sha256.Size]byte
	regs     func() []Registration
	calls    func() []Call
	log      *slog.Logger
	m        *metrics
	maxBody  int64
	mux      *http.ServeMux
	srv      *http.Server
	draining atomic.Bool
}

// New returns a Server; it serves once Serve is called.
func New(opts Options) (*Server, error) {
	if opts.Service == nil {
		return nil, errors.New("admin: a provisioning service is required")
	}
	if len(opts.Token) < adminToken.MinLen {
		return nil, errors.New("admin: a token of at least 16 characters is required")
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		svc:     opts.Service,
		token:   sha256.Sum256([]byte(opts.Token)),
		regs:    opts.Registrations,
		calls:   opts.Calls,
		log:     opts.Logger,
		m:       m,
		maxBody: opts.MaxBodyBytes,
		mux:     http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	s.routes(opts.Gatherer)
	s.srv = &http.Server{
		Handler: s,
		// Timeouts keep a slow or stalled client from holding a connection
		// (and a goroutine) for ever; no admin request takes long.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Serve answers requests on ln until Shutdown; it owns ln.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown turns readiness off, stops accepting and waits for requests in
// flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	return s.srv.Shutdown(ctx)
}

// ServeHTTP authenticates /api requests, routes them and records metrics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h, route := s.mux.Handler(r)
	if route == "" {
		route = "unmatched" // one label value for every unknown path
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		code := sw.status
		if code == 0 {
			code = http.StatusOK
		}
		s.m.requests.WithLabelValues(route, statusLabel(code)).Inc()
		s.m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		outcome := sw.code
		if outcome == "" && code < 400 {
			outcome = "OK" // every request logs an outcome code, as refusals do
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.log.Info("admin request", "method", r.Method, "route", route, "status", code, "code", outcome, "remote_addr", r.RemoteAddr)
		} else {
			s.log.Debug("admin request", "method", r.Method, "route", route, "status", code, "code", outcome)
		}
	}()
	if strings.HasPrefix(r.URL.Path, "/api/") {
		if err := s.authorize(r); err != nil {
			s.m.authFailures.Inc()
			sw.Header().Set("WWW-Authenticate", `Bearer realm="selfprov admin"`)
			s.writeError(sw, r, err)
			return
		}
	}
	if route == "unmatched" {
		// The mux answers 404 or 405 (with Allow) in plain text; keep the
		// status and headers, answer in JSON.
		rec := &headerRecorder{h: http.Header{}}
		h.ServeHTTP(rec, r)
		if allow := rec.h.Get("Allow"); allow != "" {
			sw.Header().Set("Allow", allow)
			s.writeError(sw, r, &provision.Error{Code: codeMethodNotAllowed, Message: "method " + r.Method + " is not allowed here; allowed: " + allow})
			return
		}
		s.writeError(sw, r, &provision.Error{Code: provision.CodeNotFound, Message: "no such endpoint: " + r.URL.Path})
		return
	}
	s.mux.ServeHTTP(sw, r)
}

func (s *Server) authorize(r *http.Request) error {
	h := r.Header.Get("Authorization")
	if h == "" {
		return &provision.Error{Code: codeUnauthenticated, Message: "missing Authorization: Bearer <token> header"}
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return &provision.Error{Code: codeUnauthenticated, Message: "authorization scheme must be Bearer"}
	}
	// Hashing first makes the comparison constant-time in the length too.
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if subtle.ConstantTimeCompare(got[:], s.token[:]) != 1 {
		return &provision.Error{Code: codeUnauthenticated, Message: "bearer token is not valid"}
	}
	return nil
}

func (s *Server) routes(g prometheus.Gatherer) {
	mux := s.mux
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if g != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
			ErrorHandling: promhttp.ContinueOnError,
		}))
	}

	const v1 = "/api/v1"
	mux.HandleFunc("GET "+v1+"/cluster", s.getCluster)
	mux.HandleFunc("PATCH "+v1+"/cluster", s.patchCluster)
	mux.HandleFunc("PUT "+v1+"/cluster/auth-code", s.putAuthCode)

	routeNamed(s, v1+"/partitions", named[provision.Partition, partitionView]{
		kind: "route partition",
		list: s.svc.Partitions, get: s.svc.Partition, put: s.svc.PutPartition, del: s.svc.DeletePartition,
		view: viewPartition, core: partitionView.partition,
		name: func(p *partitionView) *string { return &p.Name },
	})
	routeNamed(s, v1+"/css", named[provision.CallingSearchSpace, cssView]{
		kind: "calling search space",
		list: s.svc.CallingSearchSpaces, get: s.svc.CallingSearchSpace, put: s.svc.PutCallingSearchSpace, del: s.svc.DeleteCallingSearchSpace,
		view: viewCSS, core: cssView.css,
		name: func(c *cssView) *string { return &c.Name },
	})
	routeNamed(s, v1+"/udts", named[provision.UDT, udtView]{
		kind: "universal device template",
		list: s.svc.UDTs, get: s.svc.UDT, put: s.svc.PutUDT, del: s.svc.DeleteUDT,
		view: viewUDT, core: udtView.udt,
		name: func(t *udtView) *string { return &t.Name },
	})
	routeNamed(s, v1+"/ults", named[provision.ULT, ultView]{
		kind: "universal line template",
		list: s.svc.ULTs, get: s.svc.ULT, put: s.svc.PutULT, del: s.svc.DeleteULT,
		view: viewULT, core: ultView.ult,
		name: func(t *ultView) *string { return &t.Name },
	})
	routeNamed(s, v1+"/user-profiles", named[provision.UserProfile, userProfileView]{
		kind: "user profile",
		list: s.svc.UserProfiles, get: s.svc.UserProfile, put: s.svc.PutUserProfile, del: s.svc.DeleteUserProfile,
		view: viewUserProfile, core: userProfileView.userProfile,
		name: func(p *userProfileView) *string { return &p.Name },
	})
	routeNamed(s, v1+"/feature-group-templates", named[provision.FeatureGroupTemplate, featureGroupTemplateView]{
		kind: "feature group template",
		list: s.svc.FeatureGroupTemplates, get: s.svc.FeatureGroupTemplate, put: s.svc.PutFeatureGroupTemplate, del: s.svc.DeleteFeatureGroupTemplate,
		view: viewFeatureGroupTemplate, core: featureGroupTemplateView.featureGroupTemplate,
		name: func(t *featureGroupTemplateView) *string { return &t.Name },
	})

	s.routeAppUsers(mux, v1+"/app-users")

	mux.HandleFunc("GET "+v1+"/users", s.listUsers)
	mux.HandleFunc("POST "+v1+"/users", s.createUser)
	mux.HandleFunc("GET "+v1+"/users/{id}", s.getUser)
	mux.HandleFunc("PUT "+v1+"/users/{id}", s.updateUser)
	mux.HandleFunc("DELETE "+v1+"/users/{id}", s.deleteUser)
	mux.HandleFunc("PUT "+v1+"/users/{id}/credentials", s.setCredentials)
	mux.HandleFunc("POST "+v1+"/users/{id}/unlock", s.unlockUser)
	mux.HandleFunc("POST "+v1+"/quick-add", s.quickAdd)
	mux.HandleFunc("POST "+v1+"/import/users", s.importCSV(importUsers))
	mux.HandleFunc("POST "+v1+"/import/phones", s.importCSV(importPhones))

	mux.HandleFunc("GET "+v1+"/devices", s.listDevices)
	mux.HandleFunc("POST "+v1+"/devices", s.addDevice)
	mux.HandleFunc("GET "+v1+"/devices/{name}", s.getDevice)
	mux.HandleFunc("PUT "+v1+"/devices/{name}", s.editDevice(true))
	mux.HandleFunc("PATCH "+v1+"/devices/{name}", s.editDevice(false))
	mux.HandleFunc("DELETE "+v1+"/devices/{name}", s.deleteDevice)
	mux.HandleFunc("POST "+v1+"/devices/{name}/reset", s.notify(provision.ActionReset))
	mux.HandleFunc("POST "+v1+"/devices/{name}/restart", s.notify(provision.ActionRestart))
	// apply is CUCM's Apply Config: a restart, so the phone fetches its
	// changed config. No edit resets a phone by itself.
	mux.HandleFunc("POST "+v1+"/devices/{name}/apply", s.notify(provision.ActionRestart))

	mux.HandleFunc("GET "+v1+"/lines", s.listLines)
	mux.HandleFunc("POST "+v1+"/lines", s.addLine)
	mux.HandleFunc("GET "+v1+"/lines/{dn}", s.getLine)
	mux.HandleFunc("PUT "+v1+"/lines/{dn}", s.editLine(true))
	mux.HandleFunc("PATCH "+v1+"/lines/{dn}", s.editLine(false))
	mux.HandleFunc("DELETE "+v1+"/lines/{dn}", s.deleteLine)
	mux.HandleFunc("POST "+v1+"/lines/{dn}/apply", s.applyLine)
	mux.HandleFunc("GET "+v1+"/registrations", s.listRegistrations)
	mux.HandleFunc("GET "+v1+"/calls", s.listCalls)
	mux.HandleFunc("GET "+v1+"/models", s.listModels)
}

// readyz answers 200 while the store answers and the server is not
// draining, so a load balancer stops sending before shutdown.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.svc.Ready(ctx); err != nil {
		s.log.Warn("readiness: store does not answer", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// statusWriter remembers the status and outcome code of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	code   string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// headerRecorder captures the mux's answer for an unknown route.
type headerRecorder struct {
	h    http.Header
	code int
}

func (r *headerRecorder) Header() http.Header         { return r.h }
func (r *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *headerRecorder) WriteHeader(code int)        { r.code = code }
