// Package telemetry holds the metric namespace and registry wiring shared by
// the adapters. There are no global registries: every adapter takes a
// prometheus.Registerer.
package telemetry

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric: selfprov_<subsystem>_<name>_<unit>.
const Namespace = "selfprov"

// Version is set at build time with -ldflags "-X selfprov/telemetry.Version=…".
var Version = "dev"

// NewRegistry returns a registry with the Go runtime, process and build
// info collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(),
	)
	return reg
}

func buildInfo() prometheus.Collector {
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   Namespace,
		Name:        "build_info",
		Help:        "Build information; the value is always 1.",
		ConstLabels: prometheus.Labels{"version": Version, "goversion": goVersion},
	})
	g.Set(1)
	return g
}

// DurationBuckets suit request latencies from 100 µs to 5 s.
var DurationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// Register registers every collector with reg, stopping at the first
// error (a duplicate name, say). A nil reg registers nothing, for servers
// built without metrics.
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
