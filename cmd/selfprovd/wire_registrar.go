package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"

	"github.com/emiago/sipgo/sip"

	"selfprov/registrar"
)

// The registrar is a provider (stage 1): the core's notifier and the
// bindings the admin API lists come from it.
func init() {
	addWirer(1, "registrar", func(w *wiring) error {
		opts := registrar.Options{
			Core:           w.svc,
			Logger:         w.log.With("component", "registrar"),
			Registerer:     w.registry,
			Advertise:      w.cfg.Advertise,
			DefaultExpires: w.cfg.SIP.DefaultExpires,
			MinExpires:     w.cfg.SIP.MinExpires,
			RatePerSource:  w.cfg.SIP.RatePerSource,

			AutoRegPerMinute:        w.cfg.SIP.AutoRegPerSource.PerMinute,
			AutoRegBurst:            w.cfg.SIP.AutoRegPerSource.Burst,
			MaxConnectionsPerSource: w.cfg.SIP.MaxConnectionsPerSource,
			IdleTimeout:             w.cfg.SIP.IdleTimeout,

			// Config delivery is wired after the registrar; the stamp is
			// asked for only once both serve.
			ConfigStamp: func(ctx context.Context, name string) (string, error) {
				if w.configStamp == nil {
					return "", errors.New("config delivery is not wired")
				}
				return w.configStamp(ctx, name)
			},
		}
		if w.ln.sipTLS != nil {
			cert, err := tls.LoadX509KeyPair(w.cfg.TLS.Cert, w.cfg.TLS.Key)
			if err != nil {
				return fmt.Errorf("tls.cert %s: %w", w.cfg.TLS.Cert, err)
			}
			opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		// sipgo's process-wide logger reports library bookkeeping at warn
		// level; it is debug detail for the daemon.
		sip.SetDefaultLogger(slog.New(registrar.DebugHandler(w.log.With("component", "sipgo").Handler())))
		srv, err := registrar.New(opts)
		if err != nil {
			return err
		}
		w.svc.SetNotifier(srv)
		w.registrations = func() []registration {
			bs := srv.Bindings()
			out := make([]registration, len(bs))
			for i, b := range bs {
				out[i] = registration{
					DeviceName: b.DeviceName, Contact: b.Contact, Transport: b.Transport.String(),
					Source: b.Source, CallID: b.CallID, UserAgent: b.UserAgent, Expires: b.Expires.Unix(),
				}
			}
			return out
		}
		w.add("registrar", func() error {
			return srv.Serve(w.ln.sipUDP, w.ln.sipTCP, w.ln.sipTLS)
		}, srv.Shutdown)
		return nil
	})
}
