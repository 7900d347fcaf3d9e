package tftpd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
)

// loopMirror serves r's Server on a mirror with two event loops.
func loopMirror(t *testing.T, r *running, change func(*HTTPMirror)) (*HTTPMirror, string) {
	t.Helper()
	var m *HTTPMirror
	addr := mirrorOn(t, r, func(hm *HTTPMirror) {
		m = hm
		onLoops(hm)
		if change != nil {
			change(hm)
		}
	})
	return m, addr
}

// TestEventLoopAnswersFromMemory: a connection stays on its loop while
// what it asks is in memory (a rendered config, a device known to be
// absent, a missing trust file, a refusal); the first request that needs
// the store moves it to a goroutine, which answers it and every request
// after it, in order, after the answers the loop had not written.
func TestEventLoopAnswersFromMemory(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, nil)
	want, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil) // rendered and kept
	if err != nil {
		t.Fatal(err)
	}
	m, addr := loopMirror(t, r, nil)
	const (
		cached  = "GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n"
		unknown = "GET /SEP0A1B00000001.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n"
		trust   = "GET /CTLSEP001122AABBCC.tlv HTTP/1.1\r\nHost: x\r\n\r\n"
		refused = "DELETE /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n"
	)
	expect := func(rc *rawConn, codes ...int) {
		t.Helper()
		for i, code := range codes {
			resp, body := rc.answer("GET")
			if resp.StatusCode != code {
				t.Fatalf("answer %d: %d, want %d", i, resp.StatusCode, code)
			}
			if code == 200 && !bytes.Equal(body, want) {
				t.Fatalf("answer %d: not the config", i)
			}
		}
	}

	rc := dialRaw(t, addr)
	rc.send(cached + trust + refused + cached)
	expect(rc, 200, 404, 405, 200)
	m.mu.Lock()
	loops := m.loops
	m.mu.Unlock()
	if loops == nil || len(loops.loops) != 2 {
		t.Fatal("the mirror has no event loops")
	}
	if n := m.detached.Load(); n != 0 {
		t.Fatalf("%d connections left the loop for answers in memory", n)
	}

	// The unknown name is not known to be absent yet: the store is asked,
	// on a goroutine, and the answers before it come first.
	rc2 := dialRaw(t, addr)
	rc2.send(cached + unknown + cached + trust)
	expect(rc2, 200, 404, 200, 404)
	if n := m.detached.Load(); n != 1 {
		t.Fatalf("%d connections moved to a goroutine, want 1", n)
	}
	rc2.send(cached)
	expect(rc2, 200)

	// Now it is known to be absent: answered on the loop.
	rc3 := dialRaw(t, addr)
	rc3.send(unknown + cached)
	expect(rc3, 404, 200)
	if n := m.detached.Load(); n != 1 {
		t.Fatalf("%d connections moved to a goroutine, want still 1", n)
	}
	rc.send(cached) // the first connection is still served
	expect(rc, 200)
	if got := testutil.ToFloat64(r.srv.m.http.WithLabelValues("device", "200")); got != 7 {
		t.Errorf("http device 200 = %v, want 7", got)
	}
}

// TestEventLoopAfterAnswers: a connection moves onto a loop once its
// last loopAfter answers came from memory, and back after a request that
// needs the store; it is not moved again until as many answers in a row
// came from memory again.
func TestEventLoopAfterAnswers(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, nil)
	if _, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil); err != nil {
		t.Fatal(err)
	}
	m, addr := loopMirror(t, r, func(m *HTTPMirror) { m.loopAfter = 3 })
	const cached = "GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n"
	rc := dialRaw(t, addr)
	ask := func(reqs string, n int) {
		t.Helper()
		rc.send(reqs)
		for range n {
			if resp, _ := rc.answer("GET"); resp.StatusCode != 200 && resp.StatusCode != 404 {
				t.Fatalf("%d", resp.StatusCode)
			}
		}
	}
	moves := func(adopted, detached int64) {
		t.Helper()
		// A move comes just after the answer is written: wait for it (and
		// a little for one that should not come).
		time.Sleep(20 * time.Millisecond)
		deadline := time.Now().Add(5 * time.Second)
		for m.adopted.Load() != adopted && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if a, d := m.adopted.Load(), m.detached.Load(); a != adopted || d != detached {
			t.Fatalf("moved onto a loop %d times and off %d, want %d and %d", a, d, adopted, detached)
		}
	}
	ask(cached+cached, 2)
	moves(0, 0)
	ask(cached, 1)
	moves(1, 0)
	ask(cached+cached+cached+cached, 4)
	moves(1, 0)
	unknown := func(n int) string {
		return fmt.Sprintf("GET /SEP0A1B0000%04d.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n", n)
	}
	ask(unknown(1), 1) // the store is asked
	moves(1, 1)
	ask(cached+cached+unknown(2)+cached+cached, 5)
	moves(1, 1)
	ask(cached, 1)
	moves(2, 1)
}

// TestEventLoopManyConnections: connections spread over two loops, each
// asking in bursts and one request at a time, all get their own answers
// in order.
func TestEventLoopManyConnections(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, nil)
	want, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil)
	if err != nil {
		t.Fatal(err)
	}
	m, addr := loopMirror(t, r, nil)
	const conns, rounds = 40, 25
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(c)
			for round := range rounds {
				burst := 1 + (i+round)%4
				var req strings.Builder
				for k := range burst {
					if k%2 == 1 {
						fmt.Fprintf(&req, "HEAD /SEP001122AABBCC.cnf.xml?c=%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
					} else {
						req.WriteString("GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n")
					}
				}
				if _, err := c.Write([]byte(req.String())); err != nil {
					errs <- err
					return
				}
				for k := range burst {
					method := http.MethodGet
					if k%2 == 1 {
						method = http.MethodHead
					}
					resp, err := http.ReadResponse(br, &http.Request{Method: method})
					if err != nil {
						errs <- fmt.Errorf("connection %d round %d: %w", i, round, err)
						return
					}
					body, err := io.ReadAll(resp.Body)
					if err != nil || resp.StatusCode != 200 || (method == http.MethodGet) != bytes.Equal(body, want) {
						errs <- fmt.Errorf("connection %d round %d answer %d: %d, %d bytes, %v", i, round, k, resp.StatusCode, len(body), err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := m.detached.Load(); n != 0 {
		t.Errorf("%d connections left the loops", n)
	}
}

// TestEventLoopShutdownForced: a connection whose client does not read
// its answers holds Shutdown until its context ends, then is closed.
func TestEventLoopShutdownForced(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, nil)
	if _, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil); err != nil {
		t.Fatal(err)
	}
	m := r.srv.HTTPServer()
	onLoops(m)
	m.writeTimeout = time.Minute
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Serve(ln) }()
	c, err := net.DialTCP("tcp", nil, mustTCPAddr(t, ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadBuffer(4096)
	_ = c.SetWriteBuffer(4096)
	req := []byte(strings.Repeat("GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n", 100))
	// Write until a write waits: the server stopped reading, as it does
	// while its answers wait for room.
	blocked := false
	for i := 0; i < 5000 && !blocked; i++ {
		_ = c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		_, err := c.Write(req)
		blocked = err != nil
	}
	if !blocked {
		t.Fatal("the server read 26 MB of requests without writing their answers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begun := time.Now()
	if err := m.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want the context's deadline", err)
	}
	if d := time.Since(begun); d > 5*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	select {
	case err := <-done:
		if !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	// What was written before reaches the client, then the end.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil && !isReset(err) {
		t.Errorf("the connection stayed open: %v", err)
	}
}

// TestEventLoopStoppedKeepsGoroutine: a loop that has stopped (its epoll
// failed) takes no connection; the goroutine goes on serving it.
func TestEventLoopStoppedKeepsGoroutine(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, nil)
	if _, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil); err != nil {
		t.Fatal(err)
	}
	m, addr := loopMirror(t, r, func(m *HTTPMirror) { m.loopCount, m.loopCountInTurn, m.loopAfter = 1, 1, 2 })
	rc := dialRaw(t, addr)
	rc.send("GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := rc.answer("GET"); resp.StatusCode != 200 {
		t.Fatalf("%d", resp.StatusCode)
	}
	m.mu.Lock()
	l := m.loops.loops[0]
	m.mu.Unlock()
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	for i := range 5 {
		rc.send("GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := rc.answer("GET"); resp.StatusCode != 200 {
			t.Fatalf("answer %d: %d", i, resp.StatusCode)
		}
	}
	if n := m.adopted.Load(); n != 0 {
		t.Errorf("%d connections given to a stopped loop", n)
	}
	l.mu.Lock()
	l.stopped = false // for Shutdown
	l.mu.Unlock()
}

// TestEventLoopSteersByIncomingCPU: a connection goes to the loop of the
// CPU its client sends from (on loopback, the kernel takes in a packet on
// the sender's CPU), and follows its client to another CPU once it has
// asked steerEvery more times; answers keep coming in order throughout.
func TestEventLoopSteersByIncomingCPU(t *testing.T) {
	if !incomingCPUKnown() {
		t.Skip("the kernel has no SO_INCOMING_CPU")
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	var cpus []int
	for cpu := 0; cpu < 1024 && len(cpus) < 2; cpu++ {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	if len(cpus) < 2 {
		t.Skipf("needs two CPUs to run on, has %v", cpus)
	}
	e := newEnv(t, nil)
	r := start(t, e, nil)
	if _, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil); err != nil {
		t.Fatal(err)
	}
	m, addr := loopMirror(t, r, nil)

	// The client runs on one thread, pinned to one CPU at a time.
	done := make(chan error, 1)
	moveTo := make(chan int)
	asked := make(chan struct{})
	go func() {
		runtime.LockOSThread() // the thread ends with the goroutine, pinned
		pin := func(cpu int) error {
			var one unix.CPUSet
			one.Set(cpu)
			return unix.SchedSetaffinity(0, &one)
		}
		if err := pin(cpus[0]); err != nil {
			done <- err
			return
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(c)
		ask := func(n int) error {
			for range n {
				if _, err := c.Write([]byte("GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
					return err
				}
				resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
				if err != nil {
					return err
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != 200 {
					return fmt.Errorf("answer %d, %v", resp.StatusCode, err)
				}
			}
			return nil
		}
		for cpu := range moveTo {
			if err := pin(cpu); err != nil {
				done <- err
				return
			}
			if err := ask(steerEvery + 2); err != nil {
				done <- err
				return
			}
			asked <- struct{}{}
		}
		done <- nil
	}()
	on := func(cpu int) {
		t.Helper()
		moveTo <- cpu
		select {
		case <-asked:
		case err := <-done:
			t.Fatalf("client: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("client did not finish asking")
		}
	}
	held := func() [2]int32 {
		m.mu.Lock()
		defer m.mu.Unlock()
		return [2]int32{m.loops.loops[0].held.Load(), m.loops.loops[1].held.Load()}
	}
	want := func(cpu int) [2]int32 {
		var w [2]int32
		w[cpu] = 1
		return w
	}

	// The first two CPUs it may run on, in rank: loops 0 and 1.
	on(cpus[0])
	if got := held(); got != want(0) {
		t.Fatalf("sending from CPU %d: connections on the loops %v, want %v", cpus[0], got, want(0))
	}
	on(cpus[1])
	if got := held(); got != want(1) || m.steered.Load() != 1 {
		t.Fatalf("sending from CPU %d: connections on the loops %v (moved %d times), want %v once", cpus[1], got, m.steered.Load(), want(1))
	}
	on(cpus[1])
	if n := m.steered.Load(); n != 1 {
		t.Errorf("moved %d times, staying on one CPU", n)
	}
	close(moveTo)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := m.detached.Load(); n != 0 {
		t.Errorf("%d connections left the loops", n)
	}
}

func TestLoopsOfCPUs(t *testing.T) {
	set := func(cpus ...int) *unix.CPUSet {
		var s unix.CPUSet
		for _, c := range cpus {
			s.Set(c)
		}
		return &s
	}
	for _, tc := range []struct {
		set  *unix.CPUSet
		n    int
		want []int
	}{
		{set(0, 1), 2, []int{0, 1}},
		{set(2, 3, 6, 7), 4, []int{-1, -1, 0, 1, -1, -1, 2, 3}},
		{set(0, 2), 2, []int{0, -1, 1}}, // same parity, still one a loop
		{set(0, 1, 2), 2, []int{0, 1, 0}},
		{set(5), 1, []int{-1, -1, -1, -1, -1, 0}},
		{set(), 2, []int{}},
	} {
		if got := loopsOfCPUs(tc.set, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("loopsOfCPUs(%v CPUs, %d) = %v, want %v", tc.set.Count(), tc.n, got, tc.want)
		}
	}
}
