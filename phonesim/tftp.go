package phonesim

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// The phone side of TFTP (RFC 1350): a read request in octet mode without
// options, as a 7940 capture shows, then DATA and ACK in lock step.
//
// A booting phone asks for its CTL and ITL files, and over HTTP first,
// so in a cluster without security every boot makes TFTP requests that
// are answered "file not found" at once. A general client (pin/tftp's)
// opens a socket and a goroutine per transfer; a boot storm then spent a
// fifth of the simulator's CPU on that. This client runs on the calling
// goroutine and keeps sockets for the next transfer.

const (
	tftpRRQ   = 1
	tftpDATA  = 3
	tftpACK   = 4
	tftpERROR = 5
	tftpOACK  = 6

	tftpBlockSize = 512
	tftpNotFound  = 1
)

// tftpSocket is a UDP socket kept between transfers. lastTID is the
// server port of its previous transfer: a late duplicate from it is not
// taken for the first answer of the next one.
type tftpSocket struct {
	conn    *net.UDPConn
	lastTID uint16
}

// idleTFTPSockets holds sockets whose last transfer ended cleanly: no
// packet was sent twice, so no duplicate answer can still be on its way.
var idleTFTPSockets = make(chan *tftpSocket, 1024)

func takeTFTPSocket() (*tftpSocket, error) {
	select {
	case s := <-idleTFTPSockets:
		return s, nil
	default:
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		return nil, err
	}
	return &tftpSocket{conn: c}, nil
}

func (s *tftpSocket) release(clean bool) {
	if clean {
		select {
		case idleTFTPSockets <- s:
			return
		default:
		}
	}
	s.conn.Close()
}

// tftpPacket is a parsed datagram from a TFTP server.
type tftpPacket struct {
	op    uint16
	block uint16 // DATA
	data  []byte // DATA payload, aliasing the datagram
	code  uint16 // ERROR
	msg   string // ERROR
}

// parseTFTPPacket reads a server's datagram: DATA, ERROR or OACK (which
// this client never asks for, so it is an error for the caller).
func parseTFTPPacket(b []byte) (tftpPacket, error) {
	if len(b) < 4 {
		return tftpPacket{}, fmt.Errorf("TFTP packet of %d bytes", len(b))
	}
	p := tftpPacket{op: binary.BigEndian.Uint16(b)}
	switch p.op {
	case tftpDATA:
		p.block = binary.BigEndian.Uint16(b[2:])
		p.data = b[4:]
		if len(p.data) > tftpBlockSize {
			return tftpPacket{}, fmt.Errorf("TFTP DATA block of %d bytes, over %d", len(p.data), tftpBlockSize)
		}
	case tftpERROR:
		p.code = binary.BigEndian.Uint16(b[2:])
		msg := b[4:]
		if i := bytes.IndexByte(msg, 0); i >= 0 {
			msg = msg[:i]
		}
		p.msg = string(bytes.ToValidUTF8(msg, []byte("?")))
	case tftpOACK:
	default:
		return tftpPacket{}, fmt.Errorf("unexpected TFTP opcode %d", p.op)
	}
	return p, nil
}

// fetchTFTP reads name from the server at addr. timeout is the wait for
// each answer before the last packet is sent again, at most retries
// times. A server's "file not found" is ErrNotFound.
func fetchTFTP(ctx context.Context, addr, name string, timeout time.Duration, retries int) ([]byte, error) {
	server, err := netip.ParseAddrPort(addr)
	if err != nil {
		ua, rerr := net.ResolveUDPAddr("udp", addr)
		if rerr != nil {
			return nil, fmt.Errorf("phonesim: TFTP server %s: %w", addr, rerr)
		}
		server = ua.AddrPort()
	}
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port())
	s, err := takeTFTPSocket()
	if err != nil {
		return nil, fmt.Errorf("phonesim: TFTP %s: %w", name, err)
	}
	t := tftpTransfer{s: s, server: server, timeout: timeout, retries: retries}
	b, err := t.run(ctx, name)
	s.release(t.clean && (err == nil || errors.Is(err, ErrNotFound)))
	return b, err
}

type tftpTransfer struct {
	s       *tftpSocket
	server  netip.AddrPort
	timeout time.Duration
	retries int
	clean   bool // nothing was sent twice
}

func (t *tftpTransfer) run(ctx context.Context, name string) ([]byte, error) {
	c := t.s.conn
	drainUDP(c)
	send := func(b []byte, to netip.AddrPort) error {
		if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
			return fmt.Errorf("phonesim: TFTP %s: %w", name, err)
		}
		return nil
	}
	last := append(append(append([]byte{0, tftpRRQ}, name...), 0), "octet\x00"...)
	if err := send(last, t.server); err != nil {
		return nil, err
	}
	t.clean = true
	var (
		out   bytes.Buffer
		tid   uint16 // the server's port for this transfer; 0 until it answers
		want  uint16 = 1
		tries        = 0
		buf          = make([]byte, 4+tftpBlockSize+1)
	)
	ctxDeadline, hasDeadline := ctx.Deadline()
	for {
		deadline := time.Now().Add(t.timeout)
		if hasDeadline && ctxDeadline.Before(deadline) {
			deadline = ctxDeadline
		}
		_ = c.SetReadDeadline(deadline)
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if hasDeadline && !time.Now().Before(ctxDeadline) {
				return nil, context.DeadlineExceeded
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return nil, fmt.Errorf("phonesim: TFTP %s: %w", name, err)
			}
			if tries >= t.retries {
				return nil, fmt.Errorf("phonesim: TFTP %s: no answer from %s after %d tries", name, t.server, tries+1)
			}
			tries++
			t.clean = false
			dst := t.server
			if tid != 0 {
				dst = netip.AddrPortFrom(t.server.Addr(), tid)
			}
			if err := send(last, dst); err != nil {
				return nil, err
			}
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if from.Addr() != t.server.Addr() || (tid != 0 && from.Port() != tid) || (tid == 0 && from.Port() == t.s.lastTID && from.Port() != t.server.Port()) {
			continue // not this transfer's server
		}
		p, err := parseTFTPPacket(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("phonesim: TFTP %s: %w", name, err)
		}
		switch p.op {
		case tftpERROR:
			if p.code == tftpNotFound {
				return nil, &notFound{proto: "TFTP", name: name, detail: p.msg}
			}
			return nil, fmt.Errorf("phonesim: TFTP %s: error %d: %s", name, p.code, p.msg)
		case tftpOACK:
			return nil, fmt.Errorf("phonesim: TFTP %s: options acknowledged that were never asked for", name)
		}
		if tid == 0 {
			tid = from.Port()
			t.s.lastTID = tid
		}
		if p.block == want-1 && want > 1 {
			// Our ACK was lost or late: acknowledge the block again.
			t.clean = false
			if err := send(last, from); err != nil {
				return nil, err
			}
			continue
		}
		if p.block != want {
			continue
		}
		tries = 0
		if out.Len()+len(p.data) > maxFile {
			return nil, fmt.Errorf("phonesim: TFTP %s: larger than %d bytes", name, maxFile)
		}
		out.Write(p.data)
		last = []byte{0, tftpACK, byte(want >> 8), byte(want)}
		if err := send(last, from); err != nil {
			return nil, err
		}
		if len(p.data) < tftpBlockSize {
			return out.Bytes(), nil
		}
		want++ // maxFile ends a transfer long before the block number wraps
	}
}
