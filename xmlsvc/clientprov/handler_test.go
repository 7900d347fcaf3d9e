package clientprov_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"selfprov/configs"
	"selfprov/internal/coretest"
	"selfprov/internal/testkit"
	"selfprov/provision"
	"selfprov/store/sqlite"
	"selfprov/xmlsvc/clientprov"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

type env struct {
	svc   *provision.Service
	st    *sqlite.Store
	clock *coretest.Clock
	reg   *prometheus.Registry
	srv   *httptest.Server
	// user and secret are the HTTP Basic credentials requests carry
	// (alice's unless a test says otherwise; none when both are empty).
	user, secret string
}

// as makes the following requests carry id's credentials.
func (e *env) as(id, secret string) { e.user, e.secret = id, secret }

// newEnv serves the handler on 127.0.0.1:0 over a fresh store seeded with
// the demo configuration.
func newEnv(t testing.TB, change func(*configs.Config)) *env {
	t.Helper()
	clock := coretest.NewClock(coretest.Epoch)
	c := coretest.New(t, coretest.Options{Change: change, Clock: clock})
	e := &env{svc: c.Svc, st: c.Store, clock: clock, reg: prometheus.NewRegistry(), user: "alice", secret: "12345"}
	log := slog.New(slog.DiscardHandler)
	h, err := clientprov.New(clientprov.Options{Service: e.svc, Logger: log, Registerer: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h.Mux())
	t.Cleanup(e.srv.Close)
	return e
}

var client = &http.Client{Timeout: 10 * time.Second}

func (e *env) do(t testing.TB, method, path, contentType, accept string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if e.user != "" || e.secret != "" {
		req.SetBasicAuth(e.user, e.secret)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func (e *env) create(t testing.TB, body string) (*http.Response, []byte) {
	t.Helper()
	return e.do(t, http.MethodPost, "/devicemanagement/v1/clientAutoProv/createDevice", "application/json", "", strings.NewReader(body))
}

func (e *env) deviceCount(t testing.TB) int {
	t.Helper()
	ds, err := e.st.Devices(context.Background(), provision.DeviceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(ds)
}

func body(user, platform, version string) string {
	b, _ := json.Marshal(clientprov.CreateRequest{UserID: user, Platform: platform, AppVersion: version})
	return string(b)
}

func TestCreateDeviceThenSignInAgain(t *testing.T) {
	e := newEnv(t, nil)
	resp, b := e.create(t, `{"userId":"alice","email":"alice@example.com","platform":"iphone","appVersion":"41.12.0.1234"}`)
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%s %s: %s", resp.Status, resp.Header.Get("Content-Type"), b)
	}
	var got clientprov.CreateResponse
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.DeviceName != "TCTALICE" || got.DeviceType != "TCT" || !got.Created || got.Model != 562 || got.Product != "Cisco Dual Mode for iPhone" ||
		got.Owner != "alice" || got.ConfigFile != "TCTALICE.cnf.xml" || got.ButtonTemplate != "Standard Dual Mode for iPhone" ||
		len(got.Lines) != 1 || got.Lines[0].DN != "2001" || got.ConfigVersion == "" {
		t.Fatalf("%+v", got)
	}
	if loc := resp.Header.Get("Location"); loc != "/cucm-uds/user/alice/devices" {
		t.Fatalf("Location %q", loc)
	}
	resp, b = e.create(t, body("alice", "iphone", "42.0"))
	var again clientprov.CreateResponse
	if err := json.Unmarshal(b, &again); err != nil || resp.StatusCode != http.StatusOK || again.Created || again.DeviceName != "TCTALICE" || again.ConfigVersion != got.ConfigVersion {
		t.Fatalf("%s %+v %v", resp.Status, again, err)
	}
	if n := e.deviceCount(t); n != 1 {
		t.Fatalf("%d devices", n)
	}
	want := `# HELP selfprov_clientprov_devices_created_total Webex App devices created, by device type (CSF, BOT, TCT, TAB).
# TYPE selfprov_clientprov_devices_created_total counter
selfprov_clientprov_devices_created_total{type="TCT"} 1
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want), "selfprov_clientprov_devices_created_total"); err != nil {
		t.Fatal(err)
	}
}

func TestCreateDeviceAllPlatforms(t *testing.T) {
	e := newEnv(t, nil)
	want := map[string]string{"windows": "CSFbob", "mac": "CSFbob", "android": "BOTBOB", "iphone": "TCTBOB", "ipad": "TABBOB", "chromebook": "TABBOB"}
	e.as("bob@example.com", "12345")
	for _, p := range []string{"windows", "mac", "android", "iphone", "ipad", "chromebook"} {
		resp, b := e.create(t, body("bob@example.com", p, "41.12"))
		var got clientprov.CreateResponse
		if err := json.Unmarshal(b, &got); err != nil || got.DeviceName != want[p] || (resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK) {
			t.Fatalf("%s: %s %s", p, resp.Status, b)
		}
	}
	if n := e.deviceCount(t); n != 4 {
		t.Fatalf("%d devices, want 4", n)
	}
}

// TestBadInput: each case gets a JSON error carrying its code, and nothing
// is created.
func TestBadInput(t *testing.T) {
	e := newEnv(t, nil)
	long := strings.Repeat("a", 5000)
	tests := []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"unknown user", "application/json", body("nobody", "windows", "41.12"), 403, provision.CodeUserMismatch},
		{"unknown email", "application/json", body("nobody@example.com", "windows", "41.12"), 403, provision.CodeUserMismatch},
		{"email of another user", "application/json", `{"userId":"alice","email":"bob@example.com","platform":"windows","appVersion":"41.12"}`, 403, provision.CodeAutoProvEmail},
		{"malformed JSON", "application/json", `{"userId":"alice",`, 400, provision.CodeInvalid},
		{"not an object", "application/json", `["alice"]`, 400, provision.CodeInvalid},
		{"number for a string", "application/json", `{"userId":42,"platform":"windows","appVersion":"41.12"}`, 400, provision.CodeInvalid},
		{"two objects", "application/json", body("alice", "windows", "41.12") + body("bob", "windows", "41.12"), 400, provision.CodeInvalid},
		{"empty body", "application/json", ``, 400, provision.CodeInvalid},
		{"null", "application/json", `null`, 400, provision.CodeAutoProvPlatform},
		{"unknown platform", "application/json", body("alice", "symbian", "41.12"), 400, provision.CodeAutoProvPlatform},
		{"no platform", "application/json", `{"userId":"alice","appVersion":"41.12"}`, 400, provision.CodeAutoProvPlatform},
		{"version 41", "application/json", body("alice", "windows", "41"), 400, provision.CodeAutoProvVersion},
		{"version abc", "application/json", body("alice", "windows", "abc"), 400, provision.CodeAutoProvVersion},
		{"version 41.11.9.9999", "application/json", body("alice", "windows", "41.11.9.9999"), 400, provision.CodeAutoProvVersion},
		{"no version", "application/json", `{"userId":"alice","platform":"windows"}`, 400, provision.CodeAutoProvVersion},
		{"very long user ID", "application/json", body(long, "windows", "41.12"), 400, provision.CodeInvalid},
		{"user ID with @", "application/json", body("al@ice", "windows", "41.12"), 403, provision.CodeUserMismatch},
		{"user ID unicode", "application/json", body("アリス", "windows", "41.12"), 403, provision.CodeUserMismatch},
		{"another user", "application/json", body("bob", "windows", "41.12"), 403, provision.CodeUserMismatch},
		{"user ID with space", "application/json", body("al ice", "windows", "41.12"), 400, provision.CodeInvalid},
		{"body too large", "application/json", `{"userId":"` + strings.Repeat("a", 20000) + `"}`, 413, "REQUEST_TOO_LARGE"},
		{"form content type", "application/x-www-form-urlencoded", `userId=alice`, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"bad content type", "application/json; =", body("alice", "windows", "41.12"), 415, "UNSUPPORTED_MEDIA_TYPE"},
	}
	tests = append(tests, struct {
		name, contentType, body string
		status                  int
		code                    string
	}{"no primary extension", "application/json", body("dave", "windows", "41.12"), 422, provision.CodeNoPrimaryExtension})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.code == provision.CodeNoPrimaryExtension {
				e.as("dave", "12345")
			}
			resp, b := e.do(t, http.MethodPost, "/devicemanagement/v1/clientAutoProv/createDevice", tt.contentType, "", strings.NewReader(tt.body))
			var got clientprov.ErrorBody
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%s: body %q is not JSON: %v", resp.Status, b, err)
			}
			if resp.StatusCode != tt.status || got.Error.Code != tt.code || got.Error.Message == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("%s %+v; want %d %s", resp.Status, got, tt.status, tt.code)
			}
			if len(got.Error.Message) > 400 {
				t.Fatalf("message of %d bytes echoes the input", len(got.Error.Message))
			}
			if n := e.deviceCount(t); n != 0 {
				t.Fatalf("%d devices created", n)
			}
		})
	}
}

func TestCoolDownRetryAfter(t *testing.T) {
	e := newEnv(t, nil)
	if resp, b := e.create(t, body("alice", "android", "41.12")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("%s %s", resp.Status, b)
	}
	if err := e.svc.DeleteDevice(context.Background(), "BOTALICE"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(90 * time.Second)
	resp, b := e.create(t, body("alice", "android", "41.12"))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "510" || !bytes.Contains(b, []byte(provision.CodeAutoProvCoolDown)) {
		t.Fatalf("%s Retry-After %q %s", resp.Status, resp.Header.Get("Retry-After"), b)
	}
}

func TestPolicyAtRunTime(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.svc.UpdateCluster(ctx, func(c *provision.Cluster) error { c.WebexPolicy = provision.WebexMobileOnly; return nil }); err != nil {
		t.Fatal(err)
	}
	if resp, b := e.create(t, body("alice", "windows", "41.12")); resp.StatusCode != http.StatusForbidden || !bytes.Contains(b, []byte(provision.CodeAutoProvPolicy)) {
		t.Fatalf("%s %s", resp.Status, b)
	}
	u, err := e.st.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	u.WebexPolicy = provision.WebexDesktopOnly
	if _, err := e.svc.UpdateUser(ctx, u, provision.Secrets{}); err != nil {
		t.Fatal(err)
	}
	if resp, b := e.create(t, body("alice", "windows", "41.12")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("%s %s", resp.Status, b)
	}
	if resp, b := e.create(t, body("alice", "android", "41.12")); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("%s %s", resp.Status, b)
	}
}

func TestWrongMethod(t *testing.T) {
	e := newEnv(t, nil)
	resp, _ := e.do(t, http.MethodGet, "/devicemanagement/v1/clientAutoProv/createDevice", "", "", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatal(resp.Status)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", name), got, *update)
}

func TestSupportedServicesGolden(t *testing.T) {
	e := newEnv(t, nil)
	resp, b := e.do(t, http.MethodGet, "/ucmservices/v1/supportedServices", "", "", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatal(resp.Status, resp.Header)
	}
	golden(t, "supportedServices.golden.json", b)
}

func TestUserDevices(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) {
		c.Users = append(c.Users, configs.UserConfig{ID: "o'hara&co", FirstName: "<Ann>", LastName: "O'Hara", PrimaryExtension: "3001", UserProfile: "Standard User Profile", PIN: "4321"})
	})
	e.as("o'hara&co", "4321")
	for _, p := range []string{"windows", "android", "ipad"} {
		if resp, b := e.create(t, body("o'hara&co", p, "41.12")); resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s %s", resp.Status, b)
		}
	}
	resp, b := e.do(t, http.MethodGet, "/cucm-uds/user/o%27hara&co/devices", "", "", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/xml; charset=utf-8" {
		t.Fatalf("%s %s", resp.Status, b)
	}
	golden(t, "devices.golden.xml", b)

	resp, b = e.do(t, http.MethodGet, "/cucm-uds/user/o%27hara&co/devices", "", "application/json", nil)
	var got clientprov.Devices
	if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != http.StatusOK || len(got.Devices) != 3 || got.Devices[0].Name != "BOTOHARACO" ||
		got.Devices[1].Name != "CSFoharaco" || got.Devices[2].Type != "tablet" || got.Devices[0].Lines[0].DN != "3001" {
		t.Fatalf("%s %+v %v", resp.Status, got, err)
	}

	e.as("bob", "12345")
	resp, b = e.do(t, http.MethodGet, "/cucm-uds/user/bob/devices", "", "application/json", nil)
	if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != http.StatusOK || len(got.Devices) != 0 || !bytes.Contains(b, []byte(`"devices": []`)) {
		t.Fatalf("%s %s", resp.Status, b)
	}
}

func TestUserDevicesBadInput(t *testing.T) {
	e := newEnv(t, nil)
	for _, tt := range []struct {
		path   string
		status int
		code   string
	}{
		{"/cucm-uds/user/nobody/devices", 403, provision.CodeUserMismatch},
		{"/cucm-uds/user/bob/devices", 403, provision.CodeUserMismatch},
		{"/cucm-uds/user/" + strings.Repeat("x", 3000) + "/devices", 400, provision.CodeInvalid},
		{"/cucm-uds/user/al@ice/devices", 403, provision.CodeUserMismatch},
		{"/cucm-uds/user/%E3%82%A2/devices", 403, provision.CodeUserMismatch},
		{"/cucm-uds/user/%FF/devices", 400, provision.CodeInvalid},
	} {
		resp, b := e.do(t, http.MethodGet, tt.path, "", "", nil)
		if resp.StatusCode != tt.status || !bytes.Contains(b, []byte("<code>"+tt.code+"</code>")) {
			t.Errorf("%.60s: %s %s", tt.path, resp.Status, b)
		}
		resp, b = e.do(t, http.MethodGet, tt.path, "", "application/json", nil)
		var eb clientprov.ErrorBody
		if err := json.Unmarshal(b, &eb); err != nil || resp.StatusCode != tt.status || eb.Error.Code != tt.code {
			t.Errorf("%.60s as JSON: %s %s", tt.path, resp.Status, b)
		}
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	e.create(t, body("alice", "windows", "41.12"))
	e.create(t, body("alice", "windows", "41"))
	e.do(t, http.MethodGet, "/ucmservices/v1/supportedServices", "", "", nil)
	e.do(t, http.MethodGet, "/cucm-uds/user/alice/devices", "", "", nil)
	want := `# HELP selfprov_clientprov_requests_total Client auto-provisioning requests by endpoint and outcome code (OK on success).
# TYPE selfprov_clientprov_requests_total counter
selfprov_clientprov_requests_total{code="AUTOPROV_UNSUPPORTED_VERSION",endpoint="createDevice"} 1
selfprov_clientprov_requests_total{code="OK",endpoint="createDevice"} 1
selfprov_clientprov_requests_total{code="OK",endpoint="supportedServices"} 1
selfprov_clientprov_requests_total{code="OK",endpoint="userDevices"} 1
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want), "selfprov_clientprov_requests_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(e.reg, "selfprov_clientprov_request_duration_seconds"); n != 3 {
		t.Errorf("%d duration series, want 3", n)
	}
	problems, err := testutil.GatherAndLint(e.reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("promlint: %v %v", problems, err)
	}
}

// BenchmarkCreateDeviceSignInAgain: a Webex App start over HTTP on
// loopback, the device already there.
func BenchmarkCreateDeviceSignInAgain(b *testing.B) {
	e := newEnv(b, nil)
	req := body("alice", "windows", "41.12.0.1234")
	if resp, out := e.create(b, req); resp.StatusCode != http.StatusCreated {
		b.Fatalf("%s %s", resp.Status, out)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if resp, out := e.create(b, req); resp.StatusCode != http.StatusOK {
			b.Fatalf("%s %s", resp.Status, out)
		}
	}
}
