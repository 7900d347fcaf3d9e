package tftpd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
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
// over 20 minutes. A larger request is declined (left out of the OACK),
// since RFC 2349 lets the server only accept the value asked for or
// refuse it.
const MaxRequestTimeout = 10 * time.Second

// Option bounds (RFC 2348, RFC 2349, RFC 7440).
const (
	minBlockSize  = 8
	maxBlockSize  = 65464
	maxWindowSize = 65535
	maxTimeoutOpt = 255
)

// maxRequest is the largest read request read from the listening port;
// a longer datagram is cut and so refused as not NUL-terminated.
const maxRequest = 2048

// admit decides on one datagram sent to the listening port. Writes,
// malformed packets, names outside the allow-list, bad option values,
// requests over the transfer bounds and trust or static files that are
// not there are answered here with a TFTP error, so none of them costs a
// transfer socket or goroutine. Every booting phone asks for CTL and ITL
// files, which a cluster without security does not have.
func (s *Server) admit(pkt []byte, addr *net.UDPAddr, local net.IP, received time.Time) {
	if len(pkt) < 2 {
		s.refuse(addr, errIllegalOp, "malformed packet", refuseMalformed)
		return
	}
	switch binary.BigEndian.Uint16(pkt) {
	case opRRQ:
	case opWRQ:
		s.refuse(addr, errAccess, "writes are refused", refuseWrite)
		return
	case opDATA, opACK:
		s.refuse(addr, errUnknownTID, "no transfer on this port", refuseMalformed)
		return
	case opERROR:
		return // never answer an error with an error
	default:
		s.refuse(addr, errIllegalOp, "unknown opcode", refuseMalformed)
		return
	}
	rq, err := parseRRQ(pkt)
	if err != nil {
		code, reason := uint16(errIllegalOp), refuseMalformed
		var oe optionError
		if errors.As(err, &oe) {
			code, reason = errOptionRefused, refuseOption
		}
		s.refuse(addr, code, err.Error(), reason)
		return
	}
	req, err := Classify(rq.filename)
	if err != nil {
		s.refuse(addr, errAccess, err.Error(), refuseBadName)
		return
	}
	if s.content.missing(req) || s.content.absent(req) {
		// A missing trust file, or an unknown phone asking again after
		// its HTTP or TFTP request was answered "not found": no slot,
		// socket or worker. Counted before the answer goes out, so
		// whoever sees the answer also sees it counted.
		s.m.notFound(time.Since(received))
		_, _ = s.conn.WriteTo(errorPacket(errFileNotFound, "file not found"), addr)
		return
	}
	sl, res := s.slots.acquire(sourceOf(addr), received)
	switch res {
	case slotTaken:
	case slotsFull:
		s.refuse(addr, errNotDefined, errBusy.Error(), refuseBusy)
		return
	case sourceFull:
		s.refuse(addr, errNotDefined, errSourceBusy.Error(), refuseSourceBusy)
		return
	}
	s.start(job{rq: rq, req: req, peer: addr, local: local, sl: sl})
}

func (s *Server) refuse(addr net.Addr, code uint16, msg, reason string) {
	s.m.refused(reason)
	s.log.Debug("tftp request refused", "remote_addr", addr.String(), "reason", reason, "err", msg)
	_, _ = s.conn.WriteTo(errorPacket(code, msg), addr)
}

// sourceOf is the address a per-source bound counts against.
func sourceOf(addr *net.UDPAddr) netip.Addr {
	a, _ := netip.AddrFromSlice(addr.IP)
	return a.Unmap()
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

// rrq is a parsed read request. An option field is 0 (false for tsize)
// when the client did not ask for it.
type rrq struct {
	filename   string
	mode       string // "octet" or "netascii"
	blksize    int
	tsize      bool
	timeout    int // seconds
	windowsize int
}

type optionError struct{ msg string }

func (e optionError) Error() string { return e.msg }

// parseRRQ checks a read request (RFC 1350) and its options: blksize
// 8–65464 (RFC 2348), tsize ≥ 0 and timeout 1–255 (RFC 2349), windowsize
// 1–65535 (RFC 7440). Option names and the mode are matched
// case-insensitively. An unknown option is ignored, as RFC 2347 asks, and
// so is a repeated one: the first value counts. A known option with a
// value out of its range is refused (ERROR 8).
func parseRRQ(pkt []byte) (rrq, error) {
	if len(pkt) < 2 {
		return rrq{}, errors.New("malformed request: no opcode")
	}
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
	var seen struct{ blksize, tsize, timeout, windowsize bool }
	for i := 2; i < len(fields); i += 2 {
		v := string(fields[i+1])
		switch strings.ToLower(string(fields[i])) {
		case "blksize":
			if seen.blksize {
				continue
			}
			seen.blksize = true
			n, ok := inRange(v, minBlockSize, maxBlockSize)
			if !ok {
				return rrq{}, optionError{"blksize " + clip(v) + " is not 8 to 65464"}
			}
			r.blksize = int(n)
		case "tsize":
			if seen.tsize {
				continue
			}
			seen.tsize = true
			if _, ok := inRange(v, 0, 1<<62); !ok {
				return rrq{}, optionError{"tsize " + clip(v) + " is not a size"}
			}
			r.tsize = true
		case "timeout":
			if seen.timeout {
				continue
			}
			seen.timeout = true
			n, ok := inRange(v, 1, maxTimeoutOpt)
			if !ok {
				return rrq{}, optionError{"timeout " + clip(v) + " is not 1 to 255 seconds"}
			}
			r.timeout = int(n)
		case "windowsize":
			if seen.windowsize {
				continue
			}
			seen.windowsize = true
			n, ok := inRange(v, 1, maxWindowSize)
			if !ok {
				return rrq{}, optionError{"windowsize " + clip(v) + " is not 1 to 65535"}
			}
			r.windowsize = int(n)
		}
	}
	return r, nil
}

// inRange parses a decimal option value made only of digits.
func inRange(v string, lo, hi int64) (int64, bool) {
	if v == "" || len(v) > 19 {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= lo && n <= hi
}

// appendOption appends one name/value pair of an OACK.
func appendOption(b []byte, name string, value int64) []byte {
	b = append(b, name...)
	b = append(b, 0)
	b = strconv.AppendInt(b, value, 10)
	return append(b, 0)
}
