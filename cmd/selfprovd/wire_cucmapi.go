package main

import (
	"net"
	"net/http"
	"os"
	"path/filepath"

	"selfprov/cucmapi"
	"selfprov/cucmapi/axl"
	"selfprov/cucmapi/risport"
	"selfprov/cucmapi/uds"
	"selfprov/registrar"
)

// wireCUCMAPI serves CUCM's administrative interfaces on -listen.https:
// AXL, RisPort70 (from the registrar's bindings), UDS, and the client
// endpoints of the services listener. The listener is bound here, so this
// file is all the wiring they have.
func wireCUCMAPI(w *wiring, sip *registrar.Server, clientRoutes map[string]http.Handler) error {
	log := w.log.With("component", "cucmapi")
	password, generated, err := cucmapi.LoadAppPassword(w.cfg.AppPassword, w.cfg.DataDir)
	if err != nil {
		return err
	}
	if err := w.svc.SeedAppUser(w.ctx, password); err != nil {
		return err
	}
	if generated {
		log.Info("application user password generated", "user", "administrator", "path", filepath.Join(w.cfg.DataDir, cucmapi.PasswordFile))
	}
	hostname, _ := os.Hostname()
	cert, generated, err := cucmapi.LoadCertificate(w.cfg.HTTPS.Cert, w.cfg.HTTPS.Key, w.cfg.DataDir, []string{w.cfg.Advertise, hostname})
	if err != nil {
		return err
	}
	if generated {
		log.Info("self-signed HTTPS certificate generated", "path", filepath.Join(w.cfg.DataDir, cucmapi.CertFile), "hosts", w.cfg.Advertise+","+hostname)
	}
	axlHandler, err := axl.New(axl.Options{Service: w.svc, NodeName: w.cfg.Advertise, Logger: log.With("interface", "axl"),
		MaxWritesPerMinute: w.cfg.CUCM.MaxAXLWritesPerMinute, Registerer: w.registry})
	if err != nil {
		return err
	}
	ris, err := risport.New(risport.Options{Service: w.svc, NodeName: w.cfg.Advertise, Logger: log.With("interface", "risport"),
		MaxQueriesPerMinute: w.cfg.CUCM.RisPortQueriesPerMinute, Registerer: w.registry,
		Bindings: func() []risport.Binding { return risBindings(sip) }})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", w.cfg.Listen.HTTPS)
	if err != nil {
		return bindError("listen.https", w.cfg.Listen.HTTPS, err)
	}
	w.d.closers = append(w.d.closers, ln.Close)
	w.d.addrs.HTTPS = ln.Addr().String()
	_, port, _ := net.SplitHostPort(w.d.addrs.HTTPS)
	udsHandler, err := uds.New(uds.Options{Service: w.svc, Host: w.cfg.Advertise, Port: port, Logger: log.With("interface", "uds")})
	if err != nil {
		return err
	}
	routes := map[string]http.Handler{
		"/axl/": axlHandler,
		"/realtimeservice2/services/RISService70": ris,
	}
	for _, p := range uds.Routes {
		routes[p] = udsHandler
	}
	// The client endpoints of the services listener (a user's
	// devices, Webex App provisioning) are on HTTPS too, as on CUCM.
	for p, h := range clientRoutes {
		routes[p] = h
	}
	srv, err := cucmapi.New(cucmapi.Options{Certificate: cert, Routes: routes, Logger: log})
	if err != nil {
		return err
	}
	log.Info("https serving AXL, RisPort70 and UDS", "addr", w.d.addrs.HTTPS)
	w.add("cucmapi", func() error { return srv.Serve(ln) }, srv.Shutdown)
	return nil
}

// risBindings converts the registrar's bindings; no registrar means none.
func risBindings(sip *registrar.Server) []risport.Binding {
	if sip == nil {
		return nil
	}
	bs := sip.Bindings()
	out := make([]risport.Binding, len(bs))
	for i, b := range bs {
		out[i] = risport.Binding{DeviceName: b.DeviceName, Source: b.Source, Transport: b.Transport.String(),
			UserAgent: b.UserAgent, Expires: b.Expires}
	}
	return out
}
