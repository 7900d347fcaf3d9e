package main

import (
	"net/http"

	"selfprov/xmlsvc/clientprov"
)

// wireClientProv builds Webex App auto-provisioning and returns its
// endpoints, which the XML service serves on the services listener.
func wireClientProv(w *wiring) (map[string]http.Handler, error) {
	h, err := clientprov.New(clientprov.Options{
		Service:    w.svc,
		Logger:     w.log.With("component", "clientprov"),
		Registerer: w.registry,
	})
	if err != nil {
		return nil, err
	}
	return h.Routes(), nil
}
