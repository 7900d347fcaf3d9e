package registrar

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"selfprov/internal/testkit"
)

// TestLinphonecTCPOneConnection: real linphonec registers over TCP, sends
// RFC 5626 keep-alives every second and refreshes its registration, all on
// the one connection it opened: each ping gets its pong, the registrar
// never closes the connection, and the binding keeps its source port.
func TestLinphonecTCPOneConnection(t *testing.T) {
	bin := testkit.Peer(t, "linphonec", "linphone-cli")
	var pongs atomic.Int64
	hook := func(data []byte) {
		if string(data) == "\r\n" {
			pongs.Add(1)
		}
	}
	testHookGatheredWrite.Store(&hook)
	t.Cleanup(func() { testHookGatheredWrite.Store(nil) })

	const expires = 6
	e := newEnv(t, envOpt{opts: func(o *Options) {
		o.DefaultExpires, o.MinExpires = expires, 1
	}})
	user := "SEP0A1B2C3D4E70"
	dir := t.TempDir()
	tmpl, err := os.ReadFile(filepath.Join("testdata", "linphonec.rc"))
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(e.tcp, ":")
	rc := strings.NewReplacer("$PORT", port, "$USER", user, "$EXPIRES", strconv.Itoa(expires)).Replace(string(tmpl))
	// linphonec keeps its call history there; without it, it complains.
	if err := os.MkdirAll(filepath.Join(dir, ".local", "share", "linphone"), 0o700); err != nil {
		t.Fatal(err)
	}
	rcPath := filepath.Join(dir, "linphonerc")
	if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-c", rcPath, "-d", "0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuf
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_, _ = stdin.Write([]byte("quit\n"))
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("linphonec output:\n%s", tail(out.String(), 4000))
		}
	})

	// Registered: the first 200 on TCP.
	var first Binding
	testkit.WaitWithin(t, 20*time.Second, "linphonec to register over TCP", func() bool {
		b, ok := e.srv.Binding(user)
		first = b
		return ok
	})
	if first.Transport != TCP {
		t.Fatalf("binding %+v, want TCP", first)
	}
	// At least two refreshes and three keep-alives later, still the one
	// connection: same source, never closed by us, one open.
	regs0 := e.registers(200)
	testkit.WaitWithin(t, 4*expires*time.Second, "two refreshes and three pongs", func() bool {
		return e.registers(200) >= regs0+2 && pongs.Load() >= 3
	})
	b, ok := e.srv.Binding(user)
	if !ok || b.Source != first.Source || b.Transport != TCP {
		t.Fatalf("after refreshes the binding is %+v (first %+v), want the same source", b, first)
	}
	if n := e.srv.conns.open(); n != 1 {
		t.Fatalf("%d connections open, want linphonec's one", n)
	}
	for _, r := range []string{connClosedIdle, connClosedSourceCap, connClosedCap} {
		if got := e.counter(t, e.srv.m.closedOf[r]); got != 0 {
			t.Fatalf("%v connections closed for %s", got, r)
		}
	}
	t.Logf("binding %s over %s; %v REGISTERs answered 200, %d pongs", b.Source, b.Transport, e.registers(200), pongs.Load())
}

// syncBuf collects a child's output while the test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
