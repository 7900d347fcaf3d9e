package phonesim_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"selfprov/phonesim"
	"selfprov/phonesim/phonesimtest"
)

// bootPhone runs one phone's flow against the daemon and keeps it
// registered until the test ends.
func bootPhone(t *testing.T, ctx context.Context, env *phonesim.Env, mac phonesim.MAC, mode phonesim.Mode, u *phonesim.User) *phonesim.Phone {
	t.Helper()
	p := phonesim.NewPhone(env, mac, phonesim.Models["8845"], mode, u)
	if res := p.Run(ctx, ctx); res.Err != nil {
		t.Fatalf("%s: %s: %v", p.Name(), res.Outcome, res.Err)
	}
	t.Cleanup(func() { p.Stop(context.Background(), false) })
	return p
}

// TestDaemonCalls: phones registered with selfprovd call each other
// through it. Users' phones (TCP, lines in partition Internal) and
// auto-registered phones (one over UDP) reach each other as the demo's
// calling search spaces allow; a Webex client (known by its From DN)
// calls, and a line shared by a desk phone and a Webex client rings both,
// the answer that loses being ACKed and hung up. An auto-registered phone
// gets 404 for a user's line, 404 for no DN at all, and 480 for a line
// whose phone has unregistered. Every call leaves nothing in the UAs.
func TestDaemonCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("starts selfprovd")
	}
	cfg, lines := phonesimtest.DemoWithUsers(t, "../configs/demo.yaml", 2)
	d := phonesimtest.StartDaemon(t, cfg)
	users, err := phonesim.LoadUsers(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Phones ring a moment before they answer, as people do: a shared
	// line's phones then all ring before one answers.
	ring := phonesim.Answer{Ring: 20 * time.Millisecond}
	tcpEnv := daemonEnv(t, d)
	tcpEnv.IdleWait = 0
	tcpEnv.Answer = ring
	udpEnv := daemonEnv(t, d)
	udpEnv.Transport = "udp"
	hangEnv := daemonEnv(t, d) // its phones hang up themselves
	hangEnv.Answer = phonesim.Answer{Hold: 10 * time.Millisecond}
	ringEnv := daemonEnv(t, d) // its phones ring and never answer
	ringEnv.Answer = phonesim.Answer{Ring: time.Minute}
	webexEnv := daemonEnv(t, d)
	webexEnv.Answer = ring

	u0 := bootPhone(t, ctx, tcpEnv, phonesim.FleetMAC(0xca11, 0), phonesim.ModeSelfProvision, &users[0])
	u1 := bootPhone(t, ctx, tcpEnv, phonesim.FleetMAC(0xca11, 1), phonesim.ModeSelfProvision, &users[1])
	a0 := bootPhone(t, ctx, tcpEnv, phonesim.FleetMAC(0xca11, 2), phonesim.ModeBoot, nil)
	a1 := bootPhone(t, ctx, udpEnv, phonesim.FleetMAC(0xca11, 3), phonesim.ModeBoot, nil)
	a2 := bootPhone(t, ctx, udpEnv, phonesim.FleetMAC(0xca11, 4), phonesim.ModeBoot, nil)
	hanger := bootPhone(t, ctx, hangEnv, phonesim.FleetMAC(0xca11, 5), phonesim.ModeBoot, nil)
	ringer := bootPhone(t, ctx, ringEnv, phonesim.FleetMAC(0xca11, 6), phonesim.ModeBoot, nil)
	// The user of u1 signs in to a Webex client too: line 30001 is shared.
	w1 := bootPhone(t, ctx, webexEnv, phonesim.FleetMAC(0xca11, 7), phonesim.ModeWebex, &users[1])
	if u0.DN() != users[0].Extension || u1.DN() != users[1].Extension || a0.DN() == "" || a1.DN() == "" {
		t.Fatalf("lines %s %s %s %s", u0.DN(), u1.DN(), a0.DN(), a1.DN())
	}

	hold := phonesim.CallOptions{Hold: 20 * time.Millisecond}
	for _, c := range []struct {
		name   string
		from   *phonesim.Phone
		to     string
		status int
	}{
		{"user to user over TCP", u0, u1.DN(), 200},
		{"Webex client (no device name in its Contact) to a user", w1, u0.DN(), 200},
		{"user to a shared line: a desk phone and a Webex client ring, one answers", u0, w1.DN(), 200},
		{"user (TCP) to auto-registered (UDP)", u1, a1.DN(), 200},
		{"auto-registered (UDP) to auto-registered (TCP)", a1, a0.DN(), 200},
		{"auto-registered to a user's line, outside its calling search space", a0, u0.DN(), 404},
		{"a DN that is no line", u0, "39999", 404},
	} {
		r := c.from.Call(ctx, c.to, hold)
		if r.Status != c.status {
			t.Errorf("%s: %+v, want %d", c.name, r, c.status)
			continue
		}
		if c.status == 200 && (!r.Answered() || r.ByeStatus != 200 || r.Setup <= 0 || r.Ringing <= 0) {
			t.Errorf("%s: %+v, want answered, rung and hung up", c.name, r)
		}
	}

	// While a call is up, the cluster lists it with both devices: the
	// caller known by its Contact's device name.
	type party struct{ Device, DN string }
	type listed struct {
		State           string
		Calling, Called party
	}
	hctx, hangUp := context.WithCancel(ctx)
	held := make(chan phonesim.CallResult, 1)
	go func() { held <- u0.Call(hctx, a0.DN(), phonesim.CallOptions{Hold: time.Minute}) }()
	var calls []listed
	for deadline := time.Now().Add(10 * time.Second); ; {
		var page struct{ Items []listed }
		if err := d.AdminGet(ctx, "/api/v1/calls", &page); err != nil {
			t.Fatal(err)
		}
		calls = page.Items
		if len(calls) == 1 && calls[0].State == "up" || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	want := listed{"up", party{u0.Name(), u0.DN()}, party{a0.Name(), a0.DN()}}
	if len(calls) != 1 || calls[0] != want {
		t.Errorf("calls listed %+v, want %+v", calls, want)
	}
	// The caller's context ends: the held call is hung up at once.
	hangUp()
	if r := <-held; !r.Answered() || r.ByeStatus != 200 {
		t.Errorf("held call: %+v", r)
	}
	// A line whose only phone unregistered: 480.
	dn := a2.DN()
	if err := a2.Stop(ctx, true); err != nil {
		t.Fatal(err)
	}
	if r := a1.Call(ctx, dn, hold); r.Status != 480 {
		t.Errorf("call to the unregistered line %s: %+v, want 480", dn, r)
	}

	// The callee hangs up: its BYE goes back through the proxy.
	if r := u1.Call(ctx, hanger.DN(), phonesim.CallOptions{Hold: time.Minute}); r.Status != 200 || !r.RemoteHangup || r.Err != nil {
		t.Errorf("callee hanging up: %+v", r)
	}
	// A call cancelled while it rings: 487 relayed back.
	if r := u0.Call(ctx, ringer.DN(), phonesim.CallOptions{CancelAfter: 50 * time.Millisecond}); r.Status != 487 || r.Ringing <= 0 {
		t.Errorf("cancelled call: %+v, want 487 after ringing", r)
	}

	for _, env := range []*phonesim.Env{tcpEnv, udpEnv, hangEnv, ringEnv, webexEnv} {
		t.Logf("%+v", waitIdle(t, env.UA))
	}
	if c := hangEnv.UA.CallCounts(); c.ByeOut != 1 {
		t.Errorf("the hanging-up phone's counts %+v, want its one BYE", c)
	}
	if c := ringEnv.UA.CallCounts(); c.Refused != 1 || c.Answered != 0 {
		t.Errorf("the ringing phone's counts %+v, want one call cancelled", c)
	}
}

// TestDaemonFleetCalls runs a fleet as "phonesim run -mode calls" does:
// phones auto-register with selfprovd, then call each other through it.
func TestDaemonFleetCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("starts selfprovd")
	}
	d := phonesimtest.StartDaemon(t, "")
	env := daemonEnv(t, d)
	const n, calls = 20, 60
	var mu sync.Mutex
	var last phonesim.Progress
	f := &phonesim.Fleet{N: n, Mode: phonesim.ModeBoot, Seed: 0xca12, Concurrency: n, RunTime: 2 * time.Minute,
		Calls: &phonesim.CallLoad{Total: calls, Concurrency: 5, Hold: 5 * time.Millisecond},
		// Held a while after the calls, so the live progress ticks with
		// their final count.
		Hold: 500 * time.Millisecond,
		Tick: func(p phonesim.Progress) { mu.Lock(); last = p; mu.Unlock() }}
	var onCall atomic.Int64
	f.OnCall = func(r phonesim.CallResult) {
		if r.Answered() {
			onCall.Add(1)
		}
	}
	rep := f.Run(context.Background(), env)
	if n := onCall.Load(); n != calls {
		t.Errorf("OnCall saw %d answered calls, want %d", n, calls)
	}
	mu.Lock()
	if last.Calls != calls || last.Answered != calls || last.InCall != 0 ||
		!strings.Contains(last.StatusLine(), fmt.Sprintf("calls %d answered %d in progress 0", calls, calls)) {
		t.Errorf("last progress %+v: %s", last, last.StatusLine())
	}
	mu.Unlock()
	if rep.OK != n {
		t.Fatalf("%d of %d phones registered: %v %+v", rep.OK, n, rep.Outcomes, rep.Failures)
	}
	c := rep.Calls
	if c == nil || c.Calls != calls || c.Answered != calls || c.Outcomes["200"] != calls || c.Unexpected != 0 || c.Lines != n {
		t.Fatalf("calls %+v, want %d answered between %d lines", c, calls, n)
	}
	if c.Setup.Count != calls || c.Setup.P50 <= 0 || c.Setup.P50 > c.Setup.P90 || c.Setup.P90 > c.Setup.P99 || c.Setup.P99 > c.Setup.Max || c.CallsPerSec <= 0 {
		t.Errorf("setup %+v, %.1f calls/s", c.Setup, c.CallsPerSec)
	}
	var sb strings.Builder
	if err := rep.WriteTable(&sb); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"setup (INVITE->200)", "final status", "calls/s"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, sb.String())
		}
	}
	waitIdle(t, env.UA)
}

// TestDaemonFleetCallsCutShort: calls still ringing when the call phase
// ends are cancelled, and count as neither calls nor failures.
func TestDaemonFleetCallsCutShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts selfprovd")
	}
	d := phonesimtest.StartDaemon(t, "")
	env := daemonEnv(t, d)
	env.Answer = phonesim.Answer{Ring: time.Minute}
	f := &phonesim.Fleet{N: 4, Mode: phonesim.ModeBoot, Seed: 0xca13, Concurrency: 4, RunTime: time.Minute,
		Calls: &phonesim.CallLoad{Concurrency: 2, Duration: 300 * time.Millisecond}}
	rep := f.Run(context.Background(), env)
	if c := rep.Calls; rep.OK != 4 || c == nil || c.CutShort != 2 || c.Calls != 0 || c.Unexpected != 0 {
		t.Fatalf("phones %v, calls %+v: want two calls cut short and nothing else", rep.Outcomes, rep.Calls)
	}
	if c := waitIdle(t, env.UA); c.Refused != 2 {
		t.Errorf("callees %+v, want two calls cancelled", c)
	}
}
