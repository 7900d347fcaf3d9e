package tftpd

import (
	"errors"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus"

	"selfprov/telemetry"
)

// Label values of kind beyond the request kinds.
const (
	kindNotFound = "not_found"
	kindRefused  = "refused"
)

// Results: ok, failed (timeout, peer error) or, for refusals, the reason.
const (
	resultOK     = "ok"
	resultFailed = "failed"
)

// Refusal reasons, as the result label of kind="refused".
const (
	refuseWrite     = "write"
	refuseBadName   = "bad_name"
	refuseMalformed = "malformed"
	refuseOption    = "bad_option"
	refuseBusy      = "busy"
)

type metrics struct {
	transfers *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	active    prometheus.Gauge
	http      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: "tftp", Name: "transfers_total",
			Help: "TFTP read requests by kind (device, default, trust, static, not_found, refused) and result (ok, failed, or the refusal reason).",
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
		http: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: "tftp", Name: "http_requests_total",
			Help: "Requests to the HTTP mirror of the TFTP files, by kind and status code.",
		}, []string{"kind", "code"}),
	}
	if err := telemetry.Register(reg, m.transfers, m.bytes, m.duration, m.active, m.http); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) refused(reason string) {
	m.transfers.WithLabelValues(kindRefused, reason).Inc()
}

// notFound counts a request the front end answered "file not found", as
// the hook counts one the library answered.
func (m *metrics) notFound(d time.Duration) {
	m.transfers.WithLabelValues(kindNotFound, resultFailed).Inc()
	m.duration.WithLabelValues(kindNotFound).Observe(d.Seconds())
}

// hook receives pin/tftp's per-transfer outcome.
type hook struct {
	m       *metrics
	release func() // frees a transfer slot the front end took
}

var _ tftp.Hook = hook{}

func (h hook) OnSuccess(st tftp.TransferStats) {
	k := kindOf(st.Filename)
	h.m.transfers.WithLabelValues(k, resultOK).Inc()
	h.m.duration.WithLabelValues(k).Observe(st.Duration.Seconds())
}

func (h hook) OnFailure(st tftp.TransferStats, err error) {
	if st.Filename == "" {
		// The library failed before a transfer existed (no socket for
		// it); the slot the front end took is released here.
		h.release()
		return
	}
	k := kindOf(st.Filename)
	switch {
	case errors.Is(err, ErrNotFound):
		k = kindNotFound
	case errors.Is(err, errBusy):
		h.m.refused(refuseBusy)
		return
	case errors.Is(err, ErrBadName):
		h.m.refused(refuseBadName)
		return
	}
	h.m.transfers.WithLabelValues(k, resultFailed).Inc()
	h.m.duration.WithLabelValues(k).Observe(st.Duration.Seconds())
}

func kindOf(filename string) string {
	r, err := Classify(filename)
	if err != nil {
		return kindRefused
	}
	return r.Kind.String()
}
