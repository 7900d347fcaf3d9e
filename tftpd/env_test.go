package tftpd

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus"

	"selfprov/configs"
	"selfprov/internal/coretest"
	"selfprov/internal/testkit"
	"selfprov/phonecfg"
	"selfprov/provision"
	"selfprov/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// env is a provisioning core over a real store with the demo
// configuration, plus fixed devices whose configs are golden files.
type env struct {
	svc *provision.Service
	st  *sqlite.Store
	// mirror, when set, chooses how the HTTP mirror serves connections
	// (see mirrorDrivers).
	mirror func(*HTTPMirror)
}

var (
	autoDevice = provision.Device{
		Name: "SEP001122AABBCC", Model: 36224, Protocol: "SIP", Description: "Auto 1000",
		State: provision.StateAutoRegistered, UDT: "Auto-registration Template",
		Settings: provision.DeviceSettings{
			DevicePool: "Default", CallManagerGroup: "Default",
			IdleURL: "http://192.0.2.10:8080/xps/idle?name=SEP001122AABBCC", IdleTimeout: 5,
			AuthenticationURL: "http://192.0.2.10:8080/xps/authenticate",
			Transport:         "tcp", UserLocale: "English_United_States",
		},
		Lines: []provision.Line{{Button: 1, DN: "1000", Label: "1000", DisplayName: "Auto 1000",
			Contact: "6c1f0b52-2d4e-4c1b-9a51-0f3e8d2a7b11", MaxCalls: 2, BusyTrigger: 1}},
		ConfigVersion: "1767323045-6c1f0b52-2d4e-4c1b-9a51-0f3e8d2a7b10",
		CreatedAt:     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	clientDevice = provision.Device{
		Name: "CSFALICE", Model: 503, Protocol: "SIP", Owner: "alice", Description: "Alice Adams (CSF)",
		State: provision.StateProvisioned, UDT: "Mobile and Desktop Template",
		Settings: provision.DeviceSettings{DevicePool: "Default", CallManagerGroup: "Default", Transport: "tcp", UserLocale: "English_United_States"},
		Lines: []provision.Line{{Button: 1, DN: "2001", Label: "2001 - Adams", DisplayName: "Alice Adams",
			Contact: "0a1b2c3d-0000-4000-8000-000000000005", MaxCalls: 4, BusyTrigger: 2}},
		ConfigVersion: "1767323099-0a1b2c3d-0000-4000-8000-000000000004",
		CreatedAt:     time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC),
	}
	testCMs = []phonecfg.CallManager{{Host: "192.0.2.10", SIPPort: 5060, SecuredSIPPort: 5061}}
)

func newEnv(t testing.TB, change func(*configs.Config)) *env {
	t.Helper()
	ctx := context.Background()
	c := coretest.New(t, coretest.Options{Change: change, Clock: provision.SystemClock})
	svc, st := c.Svc, c.Store
	for _, d := range []provision.Device{autoDevice, clientDevice} {
		if err := st.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	return &env{svc: svc, st: st}
}

// running is a Server on loopback sockets.
type running struct {
	srv  *Server
	pc   net.PacketConn
	tftp string // host:port
	http string // base URL
	reg  *prometheus.Registry
	e    *env
}

func start(t testing.TB, e *env, change func(*Options)) *running {
	t.Helper()
	return startOn(t, e, change, nil)
}

// startOn is start with the listening socket passed through wrap, when
// wrap is not nil.
func startOn(t testing.TB, e *env, change func(*Options), wrap func(*Server, net.PacketConn) net.PacketConn) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	o := Options{Core: e.svc, CallManagers: testCMs, Registerer: reg, Timeout: time.Second, Retries: 3,
		// Raw requests left unacknowledged end soon, so Shutdown does not wait long.
		FirstACKTimeout: 1500 * time.Millisecond}
	if change != nil {
		change(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := srv.HTTPServer()
	if e.mirror != nil {
		e.mirror(hs)
	}
	tftpDone := make(chan error, 1)
	served := pc
	if wrap != nil {
		served = wrap(srv, pc)
	}
	go func() { tftpDone <- srv.Serve(served) }()
	go func() { _ = hs.Serve(ln) }()
	// A test that speaks only HTTP may end before Serve has begun, and a
	// Shutdown first would make Serve refuse.
	testkit.WaitFor(t, "the TFTP server serving", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.conn != nil
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		select {
		case err := <-tftpDone:
			if err != nil {
				t.Errorf("Serve returned %v", err)
			}
		case <-ctx.Done():
			t.Error("Serve did not return after Shutdown")
		}
	})
	return &running{srv: srv, pc: pc, tftp: pc.LocalAddr().String(), http: "http://" + ln.Addr().String(), reg: reg, e: e}
}

// get fetches a file with pin/tftp's client.
func get(t testing.TB, addr, name string, change func(*tftp.Client)) ([]byte, error) {
	t.Helper()
	c, err := tftp.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(time.Second)
	c.SetRetries(3)
	if change != nil {
		change(c)
	}
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	_, err = wt.WriteTo(&buf)
	return buf.Bytes(), err
}

func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	testkit.Golden(t, path, got, *update)
	want, _ := os.ReadFile(path)
	return want
}

// tftpReply is a decoded answer to a raw request.
type tftpReply struct {
	op   uint16
	code uint16 // ERROR code, or DATA block number
	msg  string // ERROR message
	opts map[string]string
	data []byte
	from net.Addr
}

// exchange sends one raw datagram to addr and returns the first answer.
func exchange(t testing.TB, addr string, pkt []byte) (tftpReply, *net.UDPConn) {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.WriteTo(pkt, ua); err != nil {
		t.Fatal(err)
	}
	return readReply(t, c), c
}

func readReply(t testing.TB, c *net.UDPConn) tftpReply {
	t.Helper()
	buf := make([]byte, 70000)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if n < 4 {
		t.Fatalf("answer of %d bytes", n)
	}
	r := tftpReply{op: binary.BigEndian.Uint16(buf), from: from}
	switch r.op {
	case opERROR:
		r.code = binary.BigEndian.Uint16(buf[2:])
		r.msg = string(bytes.TrimRight(buf[4:n], "\x00"))
	case opDATA:
		r.code = binary.BigEndian.Uint16(buf[2:])
		r.data = append([]byte(nil), buf[4:n]...)
	case opOACK:
		r.opts = map[string]string{}
		f := bytes.Split(bytes.TrimRight(buf[2:n], "\x00"), []byte{0})
		for i := 0; i+1 < len(f); i += 2 {
			r.opts[string(f[i])] = string(f[i+1])
		}
	}
	return r
}

func rrqPacket(op uint16, fields ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, op)
	for _, f := range fields {
		b = append(b, f...)
		b = append(b, 0)
	}
	return b
}

func httpGet(t testing.TB, method, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp, buf.Bytes()
}

// isNotFound reports a pin/tftp client error carrying TFTP "not found".
func isNotFound(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("code: 1,"))
}

func mac(i int) string { return fmt.Sprintf("0A1B%08X", i) }

// receive takes a transfer from the server's transfer port from as an
// RFC 7440 client does: it acknowledges block ackFirst (0 after an OACK),
// then the last block of every window of window blocks and the final
// short block. Blocks must be blksize long but the last; a block out of
// order is answered by acknowledging the last one in order.
func receive(t testing.TB, c *net.UDPConn, from net.Addr, ackFirst uint16, blksize, window int) ([]byte, error) {
	t.Helper()
	sendACK := func(b uint16) {
		if _, err := c.WriteTo([]byte{0, opACK, byte(b >> 8), byte(b)}, from); err != nil {
			t.Fatal(err)
		}
	}
	sendACK(ackFirst)
	var out []byte
	expect := ackFirst + 1
	inWindow := 0
	for {
		d := readReply(t, c)
		if d.op != opDATA {
			return out, fmt.Errorf("answer op %d code %d %q, want DATA %d", d.op, d.code, d.msg, expect)
		}
		if uint16(d.code) != expect {
			if d.code-expect < 0x8000 { // ahead: a block was lost
				sendACK(expect - 1)
				inWindow = 0
			}
			continue
		}
		if len(d.data) > blksize {
			return out, fmt.Errorf("block %d of %d bytes, agreed %d", d.code, len(d.data), blksize)
		}
		out = append(out, d.data...)
		if len(d.data) < blksize {
			sendACK(expect)
			return out, nil
		}
		expect++
		if inWindow++; inWindow == window {
			sendACK(expect - 1)
			inWindow = 0
		}
	}
}
