package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"selfprov/cucmapi"
	"selfprov/phonesim"
)

// risDevice is a device as the cisco-risport library returns it.
type risDevice struct {
	Name        string `json:"Name"`
	DirNumber   string `json:"DirNumber"`
	Status      string `json:"Status"`
	Model       string `json:"Model"`
	LoginUserID string `json:"LoginUserId"`
	IPAddress   struct {
		Item json.RawMessage `json:"item"`
	} `json:"IPAddress"`
}

// risDevices flattens the library's per-node results.
func risDevices(t *testing.T, out []byte) []risDevice {
	t.Helper()
	var nodes []struct {
		CmDevices struct {
			Item json.RawMessage `json:"item"`
		} `json:"CmDevices"`
	}
	if err := json.Unmarshal(out, &nodes); err != nil {
		var one struct {
			CmDevices struct {
				Item json.RawMessage `json:"item"`
			} `json:"CmDevices"`
		}
		if err2 := json.Unmarshal(out, &one); err2 != nil {
			t.Fatalf("risport output: %v\n%s", err, out)
		}
		nodes = append(nodes[:0], one)
	}
	var all []risDevice
	for _, n := range nodes {
		if len(n.CmDevices.Item) == 0 {
			continue
		}
		var many []risDevice
		if err := json.Unmarshal(n.CmDevices.Item, &many); err != nil {
			var one risDevice
			if err := json.Unmarshal(n.CmDevices.Item, &one); err != nil {
				t.Fatalf("CmDevices: %v\n%s", err, n.CmDevices.Item)
			}
			many = []risDevice{one}
		}
		all = append(all, many...)
	}
	return all
}

// TestInteropCiscoRisPort registers a phonesim fleet and lists it through
// the cisco-risport library (selectCmDevice and selectCmDeviceExt) and its
// CLI as Registered with DN, address and model; a reset through the
// cisco-axl client reaches a phone as a NOTIFY; after the fleet leaves,
// RisPort lists it UnRegistered.
func TestInteropCiscoRisPort(t *testing.T) {
	modules := npmModules(t)
	const host = "127.0.0.24"
	dir := t.TempDir()
	r := startDaemon(t, append(loopbackFlags(dir), "-listen.https", host+":8443")...)
	pwb, err := os.ReadFile(filepath.Join(dir, cucmapi.PasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(string(pwb))

	ua := phonesim.NewUA()
	t.Cleanup(func() { ua.Close() })
	var mu sync.Mutex
	notifies := map[string]int{}
	hc := &http.Client{Timeout: 10 * time.Second}
	env := &phonesim.Env{
		Fetcher: phonesim.Fetcher{TFTP: r.addrs.TFTP, HTTP: r.addrs.Config, Client: hc},
		UA:      ua, SIP: r.addrs.SIP, HTTP: hc, NotifyTimeout: 15 * time.Second,
		Trace: func(tr phonesim.Trace) {
			if strings.Contains(tr.Dir+" "+tr.Line, "<- NOTIFY") {
				mu.Lock()
				notifies[tr.Device]++
				mu.Unlock()
			}
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hold, stopHold := context.WithCancel(ctx)
	defer stopHold()
	const n = 3
	var phones []*phonesim.Phone
	for i := range n {
		p := phonesim.NewPhone(env, phonesim.FleetMAC(0x7150, i), phonesim.Models["8845"], phonesim.ModeRegister, nil)
		if res := p.Run(ctx, hold); res.Err != nil {
			t.Fatalf("phone %d: %s: %v", i, res.Outcome, res.Err)
		}
		phones = append(phones, p)
	}
	names := make([]string, n)
	for i := range n {
		names[i] = phonesim.FleetMAC(0x7150, i).DeviceName()
	}
	pattern := names[0][:len(names[0])-4] + "*"

	check := func(action, status string, want string) {
		t.Helper()
		out := runNode(t, modules, filepath.Join("testdata", "risport", "select.js"), host, "administrator", pw, action, "Any", pattern)
		devs := risDevices(t, out)
		var got []string
		for _, d := range devs {
			got = append(got, d.Name)
			if d.Status != want || d.Model != "36224" || !strings.HasPrefix(d.DirNumber, "1") || !strings.Contains(string(d.IPAddress.Item), `"IP":"127.0.0.1"`) {
				t.Errorf("%s %s: %+v, want %s with a DN, model 36224 and 127.0.0.1", action, d.Name, d, want)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, names) {
			t.Fatalf("%s: devices %v, want %v\n%s", action, got, names, out)
		}
	}
	check("SelectCmDevice", "Any", "Registered")
	check("SelectCmDeviceExt", "Any", "Registered")

	// The CLI, as a lab runs it.
	cli := exec.CommandContext(ctx, "node", filepath.Join(modules, "cisco-risport", "bin", "cisco-risport.js"),
		"query", "--class", "Phone", "--status", "Registered", "--select-by", "Name", "--item", names[1],
		"--format", "json", "--insecure", "--no-audit", "--host", host, "--username", "administrator", "--password", pw)
	cli.Env = append(os.Environ(), "NODE_PATH="+modules, "NODE_TLS_REJECT_UNAUTHORIZED=0", "CISCO_RISPORT_CONFIG_DIR="+t.TempDir(), "HOME="+t.TempDir())
	out, err := cli.CombinedOutput()
	if err != nil || !strings.Contains(string(out), names[1]) || !strings.Contains(string(out), "Registered") || strings.Contains(string(out), names[0]) {
		t.Fatalf("cisco-risport query: %v\n%s", err, out)
	}

	// A reset through AXL reaches the registered phone.
	mu.Lock()
	before := notifies[names[2]]
	mu.Unlock()
	res := runNode(t, modules, filepath.Join("testdata", "axl", "reset.js"), host, "administrator", pw, "14.0", "resetPhone", names[2])
	if !strings.Contains(string(res), `"ok":true`) {
		t.Fatalf("resetPhone: %s", res)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		got := notifies[names[2]]
		mu.Unlock()
		if got > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no NOTIFY reached %s within 15s of resetPhone", names[2])
		}
		time.Sleep(20 * time.Millisecond) // polling what the phone's trace records
	}

	// The fleet leaves.
	for _, p := range phones {
		if err := p.Stop(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	check("SelectCmDeviceExt", "Any", "UnRegistered")
}
