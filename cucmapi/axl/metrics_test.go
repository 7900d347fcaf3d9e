package axl_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"selfprov/cucmapi/axl"
	"selfprov/internal/coretest"
	"selfprov/telemetry/metrictest"
)

// TestMetrics: requests are counted by operation and outcome, an
// operation not served under _other, and the series pass the audit.
func TestMetrics(t *testing.T) {
	c := coretest.New(t, coretest.Options{})
	if err := c.Svc.SeedAppUser(context.Background(), appPassword); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := axl.New(axl.Options{Service: c.Svc, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	r := &rig{t: t, url: srv.URL + "/axl/", core: c}
	r.call("getCCMVersion", "")
	r.fault("getPhone", "<name>SEP00000000DEAD</name>", "5007")
	r.do("getSipTrunk", envelope("14.0", "<ns:getSipTrunk><name>x</name></ns:getSipTrunk>"))
	want := `
# HELP selfprov_axl_requests_total AXL requests by operation (_other for one not served) and outcome (OK, or the fault's axlcode).
# TYPE selfprov_axl_requests_total counter
selfprov_axl_requests_total{code="5000",operation="_other"} 1
selfprov_axl_requests_total{code="5007",operation="getPhone"} 1
selfprov_axl_requests_total{code="OK",operation="getCCMVersion"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "selfprov_axl_requests_total"); err != nil {
		t.Fatal(err)
	}
	metrictest.Audit(t, reg)
}
