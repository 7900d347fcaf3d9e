package registrar

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"selfprov/configs"
	"selfprov/internal/testkit"
	"selfprov/provision"
)

// sippPath returns the sipp binary, or skips (or fails under
// SELFPROV_INTEROP=1) when it cannot be used.
func sippPath(t *testing.T) string {
	t.Helper()
	return testkit.Peer(t, "sipp", "sip-tester")
}

// runSipp runs one call of a scenario against addr and returns the message
// trace.
func runSipp(t *testing.T, sipp, scenario, addr, transport, mac string) string {
	t.Helper()
	dir := t.TempDir()
	sf, err := filepath.Abs(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(dir, "messages.log")
	tr := map[string]string{"UDP": "u1", "TCP": "t1"}[transport]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sipp, addr,
		"-sf", sf,
		"-m", "1", "-t", tr, "-i", "127.0.0.1", "-nostdin", "-timeout", "20s",
		"-key", "mac", mac, "-key", "MAC", strings.ToUpper(mac), "-key", "dn", "1000",
		"-trace_msg", "-message_file", trace, "-trace_err", "-error_file", filepath.Join(dir, "errors.log"))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		msgs, _ := os.ReadFile(trace)
		t.Fatalf("sipp %s over %s failed: %v\n%s\nerrors:\n%s\nmessages:\n%s", scenario, transport, err, tail(string(out), 2000), errs, msgs)
	}
	msgs, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	return string(msgs)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var (
	traceCallID = regexp.MustCompile(`(?m)^REGISTER [^\n]*\n(?:[^\n]+\n)*?Call-ID: ([^\r\n]+)`)
	traceNotify = regexp.MustCompile(`(?s)NOTIFY sip:.*?\r\n\r\n(action=.*?SoftkeyVersionStamp=[^\r\n]*\r\n)`)
)

// TestSippCiscoRegister: sipp registers a Cisco-like phone over UDP and TCP;
// the device appears with a DN of the range and sipp gets the restart
// NOTIFY with the SPEC §3 body and the REGISTER's Call-ID.
func TestSippCiscoRegister(t *testing.T) {
	sipp := sippPath(t)
	for i, tr := range []string{"UDP", "TCP"} {
		t.Run(tr, func(t *testing.T) {
			e := newEnv(t, envOpt{})
			m := mac(0x5100 + i)
			addr := e.udp
			if tr == "TCP" {
				addr = e.tcp
			}
			msgs := runSipp(t, sipp, "sipp-register-notify.xml", addr, tr, m)
			d, err := e.svc.Device(context.Background(), "SEP"+m)
			if err != nil {
				t.Fatal(err)
			}
			if d.State != provision.StateAutoRegistered || len(d.Lines) != 1 || d.Lines[0].DN < "1000" || d.Lines[0].DN > "1999" {
				t.Fatalf("device %+v", d)
			}
			cid := traceCallID.FindStringSubmatch(msgs)
			body := traceNotify.FindStringSubmatch(msgs)
			if cid == nil || body == nil {
				t.Fatalf("no REGISTER Call-ID or NOTIFY body in the trace:\n%s", msgs)
			}
			want := "action=restart\r\nRegisterCallId={" + cid[1] + "}\r\n" +
				"ConfigVersionStamp={00000000-0000-0000-0000-000000000000}\r\n" +
				"DialplanVersionStamp={00000000-0000-0000-0000-000000000000}\r\n" +
				"SoftkeyVersionStamp={00000000-0000-0000-0000-000000000000}\r\n"
			if body[1] != want {
				t.Fatalf("NOTIFY body %q, want %q", body[1], want)
			}
			testkit.WaitFor(t, "the NOTIFY's 200 to be counted", func() bool { return e.counter(t, e.srv.m.notifyOf[notifyOK]) == 1 })
		})
	}
}

func TestSippAutoRegistrationOff(t *testing.T) {
	sipp := sippPath(t)
	for i, tr := range []string{"UDP", "TCP"} {
		t.Run(tr, func(t *testing.T) {
			e := newEnv(t, envOpt{cfg: func(c *configs.Config) { c.Cluster.AutoRegistration.Enabled = false }})
			addr := e.udp
			if tr == "TCP" {
				addr = e.tcp
			}
			runSipp(t, sipp, "sipp-register-forbidden.xml", addr, tr, mac(0x5200+i))
			if e.registers(403) != 1 {
				t.Fatalf("403s counted: %v", e.registers(403))
			}
		})
	}
}
