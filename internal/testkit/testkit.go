// Package testkit holds what every package's tests share: golden files,
// real peers behind SELFPROV_INTEROP, a log buffer safe for servers, and
// bounded waits for what a server does in its own time.
// It is imported by tests only.
package testkit

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
