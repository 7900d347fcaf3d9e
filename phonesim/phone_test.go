package phonesim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"selfprov/internal/testkit"
	"selfprov/phonesim"
	"selfprov/phonesim/phonesimtest"
)

func startCluster(t *testing.T, users ...phonesimtest.User) *phonesimtest.Cluster {
	t.Helper()
	c, err := phonesimtest.Start(users...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newEnv(t *testing.T, c *phonesimtest.Cluster) *phonesim.Env {
	t.Helper()
	ua := phonesim.NewUA()
	ua.Timeout = 3 * time.Second
	t.Cleanup(func() { ua.Close() })
	return &phonesim.Env{
		Fetcher:       phonesim.Fetcher{TFTP: c.TFTPAddr, HTTP: c.HTTPAddr},
		UA:            ua,
		HTTP:          &http.Client{Timeout: 5 * time.Second},
		IdleWait:      0,
		NotifyTimeout: 5 * time.Second,
		Webex:         c.ServicesURL,
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSelfProvision(t *testing.T) {
	for _, tp := range []string{"tcp", "udp"} {
		t.Run(tp, func(t *testing.T) {
			c := startCluster(t, phonesimtest.User{ID: "alice", PIN: "12345", Extension: "2001"})
			c.Set(func(o *phonesimtest.Options) { o.Transport = tp })
			env := newEnv(t, c)
			var mu sync.Mutex
			var traces []phonesim.Trace
			env.Trace = func(tr phonesim.Trace) { mu.Lock(); traces = append(traces, tr); mu.Unlock() }
			mac := phonesim.FleetMAC(7, 1)
			p := phonesim.NewPhone(env, mac, phonesim.Models["8845"], phonesim.ModeSelfProvision,
				&phonesim.User{ID: "alice", PIN: "12345", Extension: "2001"})
			ctx := testCtx(t)
			res := p.Run(ctx, ctx)
			if res.Err != nil {
				t.Fatalf("outcome %s: %v", res.Outcome, res.Err)
			}
			if res.DN != "2001" {
				t.Errorf("ended on DN %s, want 2001", res.DN)
			}
			d, _ := c.Device(mac.DeviceName())
			if d.Owner != "alice" || d.DN != "2001" {
				t.Errorf("device %+v, want owned by alice on 2001", d)
			}
			b, ok := c.Binding(mac.DeviceName())
			if !ok || b.AOR != "2001" || !strings.EqualFold(b.Transport, tp) {
				t.Errorf("binding %+v (ok %v), want AOR 2001 over %s", b, ok, tp)
			}
			var steps []string
			for _, s := range res.Steps {
				steps = append(steps, s.Step)
			}
			want := "boot/ctl boot/itl boot/config boot/register autoreg/notify autoreg/unregister autoreg/config autoreg/register selfprov/idle selfprov/login selfprov/confirm user/notify user/unregister user/ctl user/itl user/config user/register"
			if got := strings.Join(steps, " "); got != want {
				t.Errorf("steps\n got %s\nwant %s", got, want)
			}
			// The trace shows both the NOTIFYs and the answers.
			var notifies int
			for _, tr := range traces {
				if tr.Step == "notify" && tr.Dir == "->" && strings.HasPrefix(tr.Line, "SIP/2.0 200") {
					notifies++
				}
			}
			if notifies != 2 {
				t.Errorf("answered %d NOTIFYs with 200, want 2 (restart, reset)", notifies)
			}
			p.Stop(ctx, true)
			if _, ok := c.Binding(mac.DeviceName()); ok {
				t.Error("binding still there after Stop with unregister")
			}
		})
	}
}

func TestTFTPOnlyAndFallback(t *testing.T) {
	c := startCluster(t)
	c.Set(func(o *phonesimtest.Options) { o.NoHTTPConfig = true })
	env := newEnv(t, c)
	var vias []string
	env.Trace = func(tr phonesim.Trace) {
		if tr.Step == "boot/config" && tr.Dir == "<-" && tr.Proto != "FILE" {
			vias = append(vias, tr.Proto+" "+tr.Line)
		}
	}
	p := phonesim.NewPhone(env, phonesim.FleetMAC(7, 2), phonesim.Models["7841"], phonesim.ModeBoot, nil)
	ctx := testCtx(t)
	res := p.Run(ctx, ctx)
	if res.Err != nil {
		t.Fatalf("outcome %s: %v", res.Outcome, res.Err)
	}
	if res.DN != "1000" {
		t.Errorf("auto-registered DN %s, want 1000", res.DN)
	}
	// SEP file: HTTP 404, TFTP not found; XMLDefault: HTTP 404, TFTP served.
	if len(vias) != 4 || !strings.HasPrefix(vias[0], "HTTP") || !strings.HasPrefix(vias[3], "TFTP") || !strings.Contains(vias[3], "bytes") {
		t.Errorf("config fetches %q, want HTTP then TFTP fallback ending in a TFTP download", vias)
	}
}

func TestHTTPNotFoundFinal(t *testing.T) {
	c := startCluster(t)
	env := newEnv(t, c)
	env.Fetcher.TrustHTTPNotFound = true
	var tftp int
	env.Trace = func(tr phonesim.Trace) {
		if tr.Proto == "TFTP" {
			tftp++
		}
	}
	p := phonesim.NewPhone(env, phonesim.FleetMAC(7, 13), phonesim.Models["8845"], phonesim.ModeBoot, nil)
	ctx := testCtx(t)
	if res := p.Run(ctx, ctx); res.Err != nil {
		t.Fatal(res.Err)
	}
	if tftp != 0 {
		t.Errorf("%d TFTP trace lines, want none when HTTP 404 is final", tftp)
	}
}

func TestOutcomes(t *testing.T) {
	t.Run("wrong PIN", func(t *testing.T) {
		c := startCluster(t, phonesimtest.User{ID: "bob", PIN: "12345", Extension: "2002"})
		env := newEnv(t, c)
		p := phonesim.NewPhone(env, phonesim.FleetMAC(7, 3), phonesim.Models["8851"], phonesim.ModeSelfProvision,
			&phonesim.User{ID: "bob", PIN: "0000"})
		ctx := testCtx(t)
		res := p.Run(ctx, ctx)
		if res.Outcome != "AUTH_FAILED" {
			t.Errorf("outcome %s (%v), want AUTH_FAILED", res.Outcome, res.Err)
		}
	})
	t.Run("auto-registration off", func(t *testing.T) {
		c := startCluster(t)
		c.Set(func(o *phonesimtest.Options) { o.AutoRegistrationOff = true })
		env := newEnv(t, c)
		p := phonesim.NewPhone(env, phonesim.FleetMAC(7, 4), phonesim.Models["8851"], phonesim.ModeBoot, nil)
		ctx := testCtx(t)
		if res := p.Run(ctx, ctx); res.Outcome != "NO_CONFIG" {
			t.Errorf("outcome %s (%v), want NO_CONFIG", res.Outcome, res.Err)
		}
		env.SIP = c.SIPAddr
		p = phonesim.NewPhone(env, phonesim.FleetMAC(7, 5), phonesim.Models["8851"], phonesim.ModeRegister, nil)
		if res := p.Run(ctx, ctx); res.Outcome != "AUTOREG_DISABLED" {
			t.Errorf("register-only outcome %s (%v), want AUTOREG_DISABLED from the Warning", res.Outcome, res.Err)
		}
	})
	t.Run("503 Retry-After", func(t *testing.T) {
		c := startCluster(t)
		env := newEnv(t, c)
		env.SIP = c.SIPAddr
		c.Set(func(o *phonesimtest.Options) { o.Refuse = 2 })
		p := phonesim.NewPhone(env, phonesim.FleetMAC(7, 10), phonesim.Models["8851"], phonesim.ModeRegister, nil)
		ctx := testCtx(t)
		if res := p.Run(ctx, ctx); res.Err != nil {
			t.Errorf("two 503s and the third attempt: %s %v, want OK", res.Outcome, res.Err)
		}
		c.Set(func(o *phonesimtest.Options) { o.Refuse = 3 })
		p = phonesim.NewPhone(env, phonesim.FleetMAC(7, 11), phonesim.Models["8851"], phonesim.ModeRegister, nil)
		if res := p.Run(ctx, ctx); res.Outcome != "SIP_503" {
			t.Errorf("three 503s: %s %v, want SIP_503 after RegisterAttempts (3)", res.Outcome, res.Err)
		}
	})
	t.Run("no NOTIFY", func(t *testing.T) {
		c := startCluster(t)
		c.Set(func(o *phonesimtest.Options) { o.NotifyCallID = "someone-else@192.0.2.1" })
		env := newEnv(t, c)
		env.NotifyTimeout = 500 * time.Millisecond
		p := phonesim.NewPhone(env, phonesim.FleetMAC(7, 6), phonesim.Models["8851"], phonesim.ModeBoot, nil)
		ctx := testCtx(t)
		if res := p.Run(ctx, ctx); res.Outcome != "NOTIFY_TIMEOUT" {
			t.Errorf("outcome %s (%v), want NOTIFY_TIMEOUT", res.Outcome, res.Err)
		}
	})
}

// A NOTIFY whose RegisterCallId is not the phone's registration is refused
// with 400; the right one gets 200 and the phone restarts.
func TestNotifyRegisterCallID(t *testing.T) {
	c := startCluster(t)
	env := newEnv(t, c)
	mac := phonesim.FleetMAC(7, 7)
	p := phonesim.NewPhone(env, mac, phonesim.Models["8845"], phonesim.ModeBoot, nil)
	ctx := testCtx(t)
	if res := p.Run(ctx, ctx); res.Err != nil {
		t.Fatal(res.Err)
	}
	drain(c)
	c.Set(func(o *phonesimtest.Options) { o.NotifyCallID = "not-mine@192.0.2.1" })
	if err := c.Reset(mac.DeviceName(), "restart"); err != nil {
		t.Fatal(err)
	}
	if r := nextNotify(t, c); r.Status != 400 {
		t.Errorf("NOTIFY with a foreign RegisterCallId answered %d, want 400", r.Status)
	}
	c.Set(func(o *phonesimtest.Options) { o.NotifyCallID = "" })
	before, _ := c.Binding(mac.DeviceName())
	if err := c.Reset(mac.DeviceName(), "restart"); err != nil {
		t.Fatal(err)
	}
	if r := nextNotify(t, c); r.Status != 200 {
		t.Errorf("NOTIFY answered %d, want 200", r.Status)
	}
	// The held phone unregisters and registers with a new Call-ID.
	testkit.WaitFor(t, "a registration with a new Call-ID", func() bool {
		b, ok := c.Binding(mac.DeviceName())
		return ok && b.CallID != before.CallID
	})
}

// check-version re-reads the config and registers again only when its
// version stamp changed.
func TestCheckVersion(t *testing.T) {
	c := startCluster(t)
	env := newEnv(t, c)
	checked := make(chan error, 4)
	env.Observe = func(step string, _ time.Duration, err error) {
		if step == "held/check-version" {
			checked <- err
		}
	}
	mac := phonesim.FleetMAC(7, 14)
	p := phonesim.NewPhone(env, mac, phonesim.Models["8845"], phonesim.ModeBoot, nil)
	ctx := testCtx(t)
	if res := p.Run(ctx, ctx); res.Err != nil {
		t.Fatal(res.Err)
	}
	drain(c)
	before, _ := c.Binding(mac.DeviceName())
	if err := c.Reset(mac.DeviceName(), "check-version"); err != nil {
		t.Fatal(err)
	}
	if r := nextNotify(t, c); r.Status != 200 {
		t.Fatalf("check-version answered %d", r.Status)
	}
	select {
	case err := <-checked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("check-version not handled within 5s")
	}
	if b, _ := c.Binding(mac.DeviceName()); b.CallID != before.CallID {
		t.Fatal("an unchanged config made the phone register again")
	}
	c.Touch(mac.DeviceName())
	if err := c.Reset(mac.DeviceName(), "check-version"); err != nil {
		t.Fatal(err)
	}
	if r := nextNotify(t, c); r.Status != 200 {
		t.Fatalf("check-version answered %d", r.Status)
	}
	testkit.WaitFor(t, "a registration with a new Call-ID", func() bool { b, ok := c.Binding(mac.DeviceName()); return ok && b.CallID != before.CallID })
	// Exactly one new registration: the unchanged config did not cause one.
	if b, _ := c.Binding(mac.DeviceName()); b.Registers != 1 {
		t.Errorf("%d REGISTERs on the new binding, want 1", b.Registers)
	}
	p.Stop(ctx, false)
}

func TestRefreshBeforeExpiry(t *testing.T) {
	c := startCluster(t)
	c.Set(func(o *phonesimtest.Options) { o.Expires = 2 }) // refreshed after 1 s
	env := newEnv(t, c)
	env.SIP, env.Transport = c.SIPAddr, "udp"
	mac := phonesim.FleetMAC(7, 8)
	p := phonesim.NewPhone(env, mac, phonesim.Models["8845"], phonesim.ModeRegister, nil)
	ctx := testCtx(t)
	hold, stop := context.WithCancel(ctx)
	defer stop()
	if res := p.Run(ctx, hold); res.Err != nil {
		t.Fatal(res.Err)
	}
	testkit.WaitFor(t, "three REGISTERs", func() bool { b, _ := c.Binding(mac.DeviceName()); return b.Registers >= 3 })
	stop()
	p.Stop(ctx, false)
}

// A refresh after the registrar closed the TCP connection dials again.
func TestRefreshRedialsTCP(t *testing.T) {
	c := startCluster(t)
	c.Set(func(o *phonesimtest.Options) { o.Expires = 2 })
	env := newEnv(t, c)
	env.SIP, env.Transport = c.SIPAddr, "tcp"
	env.UA.TCPConns = 1
	mac := phonesim.FleetMAC(7, 12)
	p := phonesim.NewPhone(env, mac, phonesim.Models["8845"], phonesim.ModeRegister, nil)
	ctx := testCtx(t)
	if res := p.Run(ctx, ctx); res.Err != nil {
		t.Fatal(res.Err)
	}
	c.DropConnections()
	testkit.WaitFor(t, "two REGISTERs", func() bool { b, _ := c.Binding(mac.DeviceName()); return b.Registers >= 2 })
	p.Stop(ctx, false)
}

func TestWebexClient(t *testing.T) {
	c := startCluster(t, phonesimtest.User{ID: "carol", PIN: "12345", Extension: "2003"})
	env := newEnv(t, c)
	p := phonesim.NewPhone(env, phonesim.FleetMAC(7, 9), phonesim.Model{}, phonesim.ModeWebex,
		&phonesim.User{ID: "carol", PIN: "12345", Extension: "2003", Platform: "windows"})
	ctx := testCtx(t)
	res := p.Run(ctx, ctx)
	if res.Err != nil {
		t.Fatalf("outcome %s: %v", res.Outcome, res.Err)
	}
	if res.Device != "CSFCAROL" || res.DN != "2003" {
		t.Errorf("device %s on %s, want CSFCAROL on 2003", res.Device, res.DN)
	}
	if b, ok := c.Binding("CSFCAROL"); !ok || b.AOR != "2003" {
		t.Errorf("binding %+v, want CSFCAROL registered on 2003", b)
	}
}

// TestWebexClientWrongPIN: the client signs in with the user's own
// credentials; a wrong PIN is refused and named in the outcome.
func TestWebexClientWrongPIN(t *testing.T) {
	c := startCluster(t, phonesimtest.User{ID: "carol", PIN: "12345", Extension: "2003"})
	env := newEnv(t, c)
	p := phonesim.NewPhone(env, phonesim.FleetMAC(7, 10), phonesim.Model{}, phonesim.ModeWebex,
		&phonesim.User{ID: "carol", PIN: "54321", Extension: "2003", Platform: "windows"})
	ctx := testCtx(t)
	if res := p.Run(ctx, ctx); res.Outcome != "AUTH_FAILED" {
		t.Fatalf("outcome %s (%v), want AUTH_FAILED", res.Outcome, res.Err)
	}
	if _, ok := c.Binding("CSFCAROL"); ok {
		t.Fatal("a device registered after a refused sign-in")
	}
}

func TestFleet(t *testing.T) {
	const n = 60
	var users []phonesimtest.User
	var simUsers []phonesim.User
	for i := range n {
		u := phonesimtest.User{ID: fmt.Sprintf("user%03d", i), PIN: "4321", Extension: fmt.Sprintf("3%03d", i)}
		users = append(users, u)
		simUsers = append(simUsers, phonesim.User{ID: u.ID, PIN: u.PIN, Extension: u.Extension})
	}
	c := startCluster(t, users...)
	env := newEnv(t, c)
	var ticks int
	f := &phonesim.Fleet{N: n, Mode: phonesim.ModeSelfProvision, Seed: 9, Users: simUsers,
		Concurrency: 20, RunTime: 30 * time.Second, Unregister: true,
		Mix:  phonesim.ModelMix{{Model: phonesim.Models["8845"], Weight: 2}, {Model: phonesim.Models["7841"], Weight: 1}},
		Tick: func(phonesim.Progress) { ticks++ }}
	rep := f.Run(context.Background(), env)
	if rep.OK != n || rep.Unexpected != 0 {
		t.Fatalf("%d ok, %d failed: %+v", rep.OK, rep.Failed, rep.Failures)
	}
	for i := range n {
		name := phonesim.FleetMAC(9, i).DeviceName()
		d, _ := c.Device(name)
		if d.Owner != simUsers[i].ID || d.DN != simUsers[i].Extension {
			t.Errorf("%s: %+v, want owned by %s on %s", name, d, simUsers[i].ID, simUsers[i].Extension)
		}
		if _, ok := c.Binding(name); ok {
			t.Errorf("%s still registered after the run's unregister", name)
		}
	}
	if rep.Outcomes["OK"] != n || len(rep.Steps) < 10 || rep.Steps[len(rep.Steps)-1].Step != "total" {
		t.Errorf("report outcomes %v, %d steps", rep.Outcomes, len(rep.Steps))
	}
	var sb strings.Builder
	rep.WriteTable(&sb)
	for _, want := range []string{"selfprov/confirm", "p99", "OK", fmt.Sprintf("%d phones, %d ok", n, n)} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, sb.String())
		}
	}
}

func TestFleetRunTimeBound(t *testing.T) {
	c := startCluster(t)
	env := newEnv(t, c)
	env.SIP = c.SIPAddr
	f := &phonesim.Fleet{N: 1000, Mode: phonesim.ModeRegister, Rate: 20, RunTime: 300 * time.Millisecond, Expected: nil}
	rep := f.Run(context.Background(), env)
	if rep.Outcomes["NOT_STARTED"] == 0 || rep.Unexpected == 0 {
		t.Errorf("a run cut short by its run time should leave phones NOT_STARTED and count them as failures: %v", rep.Outcomes)
	}
	f = &phonesim.Fleet{N: 1000, Mode: phonesim.ModeRegister, Rate: 20, RunTime: 300 * time.Millisecond, Expected: []string{"NOT_STARTED"}, Seed: 2}
	if rep := f.Run(context.Background(), env); rep.Unexpected != 0 {
		t.Errorf("expected codes still counted as unexpected: %v", rep.Outcomes)
	}
}

func drain(c *phonesimtest.Cluster) {
	for {
		select {
		case <-c.Notifies():
		default:
			return
		}
	}
}

func nextNotify(t *testing.T, c *phonesimtest.Cluster) phonesimtest.NotifyResult {
	t.Helper()
	select {
	case r := <-c.Notifies():
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no answer to the NOTIFY within 5s")
	}
	return phonesimtest.NotifyResult{}
}

var _ = errors.New

func phonesimtestStart() (*phonesimtest.Cluster, error) { return phonesimtest.Start() }
