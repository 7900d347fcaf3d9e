package tftpd

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"selfprov/telemetry"
)

// Label values of kind beyond the request kinds.
const (
	kindNotFound = "not_found"
	kindRefused  = "refused"
)

// Results: ok, failed (timeout, peer error), no_ack (the peer never
// acknowledged: its slot went back after a short bound or to a new
// request) or, for refusals, the reason.
const (
	resultOK     = "ok"
	resultFailed = "failed"
	resultNoACK  = "no_ack"
)

// Refusal reasons, as the result label of kind="refused".
const (
	refuseWrite      = "write"
	refuseBadName    = "bad_name"
	refuseMalformed  = "malformed"
	refuseOption     = "bad_option"
	refuseBusy       = "busy"
	refuseSourceBusy = "source_busy"
)

type metrics struct {
	transfers *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	active    prometheus.Gauge
	reclaimed prometheus.Counter
	http      *prometheus.CounterVec

	// The front end's "file not found", resolved once: a boot storm
	// counts several a phone.
	notFoundCount    prometheus.Counter
	notFoundDuration prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: "tftp", Name: "transfers_total",
			Help: "TFTP read requests by kind (device, default, trust, static, not_found, refused) and result (ok, failed, no_ack, or the refusal reason).",
		}, []string{"kind", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: "tftp", Name: "sent_bytes_total",
			Help: "File bytes sent in completed TFTP transfers, by kind.",
		}, []string{"kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: telemetry.Namespace, Subsystem: "tftp", Name: "transfer_duration_seconds",
			Help:    "TFTP transfer time from request to last acknowledgement, by kind.",
			Buckets: telemetry.DurationBuckets,
		}, []string{"kind"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: telemetry.Namespace, Subsystem: "tftp", Name: "active_transfers",
			Help: "TFTP transfers in progress.",
		}),
		reclaimed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: "tftp", Name: "reclaimed_slots_total",
			Help: "Transfer slots taken from a transfer still waiting for its first acknowledgement, for a new request when every slot was held.",
		}),
		http: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: "tftp", Name: "http_requests_total",
			Help: "Requests to the HTTP mirror of the TFTP files, by kind and status code.",
		}, []string{"kind", "code"}),
	}
	if err := telemetry.Register(reg, m.transfers, m.bytes, m.duration, m.active, m.reclaimed, m.http); err != nil {
		return nil, err
	}
	m.notFoundCount = m.transfers.WithLabelValues(kindNotFound, resultFailed)
	m.notFoundDuration = m.duration.WithLabelValues(kindNotFound)
	return m, nil
}

func (m *metrics) refused(reason string) {
	m.transfers.WithLabelValues(kindRefused, reason).Inc()
}

// notFound counts a request the front end answered "file not found", as
// the hook counts one the library answered.
func (m *metrics) notFound(d time.Duration) {
	m.notFoundCount.Inc()
	m.notFoundDuration.Observe(d.Seconds())
}

// transferDone counts a transfer's outcome; the duration runs from the
// request.
func (m *metrics) transferDone(kind, result string, start time.Time) {
	m.transfers.WithLabelValues(kind, result).Inc()
	m.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}
