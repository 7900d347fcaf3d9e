package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"selfprov/phonesim"
	"selfprov/phonesim/phonesimtest"
)

// runBin runs the phonesim binary with a bound and returns its exit code.
func runBin(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	bin := phonesimtest.BuildBinary(t, "selfprov/cmd/phonesim")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("phonesim %v: %v", args, err)
	return 0, "", ""
}

func fakeFlags(c *phonesimtest.Cluster) []string {
	return []string{"-tftp", c.TFTPAddr, "-config", c.HTTPAddr, "-idle-wait", "0", "-notify-timeout", "5s"}
}

func TestRunAgainstFakeCluster(t *testing.T) {
	var users []phonesimtest.User
	var csv strings.Builder
	csv.WriteString("userid,pin,extension\n")
	for i := range 30 {
		u := phonesimtest.User{ID: "u" + string(rune('a'+i%26)) + string(rune('a'+i/26)), PIN: "777", Extension: "40" + string(rune('0'+i/10)) + string(rune('0'+i%10))}
		users = append(users, u)
		csv.WriteString(u.ID + "," + u.PIN + "," + u.Extension + "\n")
	}
	c, err := phonesimtest.Start(users...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	usersFile := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(usersFile, []byte(csv.String()), 0o600)

	code, out, errOut := runBin(t, append([]string{"run"}, append(fakeFlags(c), "-n", "30", "-c", "10", "-users", usersFile, "-json", "-seed", "3")...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var rep phonesim.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("-json output: %v\n%s", err, out)
	}
	if rep.OK != 30 || rep.Outcomes["OK"] != 30 || len(rep.Steps) == 0 {
		t.Errorf("report %+v", rep)
	}
	if strings.Contains(errOut, "\r") {
		t.Errorf("progress line written to a non-terminal: %q", errOut)
	}
	// Toward loopback the fleet comes from many source addresses, as the
	// registrar limits each, and says so.
	if !strings.Contains(errOut, "phones spread over 64 source addresses 127.0.1.1-127.0.1.64") {
		t.Errorf("no word of the source addresses: %q", errOut)
	}
	sources := map[string]bool{}
	for i := range 30 {
		b, ok := c.Binding(phonesim.FleetMAC(3, i).DeviceName())
		if !ok {
			t.Fatalf("no binding for phone %d", i)
		}
		sources[b.SourceIP()] = true
		if !strings.HasPrefix(b.SourceIP(), "127.0.1.") {
			t.Errorf("phone %d registered from %s", i, b.SourceIP())
		}
	}
	if len(sources) < 2 {
		t.Errorf("30 phones came from %v", sources)
	}

	// Wrong PINs: the run fails with the outcome named, exit 1; the table
	// is the default output.
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("nobody,1\n"), 0o600)
	code, out, _ = runBin(t, append([]string{"run"}, append(fakeFlags(c), "-n", "3", "-users", bad, "-seed", "4", "-progress", "never")...)...)
	if code != 1 || !strings.Contains(out, "AUTH_FAILED") || !strings.Contains(out, "p99") {
		t.Errorf("exit %d, want 1 with AUTH_FAILED in the table:\n%s", code, out)
	}
	// A live progress line when asked for (a terminal gets it by default).
	code, _, errOut = runBin(t, append([]string{"run"}, append(fakeFlags(c), "-n", "3", "-users", bad, "-seed", "6", "-progress", "always", "-hold", "600ms", "-expect", "AUTH_FAILED")...)...)
	if code != 0 || !strings.Contains(errOut, "\r") || !strings.Contains(errOut, "failed 3 | failed 3") {
		t.Errorf("exit %d, progress %q", code, errOut)
	}
	// ... unless the code is expected.
	code, out, _ = runBin(t, append([]string{"run"}, append(fakeFlags(c), "-n", "3", "-users", bad, "-seed", "5", "-expect", "AUTH_FAILED")...)...)
	if code != 0 {
		t.Errorf("exit %d with -expect AUTH_FAILED:\n%s", code, out)
	}
}

func TestCheckAgainstFakeCluster(t *testing.T) {
	c, err := phonesimtest.Start(phonesimtest.User{ID: "alice", PIN: "12345", Extension: "2001"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	code, out, errOut := runBin(t, append([]string{"check"}, append(fakeFlags(c), "-user", "alice", "-pin", "12345", "-extension", "2001", "-mac", "00:11:22:aa:bb:cc", "-v")...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"SEP001122AABBCC", "RRQ CTLSEP001122AABBCC.tlv", "GET http://", "REGISTER sip:",
		"+u.sip!devicename.ccm.cisco.com=\"SEP001122AABBCC\"", "action=restart", "CiscoIPPhoneInput",
		"Continue", "action=reset", "PASS SEP001122AABBCC registered line 2001",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runBin(t, append([]string{"check"}, append(fakeFlags(c), "-user", "alice", "-pin", "1", "-mac", "001122aabbcd")...)...)
	if code != 1 || !strings.Contains(out, "FAIL SEP001122AABBCD AUTH_FAILED") {
		t.Errorf("exit %d, want 1 and a FAIL line naming AUTH_FAILED:\n%s", code, out)
	}
}

// TestWebexAgainstFakeCluster: check and run in mode webex sign in with
// the users' own ID and PIN; a wrong PIN fails with its code.
func TestWebexAgainstFakeCluster(t *testing.T) {
	c, err := phonesimtest.Start(phonesimtest.User{ID: "alice", PIN: "12345", Extension: "2001"}, phonesimtest.User{ID: "bob", PIN: "2468", Extension: "2002"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	flags := append(fakeFlags(c), "-mode", "webex", "-webex", c.ServicesURL)
	code, out, errOut := runBin(t, append([]string{"check"}, append(flags, "-user", "alice", "-pin", "12345", "-extension", "2001")...)...)
	if code != 0 || !strings.Contains(out, "(as alice)") {
		t.Fatalf("check: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runBin(t, append([]string{"check"}, append(flags, "-user", "alice", "-pin", "1")...)...)
	if code != 1 || !strings.Contains(out, "AUTH_FAILED") {
		t.Errorf("check with a wrong PIN: exit %d, want 1 naming AUTH_FAILED:\n%s", code, out)
	}
	usersFile := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(usersFile, []byte("userid,pin,extension\nalice,12345,2001\nbob,2468,2002\n"), 0o600)
	code, out, errOut = runBin(t, append([]string{"run"}, append(flags, "-n", "2", "-users", usersFile, "-json", "-seed", "7")...)...)
	var rep phonesim.Report
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || rep.OK != 2 {
		t.Fatalf("run: exit %d %v\n%s\n%s", code, err, out, errOut)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"run", "-n", "0"},
		{"run", "-models", "9999"},
		{"run", "-mode", "selfprov"}, // no users
		{"run", "-transport", "sctp", "-mode", "register"},
		{"check", "-mac", "xyz"},
		{"check", "-mode", "nonsense"},
		{"run", "extra-arg"},
		{"users", "-n", "0"},
		{"run", "-mode", "calls", "-n", "1"},
		{"run", "-mode", "calls", "-calls-setup", "register"},
		{"run", "-mode", "calls", "-answer", "100"},
		{"run", "-mode", "calls", "-call-c", "0"},
		{"check", "-mode", "call", "-ring", "-1s"},
		{"check", "-mode", "call", "-callee-hold", "-1s"},
	} {
		if code, out, errOut := runBin(t, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, want 2 with a message\n%s%s", args, code, out, errOut)
		}
	}
}

func TestUsersWritesTheImportFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.csv")
	code, _, errOut := runBin(t, "users", "-n", "2", "-o", path)
	b, err := os.ReadFile(path)
	want := "userId,lastName,firstName,primaryExtension,userProfile,pin\n" +
		"sim00000,User 00000,Sim,3000,Standard User Profile,12345\nsim00001,User 00001,Sim,3001,Standard User Profile,12345\n"
	if code != 0 || err != nil || string(b) != want {
		t.Fatalf("exit %d (%s), %v:\n%s", code, errOut, err, b)
	}
}

func TestCheckAgainstDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("starts selfprovd")
	}
	d := phonesimtest.StartDaemon(t, "")
	code, out, errOut := runBin(t, "check", "-tftp", d.TFTP, "-config", d.Config,
		"-user", "carol", "-pin", "12345", "-extension", "2003", "-idle-wait", "0", "-model", "7841")
	if code != 0 || !strings.Contains(out, "PASS") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	c, err := phonesimtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	bin := phonesimtest.BuildBinary(t, "selfprov/cmd/phonesim")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "-mode", "register", "-sip", c.SIPAddr, "-transport", "udp",
		"-n", "5", "-hold", "20s", "-metrics.listen", addr, "-progress", "never")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if strings.Contains(string(b), `selfprov_phonesim_phones_total{outcome="OK"} 5`) {
				for _, want := range []string{`selfprov_phonesim_phones{state="done"} 5`, `selfprov_phonesim_step_duration_seconds_count{result="ok",step="register"} 5`} {
					if !strings.Contains(string(b), want) {
						t.Errorf("metrics lack %q:\n%s", want, b)
					}
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no metrics for 5 finished phones at %s within 15s (last error %v)", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCallsAgainstDaemon: "run -mode calls" auto-registers a fleet with
// selfprovd and drives calls between its lines; "check -mode call" places
// one call to a second phone, and a call refused as asked is a failure
// only when another status was expected.
func TestCallsAgainstDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("starts selfprovd")
	}
	d := phonesimtest.StartDaemon(t, "")
	code, out, errOut := runBin(t, "run", "-mode", "calls", "-tftp", d.TFTP, "-config", d.Config, "-idle-wait", "0",
		"-n", "10", "-calls", "30", "-call-c", "4", "-call-hold", "5ms", "-json", "-progress", "never")
	var rep phonesim.Report
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil {
		t.Fatalf("run: exit %d %v\n%s\n%s", code, err, out, errOut)
	}
	if rep.OK != 10 || rep.Calls == nil || rep.Calls.Answered != 30 || rep.Calls.Outcomes["200"] != 30 || rep.Calls.Setup.Count != 30 {
		t.Fatalf("report %+v calls %+v", rep, rep.Calls)
	}

	code, out, errOut = runBin(t, "check", "-mode", "call", "-tftp", d.TFTP, "-config", d.Config, "-idle-wait", "0", "-call-hold", "5ms")
	if code != 0 || !strings.Contains(out, "PASS") || !strings.Contains(out, "-> ACK sip:") || !strings.Contains(out, "<- BYE sip:") {
		t.Fatalf("check -mode call: exit %d\n%s\n%s", code, out, errOut)
	}
	// The called phone hangs up first.
	code, out, errOut = runBin(t, "check", "-mode", "call", "-tftp", d.TFTP, "-config", d.Config, "-idle-wait", "0", "-call-hold", "1m", "-callee-hold", "5ms")
	if code != 0 || !strings.Contains(out, "hung up by the called phone") {
		t.Fatalf("check -mode call -callee-hold: exit %d\n%s\n%s", code, out, errOut)
	}
	// The called phone refuses: a failure unless 486 was asked for.
	code, out, _ = runBin(t, "check", "-mode", "call", "-tftp", d.TFTP, "-config", d.Config, "-idle-wait", "0", "-answer", "486")
	if code != 1 || !strings.Contains(out, "FAIL") || !strings.Contains(out, ": 486") {
		t.Errorf("refused call: exit %d\n%s", code, out)
	}
	code, out, _ = runBin(t, "check", "-mode", "call", "-tftp", d.TFTP, "-config", d.Config, "-idle-wait", "0", "-answer", "486", "-expect-status", "486")
	if code != 0 || !strings.Contains(out, "as expected") {
		t.Errorf("refused call, expected: exit %d\n%s", code, out)
	}
	// A DN with no line: 404, a failure of the run.
	code, out, _ = runBin(t, "check", "-mode", "call", "-tftp", d.TFTP, "-config", d.Config, "-idle-wait", "0", "-dial", "1999999")
	if code != 1 || !strings.Contains(out, ": 404") {
		t.Errorf("call to no line: exit %d\n%s", code, out)
	}
}
