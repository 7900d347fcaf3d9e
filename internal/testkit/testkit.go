// Package testkit holds what every package's tests share: golden files,
// real peers behind SELFPROV_INTEROP, a log buffer safe for servers, and
// bounded waits for what a server does in its own time.
// It is imported by tests only.
package testkit

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Golden compares got with the file at path (under testdata/), first
// rewriting the file when update is set (the package's -update flag).
func Golden(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (check, then run go test with -update):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// Peer returns the path of a real peer program. Without SELFPROV_INTEROP=1
// the test is skipped with how to run it; with it, a missing peer fails
// the test, never skips it.
func Peer(t testing.TB, bin, debianPackage string) string {
	t.Helper()
	if os.Getenv("SELFPROV_INTEROP") != "1" {
		t.Skipf("set SELFPROV_INTEROP=1 to run against real %s; apt-get install %s", bin, debianPackage)
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("SELFPROV_INTEROP=1 but %s is missing (apt-get install %s): %v", bin, debianPackage, err)
	}
	return path
}

// SyncBuffer is a bytes.Buffer that a server's logger and the test may use
// at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// OnlyImports fails the test when pkg depends on a module outside the
// standard library other than itself and allowed: it keeps the core free
// of adapters and the wire formats free of the server.
func OnlyImports(t testing.TB, pkg string, allowed ...string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != pkg && !slices.Contains(allowed, p) {
			t.Errorf("%s depends on %s; it may import only the standard library and %v", pkg, p, allowed)
		}
	}
}

// WaitFor polls cond until it holds, failing the test after 5 s with what
// it was waiting for.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitWithin(t, 5*time.Second, what, cond)
}

// WaitWithin polls cond until it holds or limit passes; a real client's
// timers (its refresh interval) may set a limit longer than WaitFor's.
// On failure the message adds what each more returns (a peer's output).
func WaitWithin(t testing.TB, limit time.Duration, what string, cond func() bool, more ...func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("timed out after %s waiting for %s", limit, what)
			for _, m := range more {
				msg += "\n" + m()
			}
			t.Fatal(msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// LoopbackPort returns a port of 127.0.0.1 that is free, at the moment of
// the call, for each of networks ("tcp", "udp") on it and on the span-1
// ports above it, for a peer that must be told its port before it binds.
// The port is drawn at random below the kernel's ephemeral range: a port
// the kernel handed out and took back (":0") is soon handed to another
// test's outgoing connection, and the peer then fails to bind it.
func LoopbackPort(t testing.TB, span int, networks ...string) int {
	t.Helper()
	low, high := portPool()
	if high-low <= 10*span {
		t.Fatalf("the ephemeral port range leaves no loopback ports to choose from (%d-%d)", low, high)
	}
	for range 200 {
		port := low + rand.IntN(high-low-span)
		if portsFree(port, span, networks) {
			return port
		}
	}
	t.Fatalf("no run of %d loopback ports free for %v in 200 tries in %d-%d", span, networks, low, high)
	return 0
}

// portPool is where LoopbackPort draws from: below the ephemeral range
// (net.ipv4.ip_local_port_range, 32768-60999 by default) and above the
// registered ports' busiest part, or above the range when it starts low.
func portPool() (low, high int) {
	first, last := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if a, err := strconv.Atoi(f[0]); err == nil {
				first = a
			}
			if z, err := strconv.Atoi(f[1]); err == nil {
				last = z
			}
		}
	}
	if first-20000 >= 2000 {
		return 20000, first
	}
	return last + 1, 65536
}

func portsFree(port, span int, networks []string) bool {
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for p := port; p < port+span; p++ {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		for _, network := range networks {
			var c io.Closer
			var err error
			if network == "udp" {
				c, err = net.ListenPacket("udp", addr)
			} else {
				c, err = net.Listen(network, addr)
			}
			if err != nil {
				return false
			}
			held = append(held, c)
		}
	}
	return true
}
