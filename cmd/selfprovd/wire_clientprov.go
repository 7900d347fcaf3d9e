package main

import (
	"fmt"

	"selfprov/xmlsvc/clientprov"
)

// Webex App auto-provisioning (stage 1) hands its endpoints to the XML
// service, which serves them on the services listener (stage 2).
func init() {
	addWirer(1, "clientprov", func(w *wiring) error {
		h, err := clientprov.New(clientprov.Options{
			Service:    w.svc,
			Logger:     w.log.With("component", "clientprov"),
			Registerer: w.registry,
		})
		if err != nil {
			return err
		}
		for pattern, handler := range h.Routes() {
			if _, dup := w.servicesRoutes[pattern]; dup {
				return fmt.Errorf("services route %q is already taken", pattern)
			}
			w.servicesRoutes[pattern] = handler
		}
		return nil
	})
}
