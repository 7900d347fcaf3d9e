package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"selfprov/configs"
	"selfprov/provision"
)

// wiring is what every adapter is built from: the core, the configuration,
// the bound listeners, and the daemon that runs what they serve.
type wiring struct {
	ctx      context.Context
	d        *daemon
	cfg      *configs.Config
	svc      *provision.Service
	log      *slog.Logger
	ln       listeners
	registry *prometheus.Registry

	// configStamp gives a device's served versionStamp; set by config
	// delivery, read by the registrar's NOTIFYs once serving.
	configStamp func(ctx context.Context, deviceName string) (string, error)
}

// wire builds the adapters over the core and the bound listeners, in
// dependency order: each step may use what the steps before it built.
// A new adapter is one wire<Adapter> function and one step here.
func wire(ctx context.Context, d *daemon, cfg *configs.Config, svc *provision.Service, log *slog.Logger, reg *prometheus.Registry, ln listeners) error {
	w := &wiring{ctx: ctx, d: d, cfg: cfg, svc: svc, log: log, ln: ln, registry: reg}

	// The registrar first: it is the core's notifier, and the admin API
	// lists its bindings.
	sip, err := wireRegistrar(w)
	if err != nil {
		return fmt.Errorf("registrar: %w", err)
	}
	if err := wireTFTPD(w); err != nil {
		return fmt.Errorf("tftpd: %w", err)
	}
	// Webex client auto-provisioning has no listener of its own: the XML
	// service serves its endpoints beside the screens.
	clientRoutes, err := wireClientProv(w)
	if err != nil {
		return fmt.Errorf("clientprov: %w", err)
	}
	if err := wireXMLSvc(w, clientRoutes); err != nil {
		return fmt.Errorf("xmlsvc: %w", err)
	}
	if err := wireAdmin(w, sip); err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if err := wireCUCMAPI(w, sip, clientRoutes); err != nil {
		return fmt.Errorf("cucmapi: %w", err)
	}
	return nil
}

// add makes a server part of the daemon's lifecycle: serve runs until
// shutdown stops it.
func (w *wiring) add(name string, serve func() error, shutdown func(context.Context) error) {
	w.d.components = append(w.d.components, component{name: name, serve: serve, shutdown: shutdown})
}

// server is the shape of every server: Serve on its listener L (a
// net.Listener, a net.PacketConn for TFTP, registrar.Listeners for SIP's
// three transports) until Shutdown.
type server[L any] interface {
	Serve(L) error
	Shutdown(context.Context) error
}

// serveOn adds a server to w's daemon.
func serveOn[L any](w *wiring, name string, srv server[L], ln L) {
	w.add(name, func() error { return srv.Serve(ln) }, srv.Shutdown)
}

// httpServer is a server whose Serve, as net/http's does, returns
// http.ErrServerClosed once Shutdown stopped it; it returns nil instead.
type httpServer struct{ server[net.Listener] }

func (s httpServer) Serve(ln net.Listener) error {
	if err := s.server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
