package clientprov

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"selfprov/telemetry"
)

const subsystem = "clientprov"

// Endpoint labels.
const (
	endpointCreateDevice      = "createDevice"
	endpointSupportedServices = "supportedServices"
	endpointUserDevices       = "userDevices"
)

type metrics struct {
	requests *prometheus.CounterVec   // endpoint, code
	duration *prometheus.HistogramVec // endpoint
	created  *prometheus.CounterVec   // type
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "requests_total",
			Help: "Client auto-provisioning requests by endpoint and outcome code (OK on success).",
		}, []string{"endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "request_duration_seconds",
			Help: "Time to answer a client auto-provisioning request.", Buckets: telemetry.DurationBuckets,
		}, []string{"endpoint"}),
		created: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "devices_created_total",
			Help: "Webex App devices created, by device type (CSF, BOT, TCT, TAB).",
		}, []string{"type"}),
	}
	if err := telemetry.Register(reg, m.requests, m.duration, m.created); err != nil {
		return nil, err
	}
	return m, nil
}

// outcome is what a handler reports for the metrics: its outcome code.
type outcome struct{ code string }

type handlerFunc func(w http.ResponseWriter, r *http.Request, out *outcome)

func (h *Handler) instrument(endpoint string, fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		out := outcome{code: "OK"}
		fn(w, r, &out)
		h.m.requests.WithLabelValues(endpoint, out.code).Inc()
		h.m.duration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	})
}
