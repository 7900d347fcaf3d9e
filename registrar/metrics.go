package registrar

import (
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"selfprov/telemetry"
)

const subsystem = "sip"

// metrics are the registrar's Prometheus series. Labels are bounded: SIP
// status codes, methods and fixed result names; never a MAC, DN or address.
type metrics struct {
	registers *prometheus.CounterVec   // by status code
	autoregs  prometheus.Counter       // devices created by auto-registration
	notifies  *prometheus.CounterVec   // by result
	duration  *prometheus.HistogramVec // by method
	dropped   *prometheus.CounterVec   // messages dropped unanswered, by reason
	codeCache sync.Map                 // int → prometheus.Counter
	durOf     map[string]prometheus.Observer
	durOther  prometheus.Observer
	notifyOf  map[string]prometheus.Counter
	droppedOf map[string]prometheus.Counter
	closed    *prometheus.CounterVec // stream connections closed by us, by reason
	closedOf  map[string]prometheus.Counter
	calls     *prometheus.CounterVec // INVITEs outside a dialog, by outcome
	callsOf   map[string]prometheus.Counter
	setup     prometheus.Histogram // INVITE to the first 2xx
}

// Call outcomes: how an INVITE outside a dialog ended.
const (
	callAnswered    = "answered"    // a phone answered (2xx)
	callBusy        = "busy"        // 486 or 600 from every phone that answered
	callNoAnswer    = "no_answer"   // rang without an answer (408, 480 from the phones)
	callCancelled   = "cancelled"   // the caller hung up first (487)
	callNotFound    = "not_found"   // no such DN, or outside the calling search space (404)
	callUnavailable = "unavailable" // no device of the line registered (480)
	callForbidden   = "forbidden"   // the caller is not a registered device (403)
	callDeclined    = "declined"    // the phones declined (403, 603)
	callFailed      = "failed"      // anything else: 482, 483, 5xx, the proxy full
)

var callOutcomes = []string{callAnswered, callBusy, callNoAnswer, callCancelled, callNotFound, callUnavailable, callForbidden, callDeclined, callFailed}

// Notify results.
const (
	notifyOK        = "ok"         // 2xx from the phone
	notifyRejected  = "rejected"   // a final non-2xx from the phone
	notifyTimeout   = "timeout"    // no final answer in time
	notifySendError = "send_error" // the write failed or the connection is gone
	notifyNoBinding = "no_binding" // the device is not registered
	notifyDropped   = "dropped"    // too many NOTIFYs in flight
	// notifyUnsupported is a 481 or 489: the phone (a softphone) does not
	// take service-control; not a failure.
	notifyUnsupported = "unsupported"
)

// Drop reasons.
const (
	dropOversize  = "oversize"
	dropMalformed = "malformed"
	dropNoVia     = "no_via"
	// dropRetransmission is a UDP REGISTER retransmitted while its original waits for the store.
	dropRetransmission = "retransmission"
)

// Reasons a stream connection is closed by the registrar.
const (
	connClosedIdle      = "idle"       // no binding and nothing sent for the idle timeout
	connClosedSourceCap = "source_cap" // refused: its source has MaxConnectionsPerSource
	connClosedCap       = "cap"        // refused: MaxConnections are open
	connClosedEvicted   = "evicted"    // closed to make room at MaxConnections: no binding, silent
)

func newMetrics(reg prometheus.Registerer, bindings, connections, calls func() float64) (*metrics, error) {
	m := &metrics{
		registers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "registers_total",
			Help: "REGISTER requests answered, by SIP status code.",
		}, []string{"code"}),
		autoregs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "autoregistrations_total",
			Help: "Devices created by auto-registration.",
		}),
		notifies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "notifies_total",
			Help: "service-control NOTIFYs, by result: ok, unsupported (481/489 from a phone without service-control), rejected, timeout, send_error, no_binding, dropped.",
		}, []string{"result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "request_duration_seconds",
			Help:    "Time from receiving a request to sending its final answer, by method.",
			Buckets: telemetry.DurationBuckets,
		}, []string{"method"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "dropped_total",
			Help: "Messages dropped without an answer, by reason: oversize, malformed, no_via, retransmission.",
		}, []string{"reason"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "calls_total",
			Help: "Calls (INVITEs outside a dialog), by outcome: " + strings.Join(callOutcomes, ", ") + ".",
		}, []string{"outcome"}),
		setup: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "call_setup_seconds",
			Help:    "Time from a call's INVITE to its first 2xx.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 180},
		}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "connections_closed_total",
			Help: "TCP and TLS connections closed or refused by the registrar, by reason: idle, source_cap, cap, evicted.",
		}, []string{"reason"}),
	}
	connGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "connections",
		Help: "Open TCP and TLS connections.",
	}, connections)
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "bindings",
		Help: "Live registrations in the binding table.",
	}, bindings)
	m.durOf = map[string]prometheus.Observer{}
	for _, meth := range []string{"REGISTER", "OPTIONS"} {
		m.durOf[meth] = m.duration.WithLabelValues(meth)
	}
	m.durOther = m.duration.WithLabelValues("other")
	m.notifyOf = map[string]prometheus.Counter{}
	for _, r := range []string{notifyOK, notifyRejected, notifyTimeout, notifySendError, notifyNoBinding, notifyDropped, notifyUnsupported} {
		m.notifyOf[r] = m.notifies.WithLabelValues(r)
	}
	m.droppedOf = map[string]prometheus.Counter{}
	for _, r := range []string{dropOversize, dropMalformed, dropNoVia, dropRetransmission} {
		m.droppedOf[r] = m.dropped.WithLabelValues(r)
	}
	m.closedOf = map[string]prometheus.Counter{}
	for _, r := range []string{connClosedIdle, connClosedSourceCap, connClosedCap, connClosedEvicted} {
		m.closedOf[r] = m.closed.WithLabelValues(r)
	}
	m.callsOf = map[string]prometheus.Counter{}
	for _, o := range callOutcomes {
		m.callsOf[o] = m.calls.WithLabelValues(o)
	}
	activeCalls := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "calls",
		Help: "Calls ringing or answered through the proxy.",
	}, calls)
	if err := telemetry.Register(reg, m.registers, m.autoregs, m.notifies, m.duration, m.dropped, m.closed, gauge, connGauge,
		m.calls, m.setup, activeCalls); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) register(code int) {
	if c, ok := m.codeCache.Load(code); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c := m.registers.WithLabelValues(strconv.Itoa(code))
	m.codeCache.Store(code, c)
	c.Inc()
}

func (m *metrics) observe(method string, seconds float64) {
	if o, ok := m.durOf[method]; ok {
		o.Observe(seconds)
		return
	}
	m.durOther.Observe(seconds)
}

func (m *metrics) notify(result string)      { m.notifyOf[result].Inc() }
func (m *metrics) drop(reason string)        { m.droppedOf[reason].Inc() }
func (m *metrics) connClosed(reason string)  { m.closedOf[reason].Inc() }
func (m *metrics) call(outcome string)       { m.callsOf[outcome].Inc() }
func (m *metrics) callSetup(seconds float64) { m.setup.Observe(seconds) }
