package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"selfprov/admin"
	"selfprov/internal/testkit"
	"selfprov/phonecfg"
	"selfprov/phonexml"
	"selfprov/provision"
)

// TestInteropBaresipSelfProvisions runs real baresip against the whole
// daemon on loopback, as a softphone user would:
//
//  1. baresip registers with SEP<MAC> as its AOR user, its own
//     +sip.instance and no Cisco model: the device is auto-registered as
//     the Third-party SIP Device (Advanced) and gets the restart NOTIFY,
//     which baresip answers 481; that is logged and counted as not
//     supported by the phone, not as a failure.
//  2. The test fetches the device's SEP<MAC>.cnf.xml over HTTP and runs the
//     self-provisioning screens from its idle URL, as the phone's idle URL
//     would (baresip itself reads no Cisco config): the device is replaced
//     by one owned by alice on 2001, and the reset NOTIFY reaches baresip.
//  3. The user then reconfigures baresip with the line's extension as its
//     account (AOR 2001) and the device's MAC in the Cisco form of
//     +sip.instance, as a Cisco phone registers its line, and restarts it:
//     baresip registers 2001 and selfprovd binds it to the provisioned
//     device.
//
// What it proves: a real non-Cisco UA is identified, auto-registered with a
// model that self-provisioning accepts, is reset over the wire, and
// registers the user's line afterwards. It does not prove baresip reacts
// to the reset: the reconfiguration in 3 is the test's, as it would be the
// user's.
func TestInteropBaresipSelfProvisions(t *testing.T) {
	bin := testkit.Peer(t, "baresip", "baresip-core")
	const mac = "0A1B2C3D4E5F"
	const name = "SEP" + mac
	dataDir := t.TempDir()
	r := startDaemon(t, append(loopbackFlags(dataDir), "-log.level", "info")...)
	token, err := os.ReadFile(filepath.Join(dataDir, admin.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	api := &apiClient{base: "http://" + r.addrs.Admin + "/api/v1", token: strings.TrimSpace(string(token)),
		hc: &http.Client{Timeout: 10 * time.Second}}

	// 1. baresip as SEP<MAC>, with an instance of its own.
	bs := startBaresip(t, bin, name, r.addrs.SIP, "d8fb04b9-1111-2222-3333-444455556666")
	var dev provision.Device
	testkit.WaitWithin(t, 20*time.Second, "baresip's device to be auto-registered", func() bool {
		return api.get(t, "/devices/"+name, &dev) == http.StatusOK
	}, bs.said)
	if dev.Model != provision.ModelThirdPartySIP || dev.State != provision.StateAutoRegistered || len(dev.Lines) != 1 {
		t.Fatalf("device %+v, want model %d auto-registered", dev, provision.ModelThirdPartySIP)
	}
	first := waitBinding(t, api, name, func(b admin.Registration) bool { return strings.HasPrefix(b.UserAgent, "baresip") }, bs)
	testkit.WaitWithin(t, 20*time.Second, "baresip's 481 to the restart NOTIFY", func() bool {
		return strings.Contains(bs.out.String(), "action=restart") &&
			strings.Contains(r.stderr.String(), `msg="notify not supported by the phone" component=registrar device=`+name+` action=restart status=481`)
	}, bs.said)

	// 2. The self-provisioning screens from the idle URL.
	cfg := fetchConfig(t, r.addrs.Config, name)
	if !strings.Contains(cfg.IdleURL, "name="+name) {
		t.Fatalf("idle URL %q does not name the device", cfg.IdleURL)
	}
	login, ok := screen(t, cfg.IdleURL).(*phonexml.Input)
	if !ok {
		t.Fatalf("the idle URL did not give the login screen")
	}
	var params [][2]string
	for _, it := range login.Items {
		v := "alice"
		if strings.Contains(strings.ToUpper(it.InputFlags), "P") {
			v = "12345"
		}
		params = append(params, [2]string{it.QueryStringParam, v})
	}
	confirm := screen(t, phonexml.SubmitURL(login.URL, params...))
	cont := ""
	if txt, ok := confirm.(*phonexml.Text); ok {
		if !strings.Contains(txt.Text, "2001") {
			t.Fatalf("confirm screen %q does not offer 2001", txt.Text)
		}
		for _, k := range txt.SoftKeys {
			if strings.HasPrefix(k.URL, "http") && !strings.EqualFold(k.Name, "Exit") {
				cont = k.URL
			}
		}
	}
	if cont == "" {
		t.Fatalf("no Continue key on the confirm screen %#v", confirm)
	}
	if _, ok := screen(t, cont).(*phonexml.Text); !ok {
		t.Fatalf("after Continue: no success screen")
	}
	api.get(t, "/devices/"+name, &dev)
	if dev.Owner != "alice" || dev.State != provision.StateProvisioned || dev.Lines[0].DN != "2001" || dev.Model != provision.ModelThirdPartySIP {
		t.Fatalf("device after self-provisioning %+v, want alice's on 2001", dev)
	}
	testkit.WaitWithin(t, 20*time.Second, "the reset NOTIFY at baresip and its 481 logged", func() bool {
		return strings.Contains(bs.out.String(), "action=reset\r\nRegisterCallId={"+first.CallID+"}") &&
			strings.Contains(r.stderr.String(), `device=`+name+` action=reset status=481`)
	}, bs.said)
	if strings.Contains(r.stderr.String(), "notify failed") {
		t.Errorf("a NOTIFY was logged as failed:\n%s", r.stderr.String())
	}

	// 3. The user's line: AOR 2001, the device's MAC as the instance.
	bs.stop(t)
	bs = startBaresip(t, bin, "2001", r.addrs.SIP, "00000000-0000-0000-0000-"+strings.ToLower(mac))
	line := waitBinding(t, api, name, func(b admin.Registration) bool {
		return b.CallID != first.CallID && strings.HasPrefix(b.Contact, "sip:2001-")
	}, bs)
	if !strings.HasPrefix(line.UserAgent, "baresip") || line.Transport != "udp" {
		t.Fatalf("line binding %+v", line)
	}
	testkit.WaitWithin(t, 20*time.Second, "baresip to report 2001 registered", func() bool {
		return strings.Contains(bs.out.String(), "2001@127.0.0.1: {0/UDP/v4} 200 OK")
	}, bs.said)
	api.get(t, "/devices/"+name, &dev)
	if dev.Owner != "alice" || dev.Lines[0].DN != "2001" {
		t.Fatalf("device %+v after the line registered", dev)
	}
	bs.stop(t)
}

// baresip is a running baresip with its output.
type baresip struct {
	cmd  *exec.Cmd
	out  *testkit.SyncBuffer
	done chan struct{}
}

// said is what baresip printed, for a failed wait's message.
func (b *baresip) said() string { return "baresip said:\n" + b.out.String() }

// startBaresip runs baresip in the foreground with a config directory made
// from testdata/baresip: account user at registrar, the given +sip.instance
// UUID, SIP trace on (-s) so the test sees what it received.
func startBaresip(t *testing.T, bin, user, registrar, instance string) *baresip {
	t.Helper()
	cmd, out, done := launchBaresip(t, bin, user, func(dir string) {
		fill := strings.NewReplacer("{{LISTEN}}", freeSIPPort(t), "{{USER}}", user, "{{REGISTRAR}}", registrar)
		for _, f := range []string{"config", "accounts"} {
			b, err := os.ReadFile(filepath.Join("testdata", "baresip", f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), []byte(fill.Replace(string(b))), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "uuid"), []byte(instance), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	b := &baresip{cmd: cmd, out: out, done: done}
	t.Cleanup(func() { b.stop(t) })
	return b
}

// stop asks baresip to quit (it unregisters) and kills it if it has not
// within 5 s.
func (b *baresip) stop(t *testing.T) {
	t.Helper()
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

type apiClient struct {
	base, token string
	hc          *http.Client
}

// get reads an admin API resource into out and returns the status.
func (c *apiClient) get(t *testing.T, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, data)
		}
	}
	return resp.StatusCode
}

// waitBinding waits for a registration of the device that ok accepts.
func waitBinding(t *testing.T, api *apiClient, name string, ok func(admin.Registration) bool, bs *baresip) admin.Registration {
	t.Helper()
	var found admin.Registration
	testkit.WaitWithin(t, 20*time.Second, "the registration of "+name, func() bool {
		var regs struct{ Items []admin.Registration }
		api.get(t, "/registrations?prefix="+name, &regs)
		for _, b := range regs.Items {
			if b.DeviceName == name && ok(b) {
				found = b
				return true
			}
		}
		return false
	}, bs.said)
	return found
}

func fetchConfig(t *testing.T, addr, name string) *phonecfg.Config {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/" + phonecfg.FileName(name))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	cfg, err := phonecfg.Parse(b)
	if err != nil {
		t.Fatalf("%s: HTTP %d: %v", phonecfg.FileName(name), resp.StatusCode, err)
	}
	return cfg
}

// screen GETs an IP Phone XML service URL as a phone does.
func screen(t *testing.T, url string) phonexml.Object {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "x-CiscoIPPhone/*;version=3.3.3")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	obj, err := phonexml.Parse(b)
	if err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, b)
	}
	if txt, ok := obj.(*phonexml.Text); ok {
		if code := outcomeCode.FindString(txt.Title + " " + txt.Prompt + " " + txt.Text); code != "" {
			t.Fatalf("GET %s: the screen names %s: %s", url, code, b)
		}
	}
	return obj
}

// outcomeCode matches a refusal's code on a screen (AUTH_FAILED,
// INVALID_DEVICE_MODEL, DB-239, …).
var outcomeCode = regexp.MustCompile(`\b(?:[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|DB-[0-9]+)\b`)

// freeSIPPort finds a loopback address whose port is free for UDP and TCP
// and whose next port is free too: baresip binds its UDP, TCP and TLS
// transports there, and fails to start if any of them is taken.
func freeSIPPort(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(testkit.LoopbackPort(t, 2, "udp", "tcp"))
}

// launchBaresip runs baresip -f dir -s in the foreground, the directory
// written by configure with the ports it chooses, and waits until it says
// it is ready. A port another process took between the choice and
// baresip's bind is chosen again, up to five times.
func launchBaresip(t *testing.T, bin, user string, configure func(dir string)) (cmd *exec.Cmd, out *testkit.SyncBuffer, done chan struct{}) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		dir := t.TempDir()
		configure(dir)
		cmd, out, done = exec.Command(bin, "-f", dir, "-s"), &testkit.SyncBuffer{}, make(chan struct{})
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = cmd.Wait(); close(done) }()
		exited := false
		testkit.WaitWithin(t, 10*time.Second, "baresip "+user+" to be ready", func() bool {
			select {
			case <-done:
				exited = true
				return true
			default:
				return strings.Contains(out.String(), "baresip is ready.")
			}
		}, func() string { return out.String() })
		if !exited {
			return cmd, out, done
		}
		if !strings.Contains(out.String(), "Address already in use") || attempt == 5 {
			t.Fatalf("baresip %s exited:\n%s", user, out.String())
		}
		t.Logf("baresip %s: a port was taken before it bound it; choosing again", user)
	}
}
