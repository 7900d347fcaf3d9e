// Package cucmapi serves CUCM's administrative interfaces over HTTPS, on
// CUCM's port 8443: AXL (SOAP, package axl) under /axl/, so that a lab rig
// written for CUCM runs unchanged against selfprov. Each interface decodes
// its wire, calls the core and encodes the answer; the core owns every
// rule.
package cucmapi

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Options configure a Server.
type Options struct {
	// Certificate is served to every client (LoadCertificate).
	Certificate tls.Certificate
	// Routes are the interfaces, keyed by http.ServeMux pattern
	// ("/axl/": the AXL handler).
	Routes map[string]http.Handler
	Logger *slog.Logger
}

// Server is the HTTPS listener of the administrative interfaces.
type Server struct {
	srv *http.Server
}

// New builds a Server; it serves nothing until Serve.
func New(o Options) (*Server, error) {
	if len(o.Certificate.Certificate) == 0 {
		return nil, errors.New("cucmapi: a certificate is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	mux := http.NewServeMux()
	for pattern, h := range o.Routes {
		mux.Handle(pattern, h)
	}
	return &Server{srv: &http.Server{
		Handler: mux,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{o.Certificate},
			MinVersion:   tls.VersionTLS12,
		},
		// Rigs send a request at a time over keep-alive connections; a
		// client that stops mid-request must not hold a connection.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
	}}, nil
}

// Serve serves HTTPS on ln (an open TCP listener) until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and drains under ctx.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
