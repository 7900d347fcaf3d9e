package phonesim_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"selfprov/internal/testkit"
	"selfprov/phonesim"
)

func freeUDPPort(t *testing.T) int {
	t.Helper()
	return testkit.LoopbackPort(t, 1, "udp")
}

// TestInteropSippRegistrar: sipp as the registrar accepts phonesim's Cisco
// REGISTER and sends service-control NOTIFYs; phonesim answers the one
// naming its registration 200 and the foreign one 400.
func TestInteropSippRegistrar(t *testing.T) {
	sipp := testkit.Peer(t, "sipp", "sip-tester")
	port := freeUDPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, sipp, "-sf", "testdata/sipp-registrar.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-m", "1", "-timeout", "20s", "-timeout_error", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"))
	cmd.Dir, _ = os.Getwd()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	ua := phonesim.NewUA()
	defer ua.Close()
	env := &phonesim.Env{UA: ua, SIP: "127.0.0.1:" + strconv.Itoa(port), Transport: "udp"}
	p := phonesim.NewPhone(env, phonesim.FleetMAC(0x1e7, 1), phonesim.Models["8845"], phonesim.ModeRegister, nil)
	// sipp may not be listening yet; the UDP retransmissions cover it.
	if res := p.Run(ctx, ctx); res.Err != nil {
		t.Fatalf("REGISTER to sipp: %s %v\n%s", res.Outcome, res.Err, out.String())
	}
	select {
	case err := <-done:
		if err != nil {
			errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
			t.Fatalf("sipp: %v\n%s\n%s", err, out.String(), errs)
		}
	case <-ctx.Done():
		t.Fatalf("sipp did not finish\n%s", out.String())
	}
}

// runSipp starts sipp with args for one call and returns what waits for it.
func runSipp(t *testing.T, ctx context.Context, sipp string, args ...string) func() {
	t.Helper()
	dir := t.TempDir()
	args = append(args, "-m", "1", "-timeout", "20s", "-timeout_error", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"))
	cmd := exec.CommandContext(ctx, sipp, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return func() {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
				t.Fatalf("sipp: %v\n%s\n%s", err, out.String(), errs)
			}
		case <-ctx.Done():
			t.Fatalf("sipp did not finish\n%s", out.String())
		}
	}
}

// TestInteropSippAnswers: a phonesim line calls sipp's built-in UAS
// (INVITE, 180, 200, ACK, BYE, 200): sipp takes the INVITE, the ACK to
// its Contact and the BYE as a call it expects.
func TestInteropSippAnswers(t *testing.T) {
	sipp := testkit.Peer(t, "sipp", "sip-tester")
	port := freeUDPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wait := runSipp(t, ctx, sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", strconv.Itoa(port))

	ua := phonesim.NewUA()
	ua.UDPSockets, ua.LocalIPs = 1, []string{"127.0.0.1"}
	defer ua.Close()
	leg, err := ua.Leg("udp", "127.0.0.1:"+strconv.Itoa(port), 0)
	if err != nil {
		t.Fatal(err)
	}
	ep := phonesim.Endpoint{Leg: leg, AOR: "2001", Contact: "c2001", Device: "SEP0A0000000001", Agent: "Cisco-CP8845/14.2.1"}
	// sipp may not be listening yet; the INVITE's retransmissions cover it.
	r := ua.Call(ctx, ep, "service", phonesim.CallOptions{Hold: 50 * time.Millisecond})
	if !r.Answered() || r.ByeStatus != 200 || r.Ringing <= 0 {
		t.Fatalf("call to sipp: %+v", r)
	}
	wait()
}

// TestInteropSippCalls: sipp's built-in UAC calls a phonesim line
// (INVITE, then ACK of the 200 and BYE): the line answers as sipp expects.
func TestInteropSippCalls(t *testing.T) {
	sipp := testkit.Peer(t, "sipp", "sip-tester")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ua := phonesim.NewUA()
	ua.UDPSockets, ua.LocalIPs = 1, []string{"127.0.0.1"}
	defer ua.Close()
	port := freeUDPPort(t)
	leg, err := ua.Leg("udp", "127.0.0.1:"+strconv.Itoa(port), 0)
	if err != nil {
		t.Fatal(err)
	}
	ep := phonesim.Endpoint{Leg: leg, AOR: "2002", Contact: "c2002", Device: "SEP0A0000000002", Answer: phonesim.Answer{Ring: 20 * time.Millisecond}}
	ua.HandleCalls("service", func() (phonesim.Endpoint, bool) { return ep, true })
	wait := runSipp(t, ctx, sipp, "-sn", "uac", "-i", "127.0.0.1", "-p", strconv.Itoa(port), leg.Local)
	wait()
	c := ua.CallCounts()
	for deadline := time.Now().Add(5 * time.Second); c.Active != 0 && time.Now().Before(deadline); c = ua.CallCounts() {
		time.Sleep(5 * time.Millisecond)
	}
	if c.Answered != 1 || c.ByeIn != 1 || c.Active != 0 {
		t.Errorf("line counts %+v, want one call answered and hung up by sipp", c)
	}
}
