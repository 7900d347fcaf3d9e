package main

import (
	"net/http"

	"selfprov/xmlsvc"
)

// wireXMLSvc serves the self-provisioning screens on -listen.services,
// with routes of other adapters beside them.
func wireXMLSvc(w *wiring, routes map[string]http.Handler) error {
	srv, err := xmlsvc.New(xmlsvc.Options{
		Service:    w.svc,
		Logger:     w.log.With("component", "xmlsvc"),
		Registerer: w.registry,
		Routes:     routes,
	})
	if err != nil {
		return err
	}
	serveOn(w, "xmlsvc", srv, w.ln.services)
	return nil
}
