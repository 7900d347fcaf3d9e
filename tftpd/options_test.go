package tftpd

import (
	"bytes"
	"crypto/rand"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"selfprov/internal/testkit"
)

// TestOptionNegotiation: every option asked for with a valid value is
// acknowledged with the value in force, and the blocks that follow are of
// that size; nothing is acknowledged that was not asked for.
func TestOptionNegotiation(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, nil)
	const name = "SEP001122AABBCC.cnf.xml"
	want, err := get(t, r.tftp, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	size := itoa(len(want))
	netasciiSize := itoa(len(want) + bytes.Count(want, []byte("\n")) + bytes.Count(want, []byte("\r")))
	for _, tc := range []struct {
		name string
		mode string
		opts []string
		oack map[string]string // nil: no OACK, DATA 1 at once
		blk  int
		win  int
	}{
		{"blksize 8", "octet", []string{"blksize", "8"}, map[string]string{"blksize": "8"}, 8, 1},
		{"blksize 511", "octet", []string{"blksize", "511"}, map[string]string{"blksize": "511"}, 511, 1},
		{"blksize 1428 and tsize", "octet", []string{"blksize", "1428", "tsize", "0"}, map[string]string{"blksize": "1428", "tsize": size}, 1428, 1},
		{"blksize 65464 upper case", "octet", []string{"BLKSIZE", "65464"}, map[string]string{"blksize": "65464"}, 65464, 1},
		{"timeout 3", "octet", []string{"timeout", "3"}, map[string]string{"timeout": "3"}, 512, 1},
		{"timeout 10", "octet", []string{"Timeout", "10"}, map[string]string{"timeout": "10"}, 512, 1},
		{"timeout 255 is declined", "octet", []string{"timeout", "255"}, nil, 512, 1},
		{"timeout 255 declined beside blksize", "octet", []string{"timeout", "255", "blksize", "1024"}, map[string]string{"blksize": "1024"}, 1024, 1},
		{"windowsize 1", "octet", []string{"windowsize", "1"}, map[string]string{"windowsize": "1"}, 512, 1},
		{"windowsize 4", "octet", []string{"windowsize", "4"}, map[string]string{"windowsize": "4"}, 512, 4},
		{"windowsize 65535", "octet", []string{"windowsize", "65535"}, map[string]string{"windowsize": "65535"}, 512, 65535},
		{"all four", "octet", []string{"tsize", "0", "blksize", "1428", "timeout", "2", "windowsize", "8"},
			map[string]string{"blksize": "1428", "tsize": size, "timeout": "2", "windowsize": "8"}, 1428, 8},
		{"unknown options only", "octet", []string{"multicast", "", "x-vendor", "1"}, nil, 512, 1},
		{"unknown beside known", "octet", []string{"x-vendor", "1", "blksize", "1000"}, map[string]string{"blksize": "1000"}, 1000, 1},
		{"repeated option: the first counts", "octet", []string{"blksize", "1024", "BLKSIZE", "2048", "blksize", "x"}, map[string]string{"blksize": "1024"}, 1024, 1},
		{"tsize in netascii", "netascii", []string{"tsize", "0"}, map[string]string{"tsize": netasciiSize}, 512, 1},
		{"non-zero tsize is answered with the size", "octet", []string{"tsize", "99"}, map[string]string{"tsize": size}, 512, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply, c := exchange(t, r.tftp, rrqPacket(opRRQ, append([]string{name, tc.mode}, tc.opts...)...))
			var got []byte
			if tc.oack == nil {
				if reply.op != opDATA || reply.code != 1 {
					t.Fatalf("answer %+v, want DATA 1 without an OACK", reply)
				}
				rest, err := receive(t, c, reply.from, 1, tc.blk, tc.win)
				if err != nil {
					t.Fatal(err)
				}
				got = append(reply.data, rest...)
			} else {
				if reply.op != opOACK || !maps.Equal(reply.opts, tc.oack) {
					t.Fatalf("answer op %d %v, want OACK %v", reply.op, reply.opts, tc.oack)
				}
				if got, err = receive(t, c, reply.from, 0, tc.blk, tc.win); err != nil {
					t.Fatal(err)
				}
			}
			wantBytes := want
			if tc.mode == "netascii" {
				wantBytes = bytes.ReplaceAll(want, []byte("\n"), []byte("\r\n"))
			}
			if !bytes.Equal(got, wantBytes) {
				t.Errorf("%d bytes received, want %d", len(got), len(wantBytes))
			}
		})
	}
}

// writeStatic writes n random bytes as name in a new static folder.
func writeStatic(t *testing.T, name string, n int) (dir string, data []byte) {
	t.Helper()
	dir = t.TempDir()
	data, err := writeStaticBytes(dir, name, n)
	if err != nil {
		t.Fatal(err)
	}
	return dir, data
}

func writeStaticBytes(dir, name string, n int) ([]byte, error) {
	data := make([]byte, n)
	_, _ = rand.Read(data)
	return data, os.WriteFile(filepath.Join(dir, name), data, 0o644)
}

// TestWindowsize: with windowsize 8 the server sends eight blocks before
// it waits; an ACK for a block inside the window moves the window on from
// the block after it (RFC 7440).
func TestWindowsize(t *testing.T) {
	const blk = 1428
	dir, data := writeStatic(t, "sip88xx.loads", 40*blk+100)
	r := start(t, newEnv(t, nil), func(o *Options) { o.StaticDir = dir })
	reply, c := exchange(t, r.tftp, rrqPacket(opRRQ, "sip88xx.loads", "octet", "blksize", itoa(blk), "windowsize", "8"))
	if reply.op != opOACK || reply.opts["windowsize"] != "8" || reply.opts["blksize"] != itoa(blk) {
		t.Fatalf("answer %+v, want OACK blksize %d windowsize 8", reply, blk)
	}
	from := reply.from
	ack := func(b uint16) {
		if _, err := c.WriteTo([]byte{0, opACK, byte(b >> 8), byte(b)}, from); err != nil {
			t.Fatal(err)
		}
	}
	ack(0)
	for want := uint16(1); want <= 8; want++ {
		d := readReply(t, c)
		if d.op != opDATA || d.code != want || len(d.data) != blk {
			t.Fatalf("answer op %d block %d (%d bytes), want DATA %d of %d bytes before any ACK", d.op, d.code, len(d.data), want, blk)
		}
	}
	// As if blocks 6 to 8 were lost: the next window starts at 6.
	ack(5)
	d := readReply(t, c)
	if d.op != opDATA || d.code != 6 {
		t.Fatalf("after ACK 5: op %d block %d, want DATA 6", d.op, d.code)
	}
	// Take 6 to 13, then the rest.
	got := append([]byte(nil), data[:5*blk]...)
	got = append(got, d.data...)
	for want := uint16(7); want <= 13; want++ {
		d := readReply(t, c)
		if d.op != opDATA || d.code != want {
			t.Fatalf("op %d block %d, want DATA %d", d.op, d.code, want)
		}
		got = append(got, d.data...)
	}
	rest, err := receive(t, c, from, 13, blk, 8)
	if err != nil {
		t.Fatal(err)
	}
	if got = append(got, rest...); !bytes.Equal(got, data) {
		t.Errorf("%d bytes received, want %d", len(got), len(data))
	}
	testkit.WaitFor(t, "the transfer counted as ok", func() bool {
		return testutil.ToFloat64(r.srv.m.transfers.WithLabelValues("static", resultOK)) == 1
	})
}

// TestBlockNumbersWrap: a transfer of more than 65535 blocks goes on from
// block 0 after block 65535, and a file that is a whole number of blocks
// ends with an empty one.
func TestBlockNumbersWrap(t *testing.T) {
	const blk = 8
	dir, data := writeStatic(t, "big.bin", 70000*blk)
	r := start(t, newEnv(t, nil), func(o *Options) { o.StaticDir = dir })
	reply, c := exchange(t, r.tftp, rrqPacket(opRRQ, "big.bin", "octet", "blksize", itoa(blk), "windowsize", "32"))
	if reply.op != opOACK {
		t.Fatalf("answer %+v, want OACK", reply)
	}
	_ = c.SetReadBuffer(1 << 20)
	got, err := receive(t, c, reply.from, 0, blk, 32)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("%d bytes received, want %d", len(got), len(data))
	}
}

// TestRetransmitsTheWindow: without an ACK the server sends the whole
// window again from the first block not acknowledged; an old ACK does not
// make it send anything.
func TestRetransmitsTheWindow(t *testing.T) {
	dir, data := writeStatic(t, "f.bin", 10*512)
	r := start(t, newEnv(t, nil), func(o *Options) { o.StaticDir = dir; o.Timeout = 200 * time.Millisecond })
	reply, c := exchange(t, r.tftp, rrqPacket(opRRQ, "f.bin", "octet", "windowsize", "3"))
	if reply.op != opOACK {
		t.Fatalf("answer %+v, want OACK", reply)
	}
	if _, err := c.WriteTo([]byte{0, opACK, 0, 0}, reply.from); err != nil {
		t.Fatal(err)
	}
	var seen []uint16
	for range 6 {
		d := readReply(t, c)
		seen = append(seen, d.code)
	}
	if want := []uint16{1, 2, 3, 1, 2, 3}; !slicesEqual(seen, want) {
		t.Fatalf("blocks %v, want %v (one window, then the same again)", seen, want)
	}
	// ACK 3 moves the window to 4–6; a late ACK 2 then changes nothing:
	// what comes next is 4 again, on the timeout, not 3.
	ack := func(b uint16) {
		if _, err := c.WriteTo([]byte{0, opACK, 0, byte(b)}, reply.from); err != nil {
			t.Fatal(err)
		}
	}
	ack(3)
	seen = seen[:0]
	for range 3 {
		seen = append(seen, readReply(t, c).code)
	}
	ack(2)
	for d := readReply(t, c); d.code != 4; d = readReply(t, c) {
		if d.code < 4 {
			t.Fatalf("after a late ACK 2: block %d", d.code)
		}
	}
	if want := []uint16{4, 5, 6}; !slicesEqual(seen, want) {
		t.Fatalf("after ACK 3: blocks %v, want %v", seen, want)
	}
	got, err := receive(t, c, reply.from, 3, 512, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(append([]byte(nil), data[:3*512]...), got...), data) {
		t.Error("bytes differ")
	}
}

func slicesEqual(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestClientErrorToOACK: a client that refuses the OACK (ERROR 8) ends
// the transfer and frees its slot.
func TestClientErrorToOACK(t *testing.T) {
	r := start(t, newEnv(t, nil), func(o *Options) { o.FirstACKTimeout = time.Minute; o.Timeout = time.Minute })
	reply, c := exchange(t, r.tftp, rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet", "blksize", "1428"))
	if reply.op != opOACK {
		t.Fatalf("answer %+v, want OACK", reply)
	}
	if _, err := c.WriteTo(errorPacket(errOptionRefused, "no thanks"), reply.from); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "every slot free", func() bool { return r.srv.slots.inUse() == 0 })
	if got := testutil.ToFloat64(r.srv.m.transfers.WithLabelValues("device", resultFailed)); got != 1 {
		t.Errorf("failed device transfers = %v, want 1 (refused by the client, not unacknowledged)", got)
	}
}

// TestSymlinkOutOfStaticFolder: a symlink leaving the static folder is
// "file not found", over TFTP and HTTP, with nothing said about the path.
func TestSymlinkOutOfStaticFolder(t *testing.T) {
	static, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"escape.txt": filepath.Join(outside, "secret.txt"),
		"escapedir":  outside,
		"relative":   "../" + filepath.Base(outside) + "/secret.txt",
	} {
		if err := os.Symlink(target, filepath.Join(static, name)); err != nil {
			t.Fatal(err)
		}
	}
	r := start(t, newEnv(t, nil), func(o *Options) { o.StaticDir = static })
	for _, name := range []string{"escape.txt", "escapedir/secret.txt", "relative", "ESCAPE.TXT"} {
		reply, _ := exchange(t, r.tftp, rrqPacket(opRRQ, name, "octet"))
		if reply.op != opERROR || reply.code != errFileNotFound || reply.msg != "file not found" {
			t.Errorf("%s: answer op %d code %d %q, want ERROR 1 \"file not found\"", name, reply.op, reply.code, reply.msg)
		}
		resp, body := httpGet(t, "GET", r.http+"/"+name)
		if resp.StatusCode != 404 || strings.Contains(string(body), "escape") || strings.Contains(string(body), "secret") {
			t.Errorf("HTTP %s: %d %q, want 404 saying nothing of the path", name, resp.StatusCode, body)
		}
	}
	if got := testutil.ToFloat64(r.srv.m.transfers.WithLabelValues(kindNotFound, resultFailed)); got != 4 {
		t.Errorf("not_found transfers = %v, want 4", got)
	}
}

// stall sends a read request from a new socket on ip and returns the
// first answer, never acknowledging it.
func stall(t testing.TB, addr, ip string, opts ...string) tftpReply {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ua, _ := net.ResolveUDPAddr("udp", addr)
	if _, err := c.WriteTo(rrqPacket(opRRQ, append([]string{"SEP001122AABBCC.cnf.xml", "octet"}, opts...)...), ua); err != nil {
		t.Fatal(err)
	}
	return readReply(t, c)
}

// TestNetasciiBound: a file too large to convert in memory is refused in
// netascii mode with a clear error, and served in octet mode.
func TestNetasciiBound(t *testing.T) {
	dir, data := writeStatic(t, "big.loads", maxNetascii+1)
	r := start(t, newEnv(t, nil), func(o *Options) { o.StaticDir = dir })
	reply, _ := exchange(t, r.tftp, rrqPacket(opRRQ, "big.loads", "netascii"))
	if reply.op != opERROR || reply.code != errNotDefined || !strings.Contains(reply.msg, "octet") {
		t.Errorf("netascii: answer op %d code %d %q, want ERROR 0 asking for octet", reply.op, reply.code, reply.msg)
	}
	reply, c := exchange(t, r.tftp, rrqPacket(opRRQ, "big.loads", "octet", "blksize", "1428", "windowsize", "16"))
	if reply.op != opOACK {
		t.Fatalf("octet: answer %+v, want OACK", reply)
	}
	_ = c.SetReadBuffer(1 << 20)
	got, err := receive(t, c, reply.from, 0, 1428, 16)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("octet: %d bytes, %v", len(got), err)
	}
}
