package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"selfprov/admin"
	"selfprov/cucmapi"
	"selfprov/internal/testkit"
	"selfprov/provision"
)

// The npm clients labs drive CUCM with, pinned.
const npmClients = "cisco-axl@1.2.5 cisco-risport@3.0.3"

var npmOnce struct {
	sync.Once
	dir string
	err error
}

// npmModules installs the pinned clients once into a cache directory
// (SELFPROV_NPM_DIR, else the user cache) and returns its node_modules.
func npmModules(t *testing.T) string {
	t.Helper()
	testkit.Peer(t, "node", "nodejs")
	npm := testkit.Peer(t, "npm", "npm")
	npmOnce.Do(func() {
		dir := os.Getenv("SELFPROV_NPM_DIR")
		if dir == "" {
			cache, err := os.UserCacheDir()
			if err != nil {
				cache = os.TempDir()
			}
			dir = filepath.Join(cache, "selfprov-interop", strings.NewReplacer("@", "-", " ", "_").Replace(npmClients))
		}
		npmOnce.dir = filepath.Join(dir, "node_modules")
		if _, err := os.Stat(filepath.Join(npmOnce.dir, "cisco-risport", "package.json")); err == nil {
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			npmOnce.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		args := append([]string{"install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error"}, strings.Fields(npmClients)...)
		if out, err := exec.CommandContext(ctx, npm, args...).CombinedOutput(); err != nil {
			npmOnce.err = err
			npmOnce.dir = string(out)
		}
	})
	if npmOnce.err != nil {
		t.Fatalf("npm install %s: %v\n%s", npmClients, npmOnce.err, npmOnce.dir)
	}
	return npmOnce.dir
}

// runNode runs a script of testdata with the clients installed, trusting
// the daemon's self-signed certificate as rigs do in labs.
func runNode(t *testing.T, modules, script string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "NODE_TLS_REJECT_UNAUTHORIZED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s\n%s", script, err, out, stderr.String())
	}
	return out
}

type rigStep struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Fault  struct {
		AXLCode    string `json:"axlcode"`
		AXLMessage string `json:"axlmessage"`
		Error      string `json:"error"`
	} `json:"fault"`
}

// TestInteropCiscoAXL drives the daemon with the cisco-axl client (Cisco's
// WSDL through strong-soap) on CUCM's port: the version; a user, a line
// and a phone with that line added, read, listed with a wildcard,
// updated and removed; and one fault of each class.
func TestInteropCiscoAXL(t *testing.T) {
	modules := npmModules(t)
	// Each schema version through its own WSDL, one daemon after another
	// on the client's fixed port.
	for _, version := range []string{"11.0", "12.5", "14.0", "15.0"} {
		t.Run(version, func(t *testing.T) { axlRig(t, modules, version) })
	}
}

func axlRig(t *testing.T, modules, version string) {
	dir := t.TempDir()
	r := startDaemon(t, append(loopbackFlags(dir), "-listen.https", "127.0.0.23:8443")...)
	pw, err := os.ReadFile(filepath.Join(dir, cucmapi.PasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	out := runNode(t, modules, filepath.Join("testdata", "axl", "rig.js"), "127.0.0.23", "administrator", strings.TrimSpace(string(pw)), version)
	var steps map[string]rigStep
	if err := json.Unmarshal(out, &steps); err != nil {
		t.Fatalf("rig output: %v\n%s", err, out)
	}
	okSteps := []string{"version", "addUser", "addLine", "addPhone", "getPhone", "listPhone", "updatePhone", "getPhoneAfterUpdate",
		"getUser", "listUser", "updateUser", "getLine", "listLine", "updateLine", "applyPhone", "listCallManager", "updateCallManager",
		"getCallManager", "updateSelfProvisioning", "removePhone", "removeLine", "removeUser"}
	for _, name := range okSteps {
		if s, ok := steps[name]; !ok || !s.OK {
			t.Errorf("%s failed: %+v", name, s.Fault)
		}
	}
	want := map[string]string{
		"version":             `"version":"` + version + `.`,
		"getPhone":            `"dirn":{"attributes":{"uuid":`,
		"listPhone":           `"name":"SEP0011223366AA","product":"Cisco 8845","ownerUserName":"axlrig"`,
		"getPhoneAfterUpdate": `"description":"rig phone, updated"`,
		"getUser":             `"associatedDevices":{"device":["SEP0011223366AA"]}`,
		"listUser":            `"userid":"axlrig"`,
		"getLine":             `"alertingName":"Axl Rig"`,
		"listLine":            `"pattern":"2401"`,
		"listCallManager":     `"name":"CM_127.0.0.1"`,
		"getCallManager":      `"startDn":"4000","endDn":"4099"`,
	}
	for name, s := range want {
		if got := string(steps[name].Result); !strings.Contains(got, s) {
			t.Errorf("%s: %s does not hold %s", name, got, s)
		}
	}
	// The settings reached the core: the admin API shows them.
	var cluster struct {
		AutoRegistration struct {
			Enabled        bool
			StartDN, EndDN string
		} `json:"autoRegistration"`
		AuthMode provision.AuthMode `json:"authMode"`
	}
	token, err := os.ReadFile(filepath.Join(dir, admin.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	api := &adminClient{t: t, base: "http://" + r.addrs.Admin, token: strings.TrimSpace(string(token)), hc: &http.Client{Timeout: 10 * time.Second}}
	api.do("GET", "/api/v1/cluster", "", 200, &cluster)
	if ar := cluster.AutoRegistration; !ar.Enabled || ar.StartDN != "4000" || ar.EndDN != "4099" || cluster.AuthMode != provision.AuthUsersAndAdmin {
		t.Errorf("cluster after the rig: %+v", cluster)
	}
	for name, code := range map[string]string{"faultAuth": "401", "faultDuplicate": "-239", "faultNotFound": "5007", "faultBadRequest": "5003", "getPhoneAfterRemove": "5007"} {
		if s := steps[name]; s.OK || s.Fault.AXLCode != code {
			t.Errorf("%s: ok %v, fault %+v; want axlcode %s", name, s.OK, s.Fault, code)
		}
	}
}
