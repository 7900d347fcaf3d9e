package admin

import (
	"github.com/prometheus/client_golang/prometheus"

	"selfprov/telemetry"
)

const subsystem = "admin"

// metrics of the admin listener. Labels are the route pattern and the
// status code, both from fixed sets; never a device name, user or address.
type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	authFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem,
			Name: "requests_total",
			Help: "Requests to the admin listener by route pattern and HTTP status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem,
			Name:    "request_duration_seconds",
			Help:    "Time to answer a request to the admin listener, by route pattern.",
			Buckets: telemetry.DurationBuckets,
		}, []string{"route"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem,
			Name: "auth_failures_total",
			Help: "Admin API requests refused for a missing or wrong bearer token.",
		}),
	}
	if err := telemetry.Register(reg, m.requests, m.duration, m.authFailures); err != nil {
		return nil, err
	}
	return m, nil
}
