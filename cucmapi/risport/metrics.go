package risport

import (
	"github.com/prometheus/client_golang/prometheus"

	"selfprov/telemetry"
)

const subsystem = "risport"

type metrics struct {
	requests *prometheus.CounterVec // operation, status
	duration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "requests_total",
			Help: "RisPort70 requests by operation (_other for one not served) and HTTP status.",
		}, []string{"operation", "status"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "request_duration_seconds",
			Help: "Time to answer a RisPort70 request.", Buckets: telemetry.DurationBuckets,
		}),
	}
	if err := telemetry.Register(reg, m.requests, m.duration); err != nil {
		return nil, err
	}
	return m, nil
}
