package tftpd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pin/tftp/v3"
)

// TFTP opcodes and error codes (RFC 1350, RFC 2347).
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6

	errNotDefined    = 0
	errFileNotFound  = 1
	errAccess        = 2
	errIllegalOp     = 4
	errUnknownTID    = 5
	errOptionRefused = 8
)

// MaxRequestTimeout caps a client's timeout option: a client that asks for
// 255 s and never acknowledges would otherwise hold a transfer slot for
// over 20 minutes.
const MaxRequestTimeout = 10 * time.Second

// frontConn is the listening socket as pin/tftp sees it. Every datagram
// is checked before the library gets it: writes, malformed packets, names
// outside the allow-list, bad option values, requests over the transfer
// bound and trust or static files that are not there are answered with a
// TFTP error here, so none of them costs a transfer socket or goroutine.
// Every booting phone asks for CTL and ITL files, which a cluster without
// security does not have.
type frontConn struct {
	net.PacketConn
	s  *Server
	ts *tftp.Server
}

func (f *frontConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := f.PacketConn.ReadFrom(p)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				// Closed by Shutdown: hold the library's accept loop until
				// it has seen the cancellation, instead of spinning.
				<-f.s.closing
			}
			return n, addr, err
		}
		if f.admit(p[:n], addr) {
			return n, addr, nil
		}
	}
}

// admit decides on one datagram sent to the listening port. It runs in the
// library's accept loop, just before the library handles the same packet.
func (f *frontConn) admit(pkt []byte, addr net.Addr) bool {
	if len(pkt) < 2 {
		f.refuse(addr, errIllegalOp, "malformed packet", refuseMalformed)
		return false
	}
	switch binary.BigEndian.Uint16(pkt) {
	case opRRQ:
	case opWRQ:
		f.refuse(addr, errAccess, "writes are refused", refuseWrite)
		return false
	case opDATA, opACK:
		f.refuse(addr, errUnknownTID, "no transfer on this port", refuseMalformed)
		return false
	case opERROR:
		return false // never answer an error with an error
	default:
		f.refuse(addr, errIllegalOp, "unknown opcode", refuseMalformed)
		return false
	}
	rq, err := parseRRQ(pkt)
	if err != nil {
		code, reason := uint16(errIllegalOp), refuseMalformed
		var oe optionError
		if errors.As(err, &oe) {
			code, reason = errOptionRefused, refuseOption
		}
		f.refuse(addr, code, err.Error(), reason)
		return false
	}
	req, err := Classify(rq.filename)
	if err != nil {
		f.refuse(addr, errAccess, err.Error(), refuseBadName)
		return false
	}
	start := time.Now()
	if f.s.content.missing(req) {
		// Counted before the answer goes out, so whoever sees the answer
		// also sees it counted.
		f.s.m.notFound(time.Since(start))
		_, _ = f.PacketConn.WriteTo(errorPacket(errFileNotFound, "file not found"), addr)
		return false
	}
	if !f.s.acquire() {
		f.refuse(addr, errNotDefined, errBusy.Error(), refuseBusy)
		return false
	}
	// The library reads its timeout when it handles this packet, which is
	// next and on this goroutine, so a per-request value is exact.
	timeout := f.s.timeout
	if rq.timeout > 0 {
		timeout = min(time.Duration(rq.timeout)*time.Second, MaxRequestTimeout)
	}
	f.ts.SetTimeout(timeout)
	return true
}

func (f *frontConn) refuse(addr net.Addr, code uint16, msg, reason string) {
	f.s.m.refused(reason)
	f.s.log.Debug("tftp request refused", "remote_addr", addr.String(), "reason", reason, "err", msg)
	_, _ = f.PacketConn.WriteTo(errorPacket(code, msg), addr)
}

func errorPacket(code uint16, msg string) []byte {
	if len(msg) > 200 {
		msg = msg[:200]
	}
	b := make([]byte, 4, 5+len(msg))
	binary.BigEndian.PutUint16(b, opERROR)
	binary.BigEndian.PutUint16(b[2:], code)
	b = append(b, msg...)
	return append(b, 0)
}

// rrq is a parsed read request.
type rrq struct {
	filename string
	mode     string
	timeout  int // requested timeout option in seconds, 0 if none
}

type optionError struct{ msg string }

func (e optionError) Error() string { return e.msg }

// parseRRQ checks a read request (RFC 1350) and its options (RFC 2347:
// blksize 8–65464, tsize ≥ 0, timeout 1–255). Option names are matched
// case-insensitively and written back lower-case in place, as the library
// matches them exactly. Unknown options are left for the library to
// ignore.
func parseRRQ(pkt []byte) (rrq, error) {
	body := pkt[2:]
	if len(body) == 0 || body[len(body)-1] != 0 {
		return rrq{}, errors.New("malformed request: not NUL-terminated")
	}
	fields := bytes.Split(body[:len(body)-1], []byte{0})
	if len(fields) < 2 || len(fields)%2 != 0 {
		return rrq{}, errors.New("malformed request: needs file name, mode and option pairs")
	}
	r := rrq{filename: string(fields[0]), mode: strings.ToLower(string(fields[1]))}
	if r.mode != "octet" && r.mode != "netascii" {
		return rrq{}, errors.New("malformed request: mode must be octet or netascii")
	}
	seen := map[string]bool{}
	for i := 2; i < len(fields); i += 2 {
		name := bytes.ToLower(fields[i])
		copy(fields[i], name)
		n, v := string(name), string(fields[i+1])
		if seen[n] {
			return rrq{}, optionError{"option " + clip(n) + " given twice"}
		}
		seen[n] = true
		switch n {
		case "blksize":
			if !inRange(v, 8, 65464) {
				return rrq{}, optionError{"blksize " + clip(v) + " is not 8 to 65464"}
			}
		case "tsize":
			if !inRange(v, 0, 1<<62) {
				return rrq{}, optionError{"tsize " + clip(v) + " is not a size"}
			}
		case "timeout":
			if !inRange(v, 1, 255) {
				return rrq{}, optionError{"timeout " + clip(v) + " is not 1 to 255 seconds"}
			}
			r.timeout, _ = strconv.Atoi(v)
		}
	}
	return r, nil
}

func inRange(v string, lo, hi int64) bool {
	if v == "" || len(v) > 19 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return err == nil && n >= lo && n <= hi
}
