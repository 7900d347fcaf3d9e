package phonesim_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"selfprov/phonesim"
	"selfprov/phonesim/phonesimtest"
)

func daemonEnv(t *testing.T, d *phonesimtest.Daemon) *phonesim.Env {
	t.Helper()
	ua := phonesim.NewUA()
	t.Cleanup(func() { ua.Close() })
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	return &phonesim.Env{
		Fetcher:       phonesim.Fetcher{TFTP: d.TFTP, HTTP: d.Config, Client: hc},
		UA:            ua,
		HTTP:          hc,
		IdleWait:      -1, // the template's idleTimeout, as a phone does
		NotifyTimeout: 20 * time.Second,
		Webex:         "http://" + d.Services,
	}
}

// TestDaemonSelfProvision200 runs 200 phones from cold through
// auto-registration and self-provisioning against selfprovd; every one
// must end owned by its user on the user's extension.
func TestDaemonSelfProvision200(t *testing.T) {
	if testing.Short() {
		t.Skip("starts selfprovd")
	}
	const n = 200
	cfg, lines := phonesimtest.DemoWithUsers(t, "../configs/demo.yaml", n)
	d := phonesimtest.StartDaemon(t, cfg)
	users, err := phonesim.LoadUsers(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	env := daemonEnv(t, d)
	f := &phonesim.Fleet{N: n, Mode: phonesim.ModeSelfProvision, Seed: 0x5e1f, Users: users,
		Concurrency: n, RunTime: 2 * time.Minute,
		Mix: phonesim.ModelMix{{Model: phonesim.Models["8845"], Weight: 2}, {Model: phonesim.Models["7841"], Weight: 1}, {Model: phonesim.Models["8851"], Weight: 1}}}
	rep := f.Run(context.Background(), env)
	if rep.OK != n {
		t.Fatalf("%d of %d phones finished, outcomes %v; first failures: %+v", rep.OK, n, rep.Outcomes, rep.Failures[:min(3, len(rep.Failures))])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		name := phonesim.FleetMAC(0x5e1f, i).DeviceName()
		var dev struct {
			Owner string `json:"owner"`
			State string `json:"state"`
			Lines []struct {
				DN string `json:"dn"`
			} `json:"lines"`
		}
		if err := d.AdminGet(ctx, "/api/v1/devices/"+name, &dev); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if dev.Owner != users[i].ID || dev.State != "provisioned" || len(dev.Lines) == 0 || dev.Lines[0].DN != users[i].Extension {
			t.Errorf("%s: %+v, want provisioned for %s on %s", name, dev, users[i].ID, users[i].Extension)
		}
	}
	var sb strings.Builder
	rep.WriteTable(&sb)
	t.Logf("\n%s", sb.String())
}

// TestDaemonCheckTrace runs one phone with a trace, as "phonesim check" does,
// and a Webex client for the same kind of user.
func TestDaemonCheckTrace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts selfprovd")
	}
	d := phonesimtest.StartDaemon(t, "")
	env := daemonEnv(t, d)
	env.IdleWait = 0
	var mu sync.Mutex
	var lines []string
	env.Trace = func(tr phonesim.Trace) {
		mu.Lock()
		lines = append(lines, tr.Step+" "+tr.Dir+" "+tr.Proto+" "+tr.Line)
		mu.Unlock()
	}
	p := phonesim.NewPhone(env, phonesim.FleetMAC(0x5e20, 1), phonesim.Models["8845"], phonesim.ModeSelfProvision,
		&phonesim.User{ID: "alice", PIN: "12345", Extension: "2001"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := p.Run(ctx, ctx)
	p.Stop(ctx, true)
	mu.Lock()
	trace := strings.Join(lines, "\n")
	mu.Unlock()
	if res.Err != nil {
		t.Fatalf("%s: %v\n%s", res.Outcome, res.Err, trace)
	}
	for _, want := range []string{"action=restart", "action=reset", "CiscoIPPhoneInput", "selfprov/confirm", "user/register <- SIP SIP/2.0 200"} {
		if !strings.Contains(trace, want) {
			t.Errorf("trace lacks %q:\n%s", want, trace)
		}
	}

	for i, c := range []struct{ user, ext, platform, prefix string }{
		{"bob", "2002", "windows", "CSF"},
		{"bob", "2002", "android", "BOT"},
		{"carol", "2003", "iphone", "TCT"},
		{"alice", "2001", "ipad", "TAB"},
	} {
		w := phonesim.NewPhone(env, phonesim.FleetMAC(0x5e20, 2+i), phonesim.Model{}, phonesim.ModeWebex,
			&phonesim.User{ID: c.user, PIN: "12345", Extension: c.ext, Platform: c.platform})
		if res := w.Run(ctx, ctx); res.Err != nil {
			t.Errorf("Webex client on %s: %s: %v", c.platform, res.Outcome, res.Err)
		} else if !strings.HasPrefix(res.Device, c.prefix) || res.DN != c.ext {
			t.Errorf("Webex client on %s: %s on %s, want a %s device on %s", c.platform, res.Device, res.DN, c.prefix, c.ext)
		}
		w.Stop(ctx, true)
	}
}
