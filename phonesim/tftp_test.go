package phonesim

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeTFTP is a scripted TFTP server on 127.0.0.1: serve gets every read
// request on the listening socket and answers as the test wants.
type fakeTFTP struct {
	t    *testing.T
	conn *net.UDPConn
}

func newFakeTFTP(t *testing.T, serve func(f *fakeTFTP, client *net.UDPAddr, name string)) *fakeTFTP {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTFTP{t: t, conn: c}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if n < 4 || binary.BigEndian.Uint16(buf) != tftpRRQ {
				continue
			}
			fields := bytes.Split(buf[2:n], []byte{0})
			serve(f, from, string(fields[0]))
		}
	}()
	return f
}

func (f *fakeTFTP) addr() string { return f.conn.LocalAddr().String() }

// transferSocket is a new server TID for one transfer.
func (f *fakeTFTP) transferSocket() *net.UDPConn {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.t.Error(err)
		return nil
	}
	return c
}

func dataPacket(block uint16, data []byte) []byte {
	b := []byte{0, tftpDATA, byte(block >> 8), byte(block)}
	return append(b, data...)
}

func errorPacket(code uint16, msg string) []byte {
	b := []byte{0, tftpERROR, byte(code >> 8), byte(code)}
	return append(append(b, msg...), 0)
}

// sendFile runs a lock-step transfer from its own socket, checking each
// ACK; dup sends every block twice.
func (f *fakeTFTP) sendFile(client *net.UDPAddr, data []byte, dup bool) {
	c := f.transferSocket()
	if c == nil {
		return
	}
	defer c.Close()
	ack := make([]byte, 16)
	for block := uint16(1); ; block++ {
		off := int(block-1) * tftpBlockSize
		chunk := data[off:min(off+tftpBlockSize, len(data))]
		for range map[bool]int{false: 1, true: 2}[dup] {
			if _, err := c.WriteToUDP(dataPacket(block, chunk), client); err != nil {
				f.t.Error(err)
				return
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			n, _, err := c.ReadFromUDP(ack)
			if err != nil {
				f.t.Errorf("no ACK for block %d: %v", block, err)
				return
			}
			if n == 4 && binary.BigEndian.Uint16(ack) == tftpACK && binary.BigEndian.Uint16(ack[2:]) == block {
				break
			}
		}
		if len(chunk) < tftpBlockSize {
			return
		}
	}
}

func TestTFTPClientTransfers(t *testing.T) {
	files := map[string][]byte{
		"short.xml":    []byte("<device/>"),
		"three.xml":    bytes.Repeat([]byte("a"), 2*tftpBlockSize+100),
		"exact.xml":    bytes.Repeat([]byte("b"), 2*tftpBlockSize), // ends with an empty block
		"empty.xml":    {},
		"dup-data.xml": bytes.Repeat([]byte("c"), tftpBlockSize+1),
	}
	srv := newFakeTFTP(t, func(f *fakeTFTP, client *net.UDPAddr, name string) {
		data, ok := files[name]
		switch {
		case name == "denied.xml":
			f.conn.WriteToUDP(errorPacket(2, "access violation"), client)
		case !ok:
			// As selfprovd and tftpd-hpa do for a missing file: from the
			// listening port, or from a transfer port.
			f.conn.WriteToUDP(errorPacket(tftpNotFound, "file not found"), client)
		default:
			go f.sendFile(client, data, name == "dup-data.xml")
		}
	})
	ctx := context.Background()
	for range 3 { // the sockets are reused from the second round on
		for name, want := range files {
			got, err := fetchTFTP(ctx, srv.addr(), name, time.Second, 2)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %d bytes, %v; want %d bytes", name, len(got), err, len(want))
			}
		}
		if _, err := fetchTFTP(ctx, srv.addr(), "CTLSEP001122334455.tlv", time.Second, 2); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing file: %v, want ErrNotFound", err)
		}
		if _, err := fetchTFTP(ctx, srv.addr(), "denied.xml", time.Second, 2); err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "access violation") {
			t.Errorf("access violation: %v", err)
		}
	}
}

// TestTFTPClientRetransmits: an unanswered request is sent again, and a
// server that never answers is an error, not ErrNotFound.
func TestTFTPClientRetransmits(t *testing.T) {
	seen := map[string]int{}
	srv := newFakeTFTP(t, func(f *fakeTFTP, client *net.UDPAddr, name string) {
		seen[name]++
		if name == "lost-once.xml" && seen[name] == 1 {
			return
		}
		if name != "silent.xml" {
			go f.sendFile(client, []byte("<device/>"), false)
		}
	})
	ctx := context.Background()
	if got, err := fetchTFTP(ctx, srv.addr(), "lost-once.xml", 50*time.Millisecond, 2); err != nil || string(got) != "<device/>" {
		t.Errorf("after a lost request: %q, %v", got, err)
	}
	_, err := fetchTFTP(ctx, srv.addr(), "silent.xml", 20*time.Millisecond, 2)
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "after 3 tries") {
		t.Errorf("silent server: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := fetchTFTP(cctx, srv.addr(), "silent.xml", time.Second, 5); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the caller's deadline: %v", err)
	}
}

// TestTFTPClientIgnoresStrays: datagrams from other hosts' ports, late
// duplicates from the previous transfer's port and leftovers in a reused
// socket are not taken for the answer.
func TestTFTPClientIgnoresStrays(t *testing.T) {
	var prevTID *net.UDPConn
	srv := newFakeTFTP(t, func(f *fakeTFTP, client *net.UDPAddr, name string) {
		switch name {
		case "first.xml":
			c := f.transferSocket()
			prevTID = c
			t.Cleanup(func() { c.Close() })
			c.WriteToUDP(dataPacket(1, []byte("first")), client)
			ack := make([]byte, 16)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			c.ReadFromUDP(ack)
		case "second.xml":
			// A late duplicate of the first transfer's block, then a stray
			// from an unknown port sent after the real transfer began.
			prevTID.WriteToUDP(dataPacket(1, []byte("stale")), client)
			go f.sendFile(client, []byte("second"), false)
		}
	})
	ctx := context.Background()
	// One socket at a time in the pool, so the second transfer reuses the first's.
	for len(idleTFTPSockets) > 0 {
		(<-idleTFTPSockets).conn.Close()
	}
	if got, err := fetchTFTP(ctx, srv.addr(), "first.xml", time.Second, 2); err != nil || string(got) != "first" {
		t.Fatalf("first: %q, %v", got, err)
	}
	if len(idleTFTPSockets) != 1 {
		t.Fatalf("%d idle sockets after a clean transfer, want 1", len(idleTFTPSockets))
	}
	s := <-idleTFTPSockets
	// A leftover already waiting in the socket is drained.
	stray, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer stray.Close()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: s.conn.LocalAddr().(*net.UDPAddr).Port}
	if _, err := stray.WriteToUDP(dataPacket(1, []byte("leftover")), to); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	idleTFTPSockets <- s
	if got, err := fetchTFTP(ctx, srv.addr(), "second.xml", time.Second, 2); err != nil || string(got) != "second" {
		t.Fatalf("second: %q, %v", got, err)
	}
}

func TestTFTPClientRefusesBadAnswers(t *testing.T) {
	srv := newFakeTFTP(t, func(f *fakeTFTP, client *net.UDPAddr, name string) {
		c := f.transferSocket()
		defer c.Close()
		switch name {
		case "oversize.xml":
			c.WriteToUDP(dataPacket(1, bytes.Repeat([]byte("x"), tftpBlockSize+1)), client)
		case "oack.xml":
			c.WriteToUDP([]byte{0, tftpOACK, 'b', 0, '1', 0}, client)
		case "garbage.xml":
			c.WriteToUDP([]byte{0, 9, 0, 0}, client)
		}
	})
	for name, want := range map[string]string{"oversize.xml": "over 512", "oack.xml": "never asked", "garbage.xml": "opcode 9"} {
		_, err := fetchTFTP(context.Background(), srv.addr(), name, time.Second, 1)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, want)
		}
	}
}

func FuzzParseTFTPPacket(f *testing.F) {
	f.Add(dataPacket(1, []byte("<device/>")))
	f.Add(errorPacket(1, "file not found"))
	f.Add([]byte{0, tftpOACK, 'b', 'l', 'k', 0})
	f.Add([]byte{0, tftpERROR, 0, 1})
	f.Add([]byte{0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseTFTPPacket(b)
		if err != nil {
			return
		}
		if len(b) < 4 || len(p.data) > tftpBlockSize {
			t.Fatalf("accepted %d bytes with a %d byte block", len(b), len(p.data))
		}
		if p.op == tftpDATA && !bytes.Equal(p.data, b[4:]) {
			t.Fatal("DATA payload differs from the datagram")
		}
	})
}
