package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"selfprov/phonecfg"
	"selfprov/provision"
)

// A daemon started with a configuration that holds only a user has the
// "Auto-registration Template" from its first start: the admin API lists
// it, a Webex client of the user gets its settings with the idle URL at
// the advertised address, and a restart keeps the administrator's change.
func TestMinimalConfigHasTheAutoRegistrationTemplate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts selfprovd")
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(t.TempDir(), "minimal.yaml")
	if err := os.WriteFile(cfgPath, []byte("users:\n  - {userId: ann, lastName: Ash, primaryExtension: \"3001\", pin: \"1234\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-config", cfgPath}, loopbackFlags(dir)...)
	r := startDaemon(t, args...)
	c := newAdminClient(t, r, dir)
	hc := c.hc
	templates := func() []provision.UDT {
		var list struct{ Items []provision.UDT }
		c.do("GET", "/api/v1/udts", "", 200, &list)
		var out []provision.UDT
		for _, u := range list.Items {
			if u.Name == provision.AutoRegistrationTemplate {
				out = append(out, u)
			}
		}
		return out
	}
	if got := templates(); len(got) != 1 || !strings.Contains(got[0].IdleURL, "/xps/idle?name=#DEVICENAME#") {
		t.Fatalf("auto-registration templates listed: %+v", got)
	}

	// Webex auto-provisioning falls back to it (the user has no profile
	// and no device). The user's credentials go along.
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.addrs.Services+"/devicemanagement/v1/clientAutoProv/createDevice",
		strings.NewReader(`{"userId":"ann","platform":"windows","appVersion":"41.12"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("ann", "1234")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got struct {
		DeviceName string `json:"deviceName"`
	}
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != http.StatusCreated || got.DeviceName != "CSFann" {
		t.Fatalf("createDevice: %s %s", resp.Status, body)
	}
	resp, err = hc.Get("http://" + r.addrs.Config + "/CSFann.cnf.xml")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	cfg, err := phonecfg.Parse(body)
	if err != nil {
		t.Fatalf("CSFann.cnf.xml: %s: %v", resp.Status, err)
	}
	if want := "http://" + r.addrs.Services + "/xps/idle?name=CSFann"; cfg.IdleURL != want {
		t.Fatalf("idle URL %q, want %q", cfg.IdleURL, want)
	}
	resp, err = hc.Get(cfg.IdleURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		t.Fatalf("the idle URL %s is not served", cfg.IdleURL)
	}

	// The administrator points it at an IP; a restart keeps that.
	c.do("PUT", "/api/v1/udts/Auto-registration%20Template", `{"idleURL":"http://192.0.2.7:8080/xps/idle?name=#DEVICENAME#","idleTimeout":30}`, 200, nil)
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, r.stderr.String())
	}
	r = startDaemon(t, args...)
	c.base = "http://" + r.addrs.Admin
	if got := templates(); len(got) != 1 || got[0].IdleURL != "http://192.0.2.7:8080/xps/idle?name=#DEVICENAME#" || got[0].IdleTimeout != 30 {
		t.Fatalf("after restart: %+v", got)
	}
}

// A phone's config keeps its versionStamp across a restart with the same
// settings, and gets a new one when the SIP port written into it changes.
func TestStampFollowsTheSIPPortAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts selfprovd")
	}
	dir := t.TempDir()
	r := startDaemon(t, loopbackFlags(dir)...)
	c := newAdminClient(t, r, dir)
	hc := c.hc
	c.do("POST", "/api/v1/quick-add", `{"user":{"userId":"zoe","lastName":"Z","primaryExtension":"3500"},"featureGroupTemplate":"Standard Users","deviceMAC":"0C0000000042","deviceModel":36224}`, 201, nil)
	fetch := func(r *daemonRun) *phonecfg.Config {
		t.Helper()
		resp, err := hc.Get("http://" + r.addrs.Config + "/SEP0C0000000042.cnf.xml")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cfg, err := phonecfg.Parse(body)
		if err != nil {
			t.Fatalf("%s: %v", resp.Status, err)
		}
		return cfg
	}
	before := fetch(r)
	sipAddr := r.addrs.SIP
	r.stop(t)

	// Same settings, the SIP port given as the one bound before.
	r = startDaemon(t, append(loopbackFlags(dir), "-listen.sip", sipAddr)...)
	if same := fetch(r); same.VersionStamp != before.VersionStamp {
		t.Fatalf("restart with the same settings: stamp %s, was %s", same.VersionStamp, before.VersionStamp)
	}
	r.stop(t)

	r = startDaemon(t, loopbackFlags(dir)...) // another SIP port
	after := fetch(r)
	if after.CallManagers[0].SIPPort == before.CallManagers[0].SIPPort {
		t.Skip("the kernel gave the same SIP port again")
	}
	if after.VersionStamp == before.VersionStamp {
		t.Fatalf("sipPort %d -> %d kept the stamp %s", before.CallManagers[0].SIPPort, after.CallManagers[0].SIPPort, after.VersionStamp)
	}
}
