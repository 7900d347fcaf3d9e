package phonesim

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	env := &Env{}
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg, env)
	if err != nil {
		t.Fatal(err)
	}
	env.states[StateDone].add(3)
	m.Observe("boot/register", 2*time.Millisecond, nil)
	m.Observe("boot/register", time.Second, errors.New("x"))
	m.Result(Result{Outcome: "OK"})
	m.Result(Result{Outcome: "AUTH_FAILED"})
	m.Call(CallResult{Status: 200, Outcome: "200"})
	m.Call(CallResult{Status: 200, Outcome: "200"})
	m.Call(CallResult{Status: 404, Outcome: "404"})
	want := `
# HELP selfprov_phonesim_calls_total Calls the simulated phones placed, by final status (200, 404, ...) or timeout, transport.
# TYPE selfprov_phonesim_calls_total counter
selfprov_phonesim_calls_total{outcome="200"} 2
selfprov_phonesim_calls_total{outcome="404"} 1
# HELP selfprov_phonesim_phones_total Simulated phones that finished their flow, by outcome code.
# TYPE selfprov_phonesim_phones_total counter
selfprov_phonesim_phones_total{outcome="AUTH_FAILED"} 1
selfprov_phonesim_phones_total{outcome="OK"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "selfprov_phonesim_phones_total", "selfprov_phonesim_calls_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.steps); n != 2 {
		t.Errorf("%d step series, want ok and error", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "selfprov_phonesim_phones" {
			continue
		}
		for _, mm := range mf.GetMetric() {
			if mm.GetLabel()[0].GetValue() == "done" && mm.GetGauge().GetValue() != 3 {
				t.Errorf("done gauge %v, want 3", mm.GetGauge().GetValue())
			}
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
