package main

import (
	"path/filepath"
	"time"

	"selfprov/admin"
)

// The admin API comes after the registrar (stage 2): it lists the
// registrar's live bindings.
func init() {
	addWirer(2, "admin", func(w *wiring) error {
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
			Registrations: func() []admin.Registration { return adminRegistrations(w.registrations) },
			Logger:        log,
			Registerer:    w.registry,
			Gatherer:      w.registry,
		})
		if err != nil {
			return err
		}
		ln := w.ln.admin
		w.add("admin", func() error { return srv.Serve(ln) }, srv.Shutdown)
		return nil
	})
}

// adminRegistrations converts the registrar's bindings; no registrar means
// no bindings.
func adminRegistrations(list func() []registration) []admin.Registration {
	if list == nil {
		return nil
	}
	bs := list()
	out := make([]admin.Registration, 0, len(bs))
	for _, b := range bs {
		out = append(out, admin.Registration{
			DeviceName: b.DeviceName,
			Contact:    b.Contact,
			Transport:  b.Transport,
			Source:     b.Source,
			CallID:     b.CallID,
			UserAgent:  b.UserAgent,
			Expires:    time.Unix(b.Expires, 0).UTC(),
		})
	}
	return out
}
