package tftpd

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"selfprov/configs"
	"selfprov/internal/testkit"
	"selfprov/provision"
)

func TestServesGeneratedConfigs(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, nil)
	for _, tc := range []struct{ request, golden string }{
		{"SEP001122AABBCC.cnf.xml", "SEP001122AABBCC.cnf.xml"},
		{"sep001122aabbcc.CNF.XML", "SEP001122AABBCC.cnf.xml"}, // names match case-insensitively
		{"CSFALICE.cnf.xml", "CSFALICE.cnf.xml"},
		{"XMLDefault.cnf.xml", "XMLDefault.cnf.xml"},
		{"xmldefault.cnf.xml", "XMLDefault.cnf.xml"},
	} {
		t.Run(tc.request, func(t *testing.T) {
			got, err := get(t, r.tftp, tc.request, nil)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, got)
		})
	}
	// The device file is the one phonecfg renders for the device.
	got, _ := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil)
	if !bytes.Contains(got, []byte("<idleURL>http://192.0.2.10:8080/xps/idle?name=SEP001122AABBCC</idleURL>")) ||
		!bytes.Contains(got, []byte("<loadInformation>sip8845_65.14-2-1-0201-10</loadInformation>")) {
		t.Errorf("device config lacks the idle URL or the model's load:\n%s", got)
	}
}

func TestUnknownDeviceAndDefaultWithAutoRegistrationOff(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) { c.Cluster.AutoRegistration.Enabled = false })
	r := start(t, e, nil)
	for _, name := range []string{"SEP0A1B00000001.cnf.xml", "XMLDefault.cnf.xml", "CTLSEP001122AABBCC.tlv", "ITLFile.tlv", "dialplan.xml"} {
		if _, err := get(t, r.tftp, name, nil); !isNotFound(err) {
			t.Errorf("%s: err = %v, want TFTP file not found", name, err)
		}
	}
	// Turning auto-registration on is visible on the next fetch.
	if _, err := e.svc.UpdateCluster(context.Background(), func(c *provision.Cluster) error {
		c.AutoRegistration.Enabled = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, r.tftp, "XMLDefault.cnf.xml", nil); err != nil {
		t.Errorf("XMLDefault after auto-registration was turned on: %v", err)
	}
	if got := testutil.ToFloat64(r.srv.m.transfers.WithLabelValues(kindNotFound, resultFailed)); got < 5 {
		t.Errorf("not_found transfers = %v, want 5", got)
	}
}

func TestChangedDeviceIsServedOnNextFetch(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, nil)
	before, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	changed := autoDevice
	changed.Lines = []provision.Line{{Button: 1, DN: "2001", Label: "2001", DisplayName: "Alice Adams", Contact: "c2"}}
	changed.Settings.IdleURL = ""
	changed.ConfigVersion = "1767323999-new"
	if err := e.st.DeleteDevice(ctx, changed.Name, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateDevice(ctx, changed); err != nil {
		t.Fatal(err)
	}
	for _, fetch := range []func() ([]byte, error){
		func() ([]byte, error) { return get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil) },
		func() ([]byte, error) {
			_, body := httpGet(t, http.MethodGet, r.http+"/SEP001122AABBCC.cnf.xml")
			return body, nil
		},
	} {
		after, err := fetch()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(before, after) || !bytes.Contains(after, []byte("<versionStamp>1767323999-")) ||
			!bytes.Contains(after, []byte("<name>2001</name>")) || !bytes.Contains(after, []byte("<idleURL/>")) {
			t.Errorf("config after the change:\n%s", after)
		}
	}
}

func TestOptions(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, nil)
	want, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil)
	if err != nil {
		t.Fatal(err)
	}
	// tsize is answered with the file's size, blksize is negotiated.
	reply, c := exchange(t, r.tftp, rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "TSIZE", "0", "blksize", "1024", "timeout", "3"))
	if reply.op != opOACK {
		t.Fatalf("answer %+v, want OACK", reply)
	}
	if reply.opts["tsize"] != itoa(len(want)) {
		t.Errorf("OACK tsize %q, want %d", reply.opts["tsize"], len(want))
	}
	bs := atoi(reply.opts["blksize"])
	if bs < 512 || bs > 1024 {
		t.Errorf("OACK blksize %q, want 512..1024", reply.opts["blksize"])
	}
	// Finish the transfer by hand, so the blocks are of the agreed size.
	var got []byte
	from := reply.from
	for block := uint16(0); ; block++ {
		if _, err := c.WriteTo([]byte{0, opACK, byte(block >> 8), byte(block)}, from); err != nil {
			t.Fatal(err)
		}
		d := readReply(t, c)
		if d.op != opDATA || d.code != block+1 {
			t.Fatalf("answer %+v, want DATA %d", d, block+1)
		}
		got = append(got, d.data...)
		if len(d.data) < bs {
			_, _ = c.WriteTo([]byte{0, opACK, byte(d.code >> 8), byte(d.code)}, from)
			break
		}
		if len(d.data) != bs {
			t.Fatalf("block of %d bytes, agreed %d", len(d.data), bs)
		}
	}
	if !bytes.Equal(got, want) {
		t.Error("file sent with options differs from the plain one")
	}

	// pin/tftp's client with blksize and tsize.
	got, err = get(t, r.tftp, "SEP001122AABBCC.cnf.xml", func(c *tftp.Client) { c.SetBlockSize(1400); c.RequestTSize(true) })
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("with blksize and tsize: err %v, equal %v", err, bytes.Equal(got, want))
	}
}

// TestMissingTrustFilesAnsweredAtOnce: CTL, ITL and static files that are
// not there are answered "file not found" from the listening port, without
// a transfer of their own, and counted as the library's not-found
// answers are; an unknown device still goes through a transfer.
func TestMissingTrustFilesAnsweredAtOnce(t *testing.T) {
	static := t.TempDir()
	if err := os.WriteFile(filepath.Join(static, "ITLFile.tlv"), []byte("itl"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	for _, dir := range []string{static, filepath.Join(static, "absent")} {
		r := start(t, e, func(o *Options) { o.StaticDir = dir })
		for _, name := range []string{"CTLSEP001122AABBCC.tlv", "ITLSEP001122AABBCC.tlv", "ringlist.xml"} {
			reply, _ := exchange(t, r.tftp, rrqPacket(opRRQ, name, "octet"))
			if reply.op != opERROR || reply.code != errFileNotFound || reply.from.String() != r.tftp {
				t.Errorf("%s: answer op %d code %d from %v, want ERROR 1 from the listening port %s", name, reply.op, reply.code, reply.from, r.tftp)
			}
		}
		if got := testutil.ToFloat64(r.srv.m.transfers.WithLabelValues(kindNotFound, resultFailed)); got != 3 {
			t.Errorf("%s: not_found transfers = %v, want 3", dir, got)
		}
		if got := r.srv.slots.inUse(); got != 0 {
			t.Errorf("%s: %d transfer slots held", dir, got)
		}
		unknown, _ := exchange(t, r.tftp, rrqPacket(opRRQ, "SEP0A1B00000001.cnf.xml", "octet"))
		if unknown.op != opERROR || unknown.code != errFileNotFound || unknown.from.String() == r.tftp {
			t.Errorf("unknown device: answer op %d code %d from %v, want ERROR 1 from a transfer port", unknown.op, unknown.code, unknown.from)
		}
	}
	// A trust file that is there is served.
	r := start(t, e, func(o *Options) { o.StaticDir = static })
	if got, err := get(t, r.tftp, "itlfile.tlv", nil); err != nil || string(got) != "itl" {
		t.Errorf("ITLFile.tlv: %q, %v", got, err)
	}
}

// TestNotFoundCountedBeforeTheAnswer: a scrape made as soon as a phone has
// its "file not found" for a missing trust file includes it.
func TestNotFoundCountedBeforeTheAnswer(t *testing.T) {
	var (
		mu      sync.Mutex
		atWrite []float64
	)
	r := startOn(t, newEnv(t, nil), nil, func(s *Server, pc net.PacketConn) net.PacketConn {
		return &watchedConn{PacketConn: pc, beforeWrite: func() {
			mu.Lock()
			defer mu.Unlock()
			atWrite = append(atWrite, testutil.ToFloat64(s.m.transfers.WithLabelValues(kindNotFound, resultFailed)))
		}}
	})
	for _, name := range []string{"CTLSEP001122AABBCC.tlv", "ITLSEP001122AABBCC.tlv"} {
		if reply, _ := exchange(t, r.tftp, rrqPacket(opRRQ, name, "octet")); reply.op != opERROR || reply.code != errFileNotFound {
			t.Fatalf("%s: answer op %d code %d, want ERROR 1", name, reply.op, reply.code)
		}
	}
	// Serve's goroutine wrote both answers before the client read them.
	mu.Lock()
	defer mu.Unlock()
	if len(atWrite) != 2 || atWrite[0] != 1 || atWrite[1] != 2 {
		t.Errorf("not_found transfers when each answer was written: %v, want [1 2]", atWrite)
	}
}

// watchedConn calls beforeWrite ahead of each datagram sent from the
// listening socket.
type watchedConn struct {
	net.PacketConn
	beforeWrite func()
}

func (c *watchedConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.beforeWrite()
	return c.PacketConn.WriteTo(p, addr)
}

// TestListeningSocketBuffer: the listening socket takes a burst of read
// requests, not the kernel's default of a few hundred.
func TestListeningSocketBuffer(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skipf("no rmem_max to compare with: %v", err)
	}
	rmemMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, newEnv(t, nil), nil)
	// An answer means Serve has set the socket up.
	if reply, _ := exchange(t, r.tftp, rrqPacket(opRRQ, "ITLFile.tlv", "octet")); reply.op != opERROR {
		t.Fatalf("answer op %d", reply.op)
	}
	raw, err := r.pc.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var serr error
	if err := raw.Control(func(fd uintptr) { got, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	// The kernel doubles the value set, capped at rmem_max.
	if want := 2 * min(readBuffer, rmemMax); got < want {
		t.Errorf("SO_RCVBUF %d, want %d", got, want)
	}
}

func TestBadInput(t *testing.T) {
	static := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(static, "ok.txt"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(static, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(static, "escapedir")); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	r := start(t, e, func(o *Options) { o.StaticDir = static })

	long := strings.Repeat("a", 300) + ".cnf.xml"
	for _, tc := range []struct {
		name string
		pkt  []byte
		code uint16
		msg  string
	}{
		{"parent directory", rrqPacket(opRRQ, "../secret.txt", "octet"), errAccess, "leaves the folder"},
		{"parent inside path", rrqPacket(opRRQ, "a/../../secret.txt", "octet"), errAccess, "leaves the folder"},
		{"absolute path", rrqPacket(opRRQ, "/etc/passwd", "octet"), errAccess, "absolute"},
		{"backslash", rrqPacket(opRRQ, `..\secret.txt`, "octet"), errAccess, "backslash"},
		{"control character", rrqPacket(opRRQ, "SEP\x01.cnf.xml", "octet"), errAccess, "control"},
		{"NUL inside the name", rrqPacket(opRRQ, "SEP001122AABBCC\x00.cnf.xml", "octet"), errIllegalOp, "mode"},
		{"over-long name", rrqPacket(opRRQ, long, "octet"), errAccess, "limit"},
		{"symlink out of the folder", rrqPacket(opRRQ, "escape.txt", "octet"), 1, ""},
		{"through a symlinked folder", rrqPacket(opRRQ, "escapedir/secret.txt", "octet"), 1, ""},
		{"write request", rrqPacket(opWRQ, "SEP001122AABBCC.cnf.xml", "octet"), errAccess, "writes"},
		{"write of a new file", rrqPacket(opWRQ, "new.txt", "octet"), errAccess, "writes"},
		{"one byte", []byte{1}, errIllegalOp, "malformed"},
		{"unknown opcode", []byte{0, 9, 'x', 0}, errIllegalOp, "opcode"},
		{"no terminating NUL", []byte("\x00\x01SEP001122AABBCC.cnf.xml\x00octet"), errIllegalOp, "NUL"},
		{"no mode", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml"), errIllegalOp, "mode"},
		{"mail mode", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "mail"), errIllegalOp, "mode"},
		{"option without value", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "blksize"), errIllegalOp, "option pairs"},
		{"DATA to the listening port", []byte{0, opDATA, 0, 1, 'x'}, errUnknownTID, "no transfer"},
		{"ACK to the listening port", []byte{0, opACK, 0, 1}, errUnknownTID, "no transfer"},
		{"blksize 0", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "blksize", "0"), errOptionRefused, "blksize"},
		{"blksize too large", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "blksize", "65465"), errOptionRefused, "blksize"},
		{"blksize not a number", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "blksize", "1e3"), errOptionRefused, "blksize"},
		{"timeout 0", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "timeout", "0"), errOptionRefused, "timeout"},
		{"timeout 256", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "timeout", "256"), errOptionRefused, "timeout"},
		{"negative tsize", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "tsize", "-1"), errOptionRefused, "tsize"},
		{"huge tsize", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "tsize", "99999999999999999999"), errOptionRefused, "tsize"},
		{"windowsize 0", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "windowsize", "0"), errOptionRefused, "windowsize"},
		{"windowsize 65536", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "windowsize", "65536"), errOptionRefused, "windowsize"},
		{"windowsize with a sign", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "windowsize", "+8"), errOptionRefused, "windowsize"},
		{"blksize 7", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "blksize", "7"), errOptionRefused, "blksize"},
		{"blksize empty", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "blksize", ""), errOptionRefused, "blksize"},
		{"blksize with spaces", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "blksize", " 1428"), errOptionRefused, "blksize"},
		{"unknown SEP file", rrqPacket(opRRQ, "SEP0A1B00000001.cnf.xml", "octet"), 1, ""},
		{"signed config", rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml.sgn", "octet"), 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply, _ := exchange(t, r.tftp, tc.pkt)
			if reply.op != opERROR || reply.code != tc.code || !strings.Contains(reply.msg, tc.msg) {
				t.Errorf("answer op %d code %d %q, want ERROR %d mentioning %q", reply.op, reply.code, reply.msg, tc.code, tc.msg)
			}
			if strings.Contains(string(reply.data), "secret") {
				t.Error("a file outside the static folder was sent")
			}
		})
	}
	// The server still serves, inside the folder too.
	if got, err := get(t, r.tftp, "OK.TXT", nil); err != nil || string(got) != "ok" {
		t.Errorf("static file after bad input: %q, %v", got, err)
	}
	if _, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil); err != nil {
		t.Errorf("device config after bad input: %v", err)
	}
	for _, reason := range []string{refuseWrite, refuseBadName, refuseMalformed, refuseOption} {
		if testutil.ToFloat64(r.srv.m.transfers.WithLabelValues(kindRefused, reason)) == 0 {
			t.Errorf("no refused transfer counted for %s", reason)
		}
	}
}

func TestStaticFolder(t *testing.T) {
	static := t.TempDir()
	if err := os.MkdirAll(filepath.Join(static, "Desktops", "320x212x12"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"ringlist.xml":                 "<CiscoIPPhoneRingList/>",
		"Desktops/320x212x12/List.xml": "<CiscoIPPhoneImageList/>",
		"sip88xx.14-2-1-0201-10.loads": strings.Repeat("L", 5000),
		"ITLFile.tlv":                  "itl",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(static, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, nil)
	r := start(t, e, func(o *Options) { o.StaticDir = static })
	for name, body := range files {
		for _, req := range []string{name, strings.ToUpper(name)} {
			got, err := get(t, r.tftp, req, nil)
			if err != nil || string(got) != body {
				t.Errorf("TFTP %s: %d bytes, %v", req, len(got), err)
			}
			resp, got := httpGet(t, http.MethodGet, r.http+"/"+req)
			if resp.StatusCode != 200 || string(got) != body {
				t.Errorf("HTTP %s: %d, %d bytes", req, resp.StatusCode, len(got))
			}
		}
	}
	if _, err := get(t, r.tftp, "Desktops/missing.png", nil); !isNotFound(err) {
		t.Errorf("missing static file: %v", err)
	}
	// A directory is not a file.
	if _, err := get(t, r.tftp, "Desktops", nil); !isNotFound(err) {
		t.Errorf("directory: %v", err)
	}

	// An absent static folder serves no static files but everything else.
	r2 := start(t, e, func(o *Options) { o.StaticDir = filepath.Join(static, "absent") })
	if _, err := get(t, r2.tftp, "ringlist.xml", nil); !isNotFound(err) {
		t.Errorf("absent folder: %v", err)
	}
	if _, err := get(t, r2.tftp, "SEP001122AABBCC.cnf.xml", nil); err != nil {
		t.Errorf("absent folder, device config: %v", err)
	}
}

func TestConcurrencyBound(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, func(o *Options) { o.MaxTransfers = 1; o.Timeout = 300 * time.Millisecond; o.Retries = 1 })
	// A client that never acknowledges holds the only slot.
	first, _ := exchange(t, r.tftp, rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet"))
	if first.op != opDATA {
		t.Fatalf("first request answered %+v, want DATA", first)
	}
	second, _ := exchange(t, r.tftp, rrqPacket(opRRQ, "CSFALICE.cnf.xml", "octet"))
	if second.op != opERROR || second.code != errNotDefined || !strings.Contains(second.msg, "busy") {
		t.Errorf("request over the bound answered %+v, want ERROR busy", second)
	}
	if testutil.ToFloat64(r.srv.m.transfers.WithLabelValues(kindRefused, refuseBusy)) != 1 {
		t.Error("busy refusal not counted")
	}
	// Once the stalled transfer gives up, the slot is free again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := get(t, r.tftp, "CSFALICE.cnf.xml", nil); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("slot never freed: %v", err)
		}
	}
	// A slot reclaimed for the new request closes the stalled transfer's
	// socket; that transfer counts itself as it ends, maybe after the new
	// one was answered.
	noACK := func() float64 { return testutil.ToFloat64(r.srv.m.transfers.WithLabelValues("device", resultNoACK)) }
	testkit.WaitFor(t, "the stalled transfer counted as unacknowledged", func() bool { return noACK() >= 1 })
	if got := noACK(); got != 1 {
		t.Errorf("unacknowledged device transfers = %v, want 1 (the stalled one)", got)
	}
}

func TestHTTPMirror(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, nil)
	want, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := httpGet(t, http.MethodGet, r.http+"/sep001122aabbcc.cnf.xml")
	if resp.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Fatalf("GET: %d, body equal %v", resp.StatusCode, bytes.Equal(body, want))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cl := resp.Header.Get("Content-Length"); cl != itoa(len(want)) {
		t.Errorf("Content-Length %q, want %d", cl, len(want))
	}
	resp, body = httpGet(t, http.MethodHead, r.http+"/XMLDefault.cnf.xml")
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength <= 0 {
		t.Errorf("HEAD: %d, %d body bytes, length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/SEP0A1B00000001.cnf.xml", 404},
		{http.MethodHead, "/SEP0A1B00000001.cnf.xml", 404},
		{http.MethodGet, "/dialplan.xml", 404},
		{http.MethodGet, "/", 400},
		{http.MethodGet, "/..%2f..%2fetc%2fpasswd", 400},
		{http.MethodGet, "/a%00b", 400},
		{http.MethodPost, "/SEP001122AABBCC.cnf.xml", 405},
		{http.MethodPut, "/SEP001122AABBCC.cnf.xml", 405},
	} {
		resp, _ := httpGet(t, tc.method, r.http+tc.path)
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.code)
		}
	}
	// A raw request line with a dot-dot path, which clients normally clean.
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(r.http, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = conn.Write([]byte("GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
	buf := make([]byte, 512)
	n, _ := conn.Read(buf)
	if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 400")) {
		t.Errorf("raw dot-dot request answered %q", buf[:n])
	}
	if got := testutil.ToFloat64(r.srv.m.http.WithLabelValues("device", "200")); got != 1 {
		t.Errorf("http device 200 = %v", got)
	}
}

func TestMetricsExposition(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, nil)
	if _, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil); err != nil {
		t.Fatal(err)
	}
	// The server counts once it has the last acknowledgement, which
	// may be just after the client is done.
	testkit.WaitFor(t, "the transfer counted as ok", func() bool {
		return testutil.ToFloat64(r.srv.m.transfers.WithLabelValues("device", resultOK)) == 1
	})
	n, err := testutil.GatherAndCount(r.reg, "selfprov_tftp_transfers_total", "selfprov_tftp_sent_bytes_total",
		"selfprov_tftp_transfer_duration_seconds", "selfprov_tftp_active_transfers")
	if err != nil || n < 4 {
		t.Errorf("gathered %d series, %v", n, err)
	}
	if got := testutil.ToFloat64(r.srv.m.bytes.WithLabelValues("device")); got < 1000 {
		t.Errorf("sent bytes %v", got)
	}
	if problems, err := testutil.GatherAndLint(r.reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestNewRejects(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := New(Options{CallManagers: testCMs}); err == nil {
		t.Error("New without a core gave no error")
	}
	if _, err := New(Options{Core: e.svc}); err == nil {
		t.Error("New without call managers gave no error")
	}
	file := filepath.Join(t.TempDir(), "file")
	_ = os.WriteFile(file, nil, 0o644)
	if _, err := New(Options{Core: e.svc, CallManagers: testCMs, StaticDir: file}); err == nil {
		t.Error("New with a file as static folder gave no error")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// TestTimeoutOption: the server acknowledges the client's timeout and
// retransmits on it, not on its own (much longer) one.
func TestTimeoutOption(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, func(o *Options) { o.Timeout = time.Minute; o.Retries = 1; o.FirstACKTimeout = time.Minute })
	first, c := exchange(t, r.tftp, rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "timeout", "1"))
	if first.op != opOACK || len(first.opts) != 1 || first.opts["timeout"] != "1" {
		t.Fatalf("answer %+v, want OACK timeout 1", first)
	}
	// No ACK: the OACK comes again after about a second; readReply waits
	// 5 s at most, far below the server's own minute.
	again := readReply(t, c)
	if again.op != opOACK || again.opts["timeout"] != "1" {
		t.Fatalf("retransmission %+v, want the OACK", again)
	}
	got, err := receive(t, c, again.from, 0, 512, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil)
	if !bytes.Equal(got, want) {
		t.Error("file sent after the retransmitted OACK differs")
	}
}
