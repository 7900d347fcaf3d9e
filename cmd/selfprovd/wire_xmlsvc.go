package main

import (
	"selfprov/xmlsvc"
)

// The XML service uses the other adapters (stage 2): resets go through the
// registrar's notifier, and stage-1 adapters hand it extra routes for the
// services listener.
func init() {
	addWirer(2, "xmlsvc", func(w *wiring) error {
		srv, err := xmlsvc.New(xmlsvc.Options{
			Service:    w.svc,
			Logger:     w.log.With("component", "xmlsvc"),
			Registerer: w.registry,
			Routes:     w.servicesRoutes,
		})
		if err != nil {
			return err
		}
		ln := w.ln.services
		w.add("xmlsvc", func() error { return srv.Serve(ln) }, srv.Shutdown)
		return nil
	})
}
