package phonesim

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"selfprov/telemetry"
)

// Metrics exports a run as Prometheus metrics: step latencies, outcomes
// and phones per state. Labels stay bounded: step names and outcome codes.
type Metrics struct {
	steps    *prometheus.HistogramVec
	outcomes *prometheus.CounterVec
	calls    *prometheus.CounterVec
}

// NewMetrics registers the simulator's metrics for env on reg.
func NewMetrics(reg prometheus.Registerer, env *Env) (*Metrics, error) {
	m := &Metrics{
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: telemetry.Namespace, Subsystem: "phonesim", Name: "step_duration_seconds",
			Help:    "Duration of one step of a simulated phone, by step and result.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"step", "result"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: "phonesim", Name: "phones_total",
			Help: "Simulated phones that finished their flow, by outcome code.",
		}, []string{"outcome"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: "phonesim", Name: "calls_total",
			Help: "Calls the simulated phones placed, by final status (200, 404, ...) or timeout, transport.",
		}, []string{"outcome"}),
	}
	cs := []prometheus.Collector{m.steps, m.outcomes, m.calls}
	for s := State(0); s < numStates; s++ {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: telemetry.Namespace, Subsystem: "phonesim", Name: "phones",
			Help:        "Simulated phones by state.",
			ConstLabels: prometheus.Labels{"state": s.String()},
		}, func() float64 { return float64(env.states[s].load()) }))
	}
	if err := telemetry.Register(reg, cs...); err != nil {
		return nil, err
	}
	return m, nil
}

// Observe records one step; use it as Env.Observe.
func (m *Metrics) Observe(step string, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.steps.WithLabelValues(step, result).Observe(d.Seconds())
}

// Result records a finished phone; use it as Fleet.OnResult.
func (m *Metrics) Result(r Result) { m.outcomes.WithLabelValues(r.Outcome).Inc() }

// Call records a call a phone placed; use it as Fleet.OnCall. Its setup
// time is the step "call/setup" of Observe.
func (m *Metrics) Call(r CallResult) { m.calls.WithLabelValues(r.Outcome).Inc() }
