package metrictest_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"selfprov/telemetry"
	"selfprov/telemetry/metrictest"
)

func TestTheDaemonRegistryIsClean(t *testing.T) {
	reg := telemetry.NewRegistry()
	metrictest.Audit(t, reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "selfprov_build_info" {
			found = len(mf.GetMetric()) == 1 && mf.GetMetric()[0].GetGauge().GetValue() == 1
		}
	}
	if !found {
		t.Fatal("selfprov_build_info is missing or not 1")
	}
}

// The audit must catch what it is for.
func TestProblemsAreFound(t *testing.T) {
	reg := prometheus.NewRegistry()
	bad := []prometheus.Collector{
		prometheus.NewCounter(prometheus.CounterOpts{Name: "selfprov_tftp_requests", Help: "x"}),
		prometheus.NewGauge(prometheus.GaugeOpts{Name: "selfprov_bindings", Help: "x"}),
		prometheus.NewGauge(prometheus.GaugeOpts{Name: "selfprov_sip_Bindings", Help: "x"}),
		prometheus.NewHistogram(prometheus.HistogramOpts{Name: "selfprov_xmlsvc_latency_milliseconds", Help: "x"}),
	}
	per := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "selfprov_sip_registers_total", Help: "x"}, []string{"mac"})
	per.WithLabelValues("0A1B2C3D4E5F").Inc()
	bad = append(bad, per)
	for _, c := range bad {
		reg.MustRegister(c)
	}
	got := strings.Join(metrictest.Problems(reg), "\n")
	for _, want := range []string{
		"selfprov_tftp_requests: a counter's name ends in _total",
		"selfprov_bindings: name must be",
		"selfprov_sip_Bindings: name must be",
		"selfprov_xmlsvc_latency_milliseconds", // promlint: use base units
		`selfprov_sip_registers_total: label "mac" is unbounded`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}

func TestTextFindsTheSameProblems(t *testing.T) {
	g, err := metrictest.Text(strings.NewReader(`# HELP selfprov_tftp_requests x
# TYPE selfprov_tftp_requests counter
selfprov_tftp_requests 3
# HELP selfprov_sip_bindings Live registrations.
# TYPE selfprov_sip_bindings gauge
selfprov_sip_bindings{mac="0A1B2C3D4E5F"} 1
`))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(metrictest.Problems(g), "\n")
	for _, want := range []string{"selfprov_tftp_requests: a counter's name ends in _total", `label "mac" is unbounded`} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	if _, err := metrictest.Text(strings.NewReader("not an exposition {")); err == nil {
		t.Fatal("a broken exposition parsed")
	}
}
