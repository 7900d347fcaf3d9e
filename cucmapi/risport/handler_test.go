package risport_test

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"selfprov/cucmapi/risport"
	"selfprov/internal/coretest"
	"selfprov/internal/testkit"
	"selfprov/provision"
	"selfprov/telemetry/metrictest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const password = "risport-test-pass"

type rig struct {
	t    *testing.T
	url  string
	core *coretest.Core
	mu   sync.Mutex
	live []risport.Binding
}

func (r *rig) bind(bs ...risport.Binding) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live = bs
}

func newRig(t *testing.T) *rig {
	c := coretest.New(t, coretest.Options{})
	ctx := context.Background()
	if err := c.Svc.SeedAppUser(ctx, password); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, core: c}
	h, err := risport.New(risport.Options{Service: c.Svc, NodeName: "cucm-pub", Now: func() time.Time { return coretest.Epoch },
		Bindings: func() []risport.Binding {
			r.mu.Lock()
			defer r.mu.Unlock()
			return append([]risport.Binding(nil), r.live...)
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/realtimeservice2/services/RISService70"
	for i, name := range []string{"SEP0000000000A1", "SEP0000000000A2", "SEP0000000000B1"} {
		if _, err := c.Svc.AddDevice(ctx, provision.NewDevice{Name: name, Model: 36224, Owner: "alice", Description: "desk " + name,
			UDT: "Desk Phone Template", Lines: []provision.Line{{Button: 1, DN: "250" + string(rune('1'+i))}}}); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func query(op, maxN, status, selectBy string, items ...string) string {
	var it strings.Builder
	for _, i := range items {
		it.WriteString("<soap:item><soap:Item>" + i + "</soap:Item></soap:item>")
	}
	return `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soap="http://schemas.cisco.com/ast/soap"><soapenv:Body>
<soap:` + op + `><soap:StateInfo></soap:StateInfo><soap:CmSelectionCriteria><soap:MaxReturnedDevices>` + maxN + `</soap:MaxReturnedDevices>
<soap:DeviceClass>Any</soap:DeviceClass><soap:Model>255</soap:Model><soap:Status>` + status + `</soap:Status><soap:NodeName></soap:NodeName>
<soap:SelectBy>` + selectBy + `</soap:SelectBy><soap:SelectItems>` + it.String() + `</soap:SelectItems><soap:Protocol>Any</soap:Protocol>
<soap:DownloadStatus>Any</soap:DownloadStatus></soap:CmSelectionCriteria></soap:` + op + `></soapenv:Body></soapenv:Envelope>`
}

func (r *rig) post(body string, auth ...string) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.url, strings.NewReader(body))
	req.Header.Set("SOAPAction", "http://schemas.cisco.com/ast/soap/action/#RisPort#SelectCmDevice")
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	} else {
		req.SetBasicAuth(provision.DefaultAppUser, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (r *rig) ok(body string) string {
	r.t.Helper()
	status, out := r.post(body)
	if status != 200 {
		r.t.Fatalf("HTTP %d\n%s", status, out)
	}
	return out
}

var deviceName = regexp.MustCompile(`<Name>(SEP[0-9A-F]+)</Name>`)

func names(body string) []string {
	var out []string
	for _, m := range deviceName.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestSelectCmDevice(t *testing.T) {
	r := newRig(t)
	exp := coretest.Epoch.Add(time.Minute)
	r.bind(
		risport.Binding{DeviceName: "SEP0000000000A1", Source: "127.0.0.1:5062", Transport: "udp", Expires: exp},
		risport.Binding{DeviceName: "SEP0000000000A2", Source: "127.0.0.2:5062", Transport: "tcp", Expires: exp},
		risport.Binding{DeviceName: "SEP0000000000B1", Source: "127.0.0.3:5062", Transport: "udp", Expires: exp},
	)
	all := r.ok(query("selectCmDevice", "1000", "Any", "Name", "*"))
	path := filepath.Join("testdata", "selectCmDevice.xml")
	testkit.Golden(t, path, []byte(all), *update)

	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"name wildcard", query("selectCmDevice", "1000", "Any", "Name", "SEP0000000000A*"), []string{"SEP0000000000A1", "SEP0000000000A2"}},
		{"two items, lower case", query("selectCmDeviceExt", "1000", "Registered", "Name", "sep0000000000a1", "SEP0000000000B1"), []string{"SEP0000000000A1", "SEP0000000000B1"}},
		{"by DN", query("selectCmDevice", "1000", "Any", "DirNumber", "2502"), []string{"SEP0000000000A2"}},
		{"by address", query("selectCmDevice", "1000", "Any", "IPV4Address", "127.0.0.3"), []string{"SEP0000000000B1"}},
		{"unregistered only", query("selectCmDevice", "1000", "UnRegistered", "Name", "*"), nil},
		{"max 2", query("selectCmDevice", "2", "Any", "Name", "*"), []string{"SEP0000000000A1", "SEP0000000000A2"}},
	} {
		got := names(r.ok(c.body))
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if out := r.ok(query("selectCmDevice", "2", "Any", "Name", "*")); !strings.Contains(out, "<TotalDevicesFound>3</TotalDevicesFound>") || !strings.Contains(out, "<StateInfo>after:SEP0000000000A2</StateInfo>") {
		t.Fatalf("a truncated answer says how many and where to go on:\n%s", out)
	}
	next := strings.Replace(query("selectCmDevice", "2", "Any", "Name", "*"), "<soap:StateInfo></soap:StateInfo>", "<soap:StateInfo>after:SEP0000000000A2</soap:StateInfo>", 1)
	if out := r.ok(next); strings.Join(names(out), ",") != "SEP0000000000B1" || !strings.Contains(out, "<StateInfo/>") {
		t.Fatalf("second page:\n%s", out)
	}

	// A2 leaves: it is listed as UnRegistered, and registered again when
	// it comes back.
	r.bind(risport.Binding{DeviceName: "SEP0000000000A1", Source: "127.0.0.1:5062", Expires: exp},
		risport.Binding{DeviceName: "SEP0000000000B1", Source: "127.0.0.3:5062", Expires: exp})
	out := r.ok(query("selectCmDevice", "1000", "UnRegistered", "Name", "*"))
	if strings.Join(names(out), ",") != "SEP0000000000A2" || !strings.Contains(out, "<Status>UnRegistered</Status>") || !strings.Contains(out, "<DirNumber>2502-UnRegistered</DirNumber>") {
		t.Fatalf("after A2 left:\n%s", out)
	}
	if got := names(r.ok(query("selectCmDevice", "1000", "Registered", "Name", "*"))); strings.Join(got, ",") != "SEP0000000000A1,SEP0000000000B1" {
		t.Fatalf("registered after A2 left: %v", got)
	}
}

func TestRisPortBadRequests(t *testing.T) {
	r := newRig(t)
	q := query("selectCmDevice", "10", "Any", "Name", "*")
	for _, c := range []struct {
		name, body string
		auth       []string
		status     int
		want       string
	}{
		{"wrong password", q, []string{provision.DefaultAppUser, "nope"}, 401, "Authentication failed"},
		{"end user", q, []string{"alice", "12345"}, 401, "Authentication failed"},
		{"unknown operation", strings.ReplaceAll(q, "selectCmDevice", "selectCtiItem"), nil, 500, "selectCtiItem is not supported"},
		{"wrong namespace", strings.Replace(q, `xmlns:soap="http://schemas.cisco.com/ast/soap"`, `xmlns:soap="urn:other"`, 1), nil, 500, "is not the RisPort namespace"},
		{"bad status", query("selectCmDevice", "10", "Sleeping", "Name", "*"), nil, 500, "Status"},
		{"bad max", query("selectCmDevice", "many", "Any", "Name", "*"), nil, 500, "MaxReturnedDevices"},
		{"DTD", `<!DOCTYPE x [<!ENTITY a "b">]>` + q, nil, 500, "DTD"},
	} {
		status, body := r.post(c.body, c.auth...)
		if status != c.status || !strings.Contains(body, c.want) || !strings.Contains(body, "<soapenv:Fault>") {
			t.Errorf("%s: HTTP %d, want %d with %q\n%s", c.name, status, c.status, c.want, body)
		}
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(m.Run())
}

// TestQueryThrottle: with CUCM's query limit emulated, a query over it
// gets CUCM's RateControl fault.
func TestQueryThrottle(t *testing.T) {
	c := coretest.New(t, coretest.Options{})
	if err := c.Svc.SeedAppUser(context.Background(), password); err != nil {
		t.Fatal(err)
	}
	h, err := risport.New(risport.Options{Service: c.Svc, MaxQueriesPerMinute: 1, Now: c.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	r := &rig{t: t, url: srv.URL, core: c}
	r.ok(query("selectCmDevice", "10", "Any", "Name", "*"))
	status, body := r.post(query("selectCmDevice", "10", "Any", "Name", "*"))
	if status != 500 || !strings.Contains(body, "<faultcode>soapenv:Server.RateControl</faultcode>") || !strings.Contains(body, "Exceeded allowed rate for Reatime information") {
		t.Fatalf("second query: %d\n%s", status, body)
	}
	c.Clock.(*coretest.Clock).Advance(time.Minute)
	r.ok(query("selectCmDevice", "10", "Any", "Name", "*"))
}

// TestRisPortMetrics: queries are counted by operation and status, and
// the series pass the audit.
func TestRisPortMetrics(t *testing.T) {
	c := coretest.New(t, coretest.Options{})
	if err := c.Svc.SeedAppUser(context.Background(), password); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := risport.New(risport.Options{Service: c.Svc, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	r := &rig{t: t, url: srv.URL, core: c}
	r.ok(query("selectCmDeviceExt", "10", "Any", "Name", "*"))
	r.post(query("selectCmDevice", "10", "Any", "Name", "*"), provision.DefaultAppUser, "wrong")
	want := `
# HELP selfprov_risport_requests_total RisPort70 requests by operation (_other for one not served) and HTTP status.
# TYPE selfprov_risport_requests_total counter
selfprov_risport_requests_total{operation="_other",status="401"} 1
selfprov_risport_requests_total{operation="selectCmDeviceExt",status="200"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "selfprov_risport_requests_total"); err != nil {
		t.Fatal(err)
	}
	metrictest.Audit(t, reg)
}
