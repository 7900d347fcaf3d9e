package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/emiago/sipgo/sip"

	"selfprov/admin"
	"selfprov/registrar"
)

// wireRegistrar serves SIP on -listen.sip (UDP and TCP) and, with a
// certificate, -listen.sip-tls; it becomes the core's notifier.
func wireRegistrar(w *wiring) (*registrar.Server, error) {
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
			return nil, fmt.Errorf("tls.cert %s: %w", w.cfg.TLS.Cert, err)
		}
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	// sipgo's process-wide logger reports library bookkeeping at warn
	// level; it is debug detail for the daemon.
	sip.SetDefaultLogger(slog.New(registrar.DebugHandler(w.log.With("component", "sipgo").Handler())))
	srv, err := registrar.New(opts)
	if err != nil {
		return nil, err
	}
	w.svc.SetNotifier(srv)
	serveOn(w, "registrar", srv, registrar.Listeners{UDP: w.ln.sipUDP, TCP: w.ln.sipTCP, TLS: w.ln.sipTLS})
	return srv, nil
}

// registrations lists the registrar's live bindings as the admin API shows
// them.
func registrations(srv *registrar.Server) func() []admin.Registration {
	return func() []admin.Registration {
		bs := srv.Bindings()
		out := make([]admin.Registration, len(bs))
		for i, b := range bs {
			out[i] = admin.Registration{
				DeviceName: b.DeviceName,
				Contact:    b.Contact,
				Transport:  b.Transport.String(),
				Source:     b.Source,
				CallID:     b.CallID,
				UserAgent:  b.UserAgent,
				Expires:    time.Unix(b.Expires.Unix(), 0).UTC(),
			}
		}
		return out
	}
}

// calls lists the calls through the registrar's proxy as the admin API
// shows them.
func calls(srv *registrar.Server) func() []admin.Call {
	return func() []admin.Call {
		cs := srv.Calls()
		out := make([]admin.Call, len(cs))
		for i, c := range cs {
			out[i] = admin.Call{
				CallID:     c.CallID,
				State:      c.State,
				Calling:    admin.CallParty{Device: c.CallingDevice, DN: c.CallingDN},
				Called:     admin.CallParty{Device: c.CalledDevice, DN: c.CalledDN},
				StartedAt:  c.StartedAt.UTC(),
				AnsweredAt: c.AnsweredAt.UTC(),
			}
		}
		return out
	}
}
