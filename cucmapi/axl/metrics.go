package axl

import (
	"github.com/prometheus/client_golang/prometheus"

	"selfprov/telemetry"
)

const subsystem = "axl"

type metrics struct {
	requests *prometheus.CounterVec   // operation, code
	duration *prometheus.HistogramVec // operation
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "requests_total",
			Help: "AXL requests by operation (_other for one not served) and outcome (OK, or the fault's axlcode).",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "request_duration_seconds",
			Help: "Time to answer an AXL request, by operation.", Buckets: telemetry.DurationBuckets,
		}, []string{"operation"}),
	}
	if err := telemetry.Register(reg, m.requests, m.duration); err != nil {
		return nil, err
	}
	return m, nil
}

// opLabel keeps the operation label bounded: the operations served.
func opLabel(op string) string {
	if _, ok := operations[op]; ok {
		return op
	}
	return "_other"
}
