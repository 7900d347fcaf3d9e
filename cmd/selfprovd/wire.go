package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"selfprov/configs"
	"selfprov/provision"
)

// wiring is what every adapter is built from. Each adapter has a file
// wire_<adapter>.go that registers itself with addWirer, so adding one
// touches no other adapter's wiring.
type wiring struct {
	ctx      context.Context
	d        *daemon
	cfg      *configs.Config
	svc      *provision.Service
	log      *slog.Logger
	ln       listeners
	registry *prometheus.Registry

	// registrations lists the live SIP bindings; set by the registrar
	// (stage 1) for the admin API (stage 2). Nil until then.
	registrations func() []registration

	// servicesRoutes are extra handlers for -listen.services, keyed by
	// http.ServeMux pattern; stage-1 adapters add them and xmlsvc (stage 2)
	// serves them beside its own screens.
	servicesRoutes map[string]http.Handler

	// configStamp gives a device's served versionStamp; set by config
	// delivery (stage 2), read by the registrar's NOTIFYs once serving.
	configStamp func(ctx context.Context, deviceName string) (string, error)
}

// registration is one live SIP binding, as the admin API shows it.
type registration = bindingView

// bindingView is the adapter-neutral shape of a SIP binding.
type bindingView struct {
	DeviceName string
	Contact    string
	Transport  string
	Source     string
	CallID     string
	UserAgent  string
	Expires    int64 // unix seconds
}

// add makes a server part of the daemon's lifecycle.
func (w *wiring) add(name string, serve func() error, shutdown func(context.Context) error) {
	w.d.components = append(w.d.components, component{name: name, serve: serve, shutdown: shutdown})
}

type wirer struct {
	stage int // lower stages are wired first: 1 for providers, 2 for users of them
	name  string
	fn    func(*wiring) error
}

var wirers []wirer

// addWirer registers an adapter's wiring; called from init.
func addWirer(stage int, name string, fn func(*wiring) error) {
	wirers = append(wirers, wirer{stage: stage, name: name, fn: fn})
}

// wire builds the adapters over the core and the bound listeners.
func wire(ctx context.Context, d *daemon, cfg *configs.Config, svc *provision.Service, log *slog.Logger, reg *prometheus.Registry, ln listeners) error {
	w := &wiring{ctx: ctx, d: d, cfg: cfg, svc: svc, log: log, ln: ln, registry: reg,
		servicesRoutes: map[string]http.Handler{}}
	ordered := append([]wirer(nil), wirers...)
	sort.SliceStable(ordered, func(i, j int) bool {
		if ordered[i].stage != ordered[j].stage {
			return ordered[i].stage < ordered[j].stage
		}
		return ordered[i].name < ordered[j].name
	})
	for _, wr := range ordered {
		if err := wr.fn(w); err != nil {
			return fmt.Errorf("%s: %w", wr.name, err)
		}
	}
	return nil
}
