package phonesimtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"selfprov/internal/testkit"
)

// The end-to-end tests run the real selfprovd binary, built once per test
// process from this checkout (go build selfprov/cmd/selfprovd), on
// loopback ports.

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildMu   sync.Mutex
)

// BuildBinary builds a command of this module (e.g.
// "selfprov/cmd/phonesim") once per process and returns its path.
func BuildBinary(t testing.TB, pkg string) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "phonesim-e2e")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = dir
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	out := filepath.Join(builtBin, filepath.Base(pkg))
	buildMu.Lock()
	defer buildMu.Unlock()
	if _, err := os.Stat(out); err == nil {
		return out
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// Addrs are the addresses a running selfprovd serves on.
type Addrs struct {
	TFTP     string `json:"tftp"`
	Config   string `json:"config"`
	SIP      string `json:"sip"`
	Services string `json:"services"`
	Admin    string `json:"admin"`
}

// Daemon is a running selfprovd.
type Daemon struct {
	Addrs
	DataDir string
	Token   string // admin API bearer token
	cmd     *exec.Cmd
	logs    *testkit.SyncBuffer
}

// freePort returns a loopback TCP address nothing listens on now. The
// services port is chosen up front because the daemon writes the
// configured (not the bound) services address into idle URLs.
func freePort(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(testkit.LoopbackPort(t, 1, "tcp"))
}

// StartDaemon runs selfprovd with config (YAML; "" for the built-in demo)
// on loopback ports and waits for it to serve; it is stopped with SIGTERM
// when the test ends, and its log is printed if the test failed.
func StartDaemon(t testing.TB, config string) *Daemon {
	t.Helper()
	bin := BuildBinary(t, "selfprov/cmd/selfprovd")
	d := &Daemon{DataDir: t.TempDir(), logs: &testkit.SyncBuffer{}}
	args := []string{"-data-dir", d.DataDir, "-advertise", "127.0.0.1", "-log.json",
		"-listen.tftp", "127.0.0.1:0", "-listen.config", "127.0.0.1:0", "-listen.sip", "127.0.0.1:0",
		"-listen.services", freePort(t), "-listen.admin", "127.0.0.1:0", "-listen.https", "127.0.0.1:0"}
	if config != "" {
		path := filepath.Join(t.TempDir(), "selfprov.yaml")
		if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-config", path)
	}
	d.cmd = exec.Command(bin, args...)
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Bytes()
			d.logs.Write(append(line, '\n'))
			if !found && bytes.Contains(line, []byte(`"selfprovd serving"`)) {
				found = true
				ready <- json.Unmarshal(line, &d.Addrs)
			}
		}
		if !found {
			ready <- fmt.Errorf("selfprovd stopped writing its log before serving (scan: %v)", sc.Err())
		}
		io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- d.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = d.cmd.Process.Kill()
			<-done
			t.Error("selfprovd did not stop within 15s of SIGTERM")
		}
		if t.Failed() {
			logs := d.logs.String()
			if len(logs) > 8000 {
				logs = "..." + logs[len(logs)-8000:]
			}
			t.Logf("selfprovd log:\n%s", logs)
		}
	})
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("%v\n%s", err, d.logs.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("selfprovd did not serve within 90s\n%s", d.logs.String())
	}
	tok, err := os.ReadFile(filepath.Join(d.DataDir, "admin-token"))
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	d.Token = strings.TrimSpace(string(tok))
	return d
}

// AdminGet GETs an admin API path (e.g. /api/v1/devices/SEP...) into v.
func (d *Daemon) AdminGet(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.Admin+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, res.Status, b)
	}
	return json.Unmarshal(b, v)
}

// DemoWithUsers is configs/demo.yaml (read from the module at
// demoPath) with n more users, user%04d with PIN 12345 and primary
// extension 3<nnnn>, and an auto-registration range of 100000-199999. It
// also returns the users as phonesim CSV lines.
func DemoWithUsers(t testing.TB, demoPath string, n int) (string, []string) {
	t.Helper()
	b, err := os.ReadFile(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), `startDN: "1000"`, `startDN: "100000"`, 1)
	cfg = strings.Replace(cfg, `endDN: "1999"`, `endDN: "199999"`, 1)
	// Every simulated phone fetches over TFTP from 127.0.0.1, as a floor
	// behind one NAT address does: no bound on transfers per source.
	cfg = strings.Replace(cfg, "  maxTransfersPerSource: 128\n", "  maxTransfersPerSource: 0\n", 1)
	// The users go first in the users list, wherever it is in the file.
	var sb strings.Builder
	var csv []string
	for i := range n {
		id := fmt.Sprintf("user%04d", i)
		ext := fmt.Sprintf("3%04d", i)
		fmt.Fprintf(&sb, "  - {userId: %s, lastName: L%04d, primaryExtension: \"%s\", userProfile: Standard User Profile, pin: \"12345\"}\n", id, i, ext)
		csv = append(csv, id+",12345,"+ext)
	}
	if !strings.Contains(cfg, "\nusers:\n") {
		t.Fatalf("%s has no users list", demoPath)
	}
	return strings.Replace(cfg, "\nusers:\n", "\nusers:\n"+sb.String(), 1), csv
}

// Memory returns the daemon's resident set size now and its peak, in bytes
// (Linux /proc).
func (d *Daemon) Memory() (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
			rss = kb << 10
		}
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			peak = kb << 10
		}
	}
	return rss, peak, nil
}
