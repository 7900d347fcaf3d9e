package phonesim

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// namespace is the project's metric namespace.
const namespace = "selfprov"

// Metrics exports a run as Prometheus metrics: step latencies, outcomes
// and phones per state. Labels stay bounded: step names and outcome codes.
type Metrics struct {
	steps    *prometheus.HistogramVec
	outcomes *prometheus.CounterVec
}

// NewMetrics registers the simulator's metrics for env on reg.
func NewMetrics(reg prometheus.Registerer, env *Env) (*Metrics, error) {
	m := &Metrics{
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "phonesim", Name: "step_duration_seconds",
			Help:    "Duration of one step of a simulated phone, by step and result.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"step", "result"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "phonesim", Name: "phones_total",
			Help: "Simulated phones that finished their flow, by outcome code.",
		}, []string{"outcome"}),
	}
	cs := []prometheus.Collector{m.steps, m.outcomes}
	for s := State(0); s < numStates; s++ {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "phonesim", Name: "phones",
			Help:        "Simulated phones by state.",
			ConstLabels: prometheus.Labels{"state": s.String()},
		}, func() float64 { return float64(env.states[s].load()) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
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
