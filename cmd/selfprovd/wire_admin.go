package main

import (
	"path/filepath"

	"selfprov/admin"
	"selfprov/registrar"
)

// wireAdmin serves the admin API, metrics and health on -listen.admin; it
// lists the registrar's live bindings and calls.
func wireAdmin(w *wiring, sip *registrar.Server) error {
	log := w.log.With("component", "admin")
	token, generated, err := admin.LoadToken(w.cfg.AdminToken, w.cfg.DataDir)
	if err != nil {
		return err
	}
	if generated {
		log.Info("admin token generated; send it as Authorization: Bearer <token>", "path", filepath.Join(w.cfg.DataDir, admin.TokenFile))
	}
	srv, err := admin.New(admin.Options{
		Service:       w.svc,
		Token:         token,
		Registrations: registrations(sip),
		Calls:         calls(sip),
		Logger:        log,
		Registerer:    w.registry,
		Gatherer:      w.registry,
	})
	if err != nil {
		return err
	}
	serveOn(w, "admin", srv, w.ln.admin)
	return nil
}
