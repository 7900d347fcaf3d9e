package admin_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"selfprov/internal/testkit"
	"selfprov/telemetry"
	"selfprov/telemetry/metrictest"
)

func TestMetricsPassTheAudit(t *testing.T) {
	e := newEnv(t, envOpt{reg: telemetry.NewRegistry()})
	e.call("GET", "/api/v1/cluster", nil, 200, nil)
	e.fails("GET", "/api/v1/devices/SEP0A00000000FF", nil, 404, "DEVICE_NOT_FOUND")
	e.raw("GET", "/api/v1/cluster", "", nil)
	e.raw("GET", "/healthz", "", nil)
	metrictest.Audit(t, e.reg)

	want := `
# HELP selfprov_admin_auth_failures_total Admin API requests refused for a missing or wrong bearer token.
# TYPE selfprov_admin_auth_failures_total counter
selfprov_admin_auth_failures_total 1
# HELP selfprov_admin_requests_total Requests to the admin listener by route pattern and HTTP status code.
# TYPE selfprov_admin_requests_total counter
selfprov_admin_requests_total{code="200",route="GET /api/v1/cluster"} 1
selfprov_admin_requests_total{code="200",route="GET /healthz"} 1
selfprov_admin_requests_total{code="401",route="GET /api/v1/cluster"} 1
selfprov_admin_requests_total{code="404",route="GET /api/v1/devices/{name}"} 1
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want), "selfprov_admin_requests_total", "selfprov_admin_auth_failures_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(e.reg, "selfprov_build_info"); n != 1 {
		t.Fatalf("build info series: %d", n)
	}
}

// Device names, user IDs and unknown paths must not become label values.
func TestRouteLabelsAreBounded(t *testing.T) {
	e := newEnv(t, envOpt{})
	for i := range 50 {
		e.raw("GET", fmt.Sprintf("/api/v1/devices/SEP0A00000000%02X", i), e.token, nil)
		e.raw("GET", fmt.Sprintf("/api/v1/users/user%d", i), e.token, nil)
		e.raw("GET", fmt.Sprintf("/random/%d", i), "", nil)
		e.raw("POST", fmt.Sprintf("/api/v1/whatever-%d", i), e.token, nil)
	}
	routes := map[string]bool{}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "selfprov_admin_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" {
					routes[l.GetValue()] = true
				}
			}
		}
	}
	want := []string{"GET /api/v1/devices/{name}", "GET /api/v1/users/{id}", "unmatched"}
	if len(routes) != len(want) {
		t.Fatalf("route label values %v, want %v", routes, want)
	}
	for _, w := range want {
		if !routes[w] {
			t.Fatalf("route label values %v lack %q", routes, w)
		}
	}
}

// TestPromtoolAcceptsTheExposition scrapes /metrics as Prometheus would and
// runs the real promtool over it.
func TestPromtoolAcceptsTheExposition(t *testing.T) {
	promtool := testkit.Peer(t, "promtool", "prometheus")
	e := newEnv(t, envOpt{reg: telemetry.NewRegistry()})
	e.call("GET", "/api/v1/cluster", nil, 200, nil)
	e.raw("GET", "/api/v1/cluster", "", nil)
	e.raw("GET", "/nowhere", "", nil)
	r := e.raw("GET", "/metrics", "", nil)
	if r.status != 200 || !strings.Contains(string(r.body), "selfprov_admin_requests_total") {
		t.Fatalf("scrape: %d\n%s", r.status, r.body)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(r.body))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
