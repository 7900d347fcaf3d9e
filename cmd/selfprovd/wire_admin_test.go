package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"selfprov/internal/testkit"
	"selfprov/phonesim"
	"selfprov/telemetry/metrictest"
)

// scrape reads the daemon's /metrics as a Gatherer.
func scrape(t *testing.T, hc *http.Client, base string) prometheus.Gatherer {
	t.Helper()
	text := scrapeText(t, hc, base)
	g, err := metrictest.Text(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, text)
	}
	return g
}

func scrapeText(t *testing.T, hc *http.Client, base string) string {
	t.Helper()
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	return string(data)
}

// TestDaemonMetricsPassPromtool runs the real promtool over the running
// daemon's exposition, every subsystem included.
func TestDaemonMetricsPassPromtool(t *testing.T) {
	promtool := testkit.Peer(t, "promtool", "prometheus")
	r := startDaemon(t, loopbackFlags(t.TempDir())...)
	hc := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + r.addrs.Admin
	hc.Get(base + "/api/v1/cluster") // a 401, so the admin series exist
	text := scrapeText(t, hc, base)
	for _, want := range []string{"selfprov_build_info", "selfprov_admin_requests_total", "selfprov_sip_bindings"} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// adminClient talks to the daemon's admin listener.
type adminClient struct {
	t     *testing.T
	base  string
	token string
	hc    *http.Client
}

// newAdminClient talks to r's admin API with the token generated into dir.
func newAdminClient(t *testing.T, r *daemonRun, dir string) *adminClient {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	return &adminClient{t: t, base: "http://" + r.addrs.Admin, token: strings.TrimSpace(string(tok)), hc: &http.Client{Timeout: 10 * time.Second}}
}

func (c *adminClient) do(method, path, body string, want int, out any) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d, want %d\n%s", method, path, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: %v\n%s", method, path, err, data)
		}
	}
}

// TestAdminAgainstTheDaemon drives the admin API of a running selfprovd
// with a simulated phone: live registrations, restart, a cluster change
// that applies at once, and the token and change surviving a restart.
func TestAdminAgainstTheDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("starts selfprovd")
	}
	dir := t.TempDir()
	r := startDaemon(t, loopbackFlags(dir)...)
	tokenPath := filepath.Join(dir, "admin-token")
	fi, err := os.Stat(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin-token mode %04o, want 0600", fi.Mode().Perm())
	}
	tok, err := os.ReadFile(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	c := &adminClient{t: t, base: "http://" + r.addrs.Admin, token: strings.TrimSpace(string(tok)), hc: hc}

	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := hc.Get(c.base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}

	// An unknown phone registers, is auto-registered and stays registered.
	ua := phonesim.NewUA()
	t.Cleanup(func() { ua.Close() })
	var mu sync.Mutex
	var trace []string
	env := &phonesim.Env{
		Fetcher: phonesim.Fetcher{TFTP: r.addrs.TFTP, HTTP: r.addrs.Config, Client: hc},
		UA:      ua, SIP: r.addrs.SIP, HTTP: hc, NotifyTimeout: 15 * time.Second,
		Trace: func(tr phonesim.Trace) {
			mu.Lock()
			trace = append(trace, tr.Step+" "+tr.Dir+" "+tr.Line)
			mu.Unlock()
		},
	}
	mac := phonesim.FleetMAC(0xad01, 1)
	p := phonesim.NewPhone(env, mac, phonesim.Models["8845"], phonesim.ModeRegister, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hold, stopHold := context.WithCancel(ctx)
	defer stopHold()
	if res := p.Run(ctx, hold); res.Err != nil {
		t.Fatalf("phone: %s: %v", res.Outcome, res.Err)
	}
	defer p.Stop(ctx, true)

	var regs struct {
		Items []struct {
			DeviceName, Transport, Source, CallID string
			Expires                               time.Time
		}
	}
	c.do("GET", "/api/v1/registrations", "", 200, &regs)
	found := false
	for _, b := range regs.Items {
		if b.DeviceName == mac.DeviceName() {
			found = b.Transport != "" && b.Source != "" && b.CallID != "" && b.Expires.After(time.Now())
		}
	}
	if !found {
		t.Fatalf("registrations lack a full binding of %s: %+v", mac.DeviceName(), regs.Items)
	}

	// Restart through the API reaches the phone as a service-control
	// NOTIFY, after the one auto-registration sent.
	restarts := func() int {
		mu.Lock()
		defer mu.Unlock()
		return strings.Count(strings.Join(trace, "\n"), "notify <- NOTIFY")
	}
	waitRestarts := func(n int) {
		t.Helper()
		testkit.WaitWithin(t, 15*time.Second, fmt.Sprintf("%d NOTIFYs at the phone", n), func() bool { return restarts() >= n },
			func() string {
				got := restarts()
				mu.Lock()
				defer mu.Unlock()
				return fmt.Sprintf("%d reached it:\n%s", got, strings.Join(trace, "\n"))
			})
	}
	waitRestarts(1)
	c.do("POST", "/api/v1/devices/"+strings.ToLower(mac.DeviceName())+"/restart", "", 202, nil)
	waitRestarts(2)
	mu.Lock()
	last := trace[len(trace)-1]
	for i := len(trace) - 1; i >= 0; i-- {
		if strings.HasPrefix(trace[i], "notify <- NOTIFY") {
			last = trace[i]
			break
		}
	}
	mu.Unlock()
	if !strings.Contains(last, "action=restart") {
		t.Fatalf("the API's NOTIFY is not a restart: %s", last)
	}

	// With a phone registered and the API used, every subsystem's metrics
	// pass the audit, and the README lists each of them.
	metrictest.Audit(t, scrape(t, hc, c.base))
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(scrapeText(t, hc, c.base), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" && strings.HasPrefix(f[2], "selfprov_") &&
			!strings.Contains(string(readme), "`"+f[2]+"`") {
			t.Errorf("metric %s is not in the metrics table of README.md (Operations)", f[2])
		}
	}

	// Auto-registration off applies to the next unknown phone at once.
	c.do("PATCH", "/api/v1/cluster", `{"autoRegistration":{"enabled":false}}`, 200, nil)
	q := phonesim.NewPhone(env, phonesim.FleetMAC(0xad01, 2), phonesim.Models["8845"], phonesim.ModeRegister, nil)
	res := q.Run(ctx, ctx)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "AUTOREG_DISABLED") {
		t.Fatalf("unknown phone with auto-registration off: %s %v", res.Outcome, res.Err)
	}
	q.Stop(ctx, false)
	if err := p.Stop(ctx, true); err != nil {
		t.Fatalf("unregister: %v", err)
	}
	stopHold()
	// Unregistered: a reset has nowhere to go, and the API says so.
	var refused struct{ Code string }
	c.do("POST", "/api/v1/devices/"+mac.DeviceName()+"/reset", "", 409, &refused)
	if refused.Code != "NOT_REGISTERED" {
		t.Fatalf("reset of an unregistered phone: code %q, want NOT_REGISTERED", refused.Code)
	}

	if code := r.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	r2 := startDaemon(t, loopbackFlags(dir)...)
	c.base = "http://" + r2.addrs.Admin
	var cl struct {
		AutoRegistration struct{ Enabled bool }
	}
	c.do("GET", "/api/v1/cluster", "", 200, &cl) // the same token still works
	if cl.AutoRegistration.Enabled {
		t.Fatal("auto-registration is on again after a restart")
	}
}
