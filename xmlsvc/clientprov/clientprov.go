// Package clientprov is the HTTP adapter of Webex App auto-provisioning
// (SPEC §5): the createDevice and supportedServices endpoints (JSON) and a
// UDS-like list of a user's devices. It decodes, calls the core and encodes;
// the core decides.
//
// The handlers are mounted by the XML services server on the services
// listener, keyed by the http.ServeMux patterns of Routes.
package clientprov

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"selfprov/clientapi"
	"selfprov/provision"
)

// Patterns of the endpoints, as http.ServeMux patterns.
const (
	PatternCreateDevice      = "POST " + clientapi.PathCreateDevice
	PatternSupportedServices = "GET " + clientapi.PathSupportedServices
	PatternUserDevices       = "GET /cucm-uds/user/{userid}/devices"
)

// DefaultMaxBodyBytes bounds a createDevice request body.
const DefaultMaxBodyBytes = 16 << 10

// Options configure a Handler.
type Options struct {
	Service *provision.Service // required
	Logger  *slog.Logger       // default slog.Default()
	// Registerer takes the selfprov_clientprov_* metrics; nil registers none.
	Registerer prometheus.Registerer
	// MaxBodyBytes bounds request bodies (0 means DefaultMaxBodyBytes).
	MaxBodyBytes int64
}

// Handler serves the client auto-provisioning endpoints.
type Handler struct {
	svc     *provision.Service
	log     *slog.Logger
	m       *metrics
	maxBody int64
}

// New returns a Handler over opts.Service.
func New(opts Options) (*Handler, error) {
	if opts.Service == nil {
		return nil, errors.New("clientprov: a provision.Service is required")
	}
	h := &Handler{svc: opts.Service, log: opts.Logger, maxBody: opts.MaxBodyBytes}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	h.m = m
	return h, nil
}

// Routes returns the endpoints keyed by http.ServeMux pattern.
func (h *Handler) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		PatternCreateDevice:      h.instrument(endpointCreateDevice, h.createDevice),
		PatternSupportedServices: h.instrument(endpointSupportedServices, h.supportedServices),
		PatternUserDevices:       h.instrument(endpointUserDevices, h.userDevices),
	}
}

// Mux serves Routes alone (tests, or a listener of its own).
func (h *Handler) Mux() *http.ServeMux {
	mux := http.NewServeMux()
	for p, hh := range h.Routes() {
		mux.Handle(p, hh)
	}
	return mux
}
