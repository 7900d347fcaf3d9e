package tftpd

import (
	"bytes"
	"strconv"
	"testing"
)

// encodeRRQ writes r back as a read request with only the options it
// holds, in a fixed order.
func encodeRRQ(r rrq) []byte {
	fields := []string{r.filename, r.mode}
	if r.blksize > 0 {
		fields = append(fields, "blksize", strconv.Itoa(r.blksize))
	}
	if r.tsize {
		fields = append(fields, "tsize", "0")
	}
	if r.timeout > 0 {
		fields = append(fields, "timeout", strconv.Itoa(r.timeout))
	}
	if r.windowsize > 0 {
		fields = append(fields, "windowsize", strconv.Itoa(r.windowsize))
	}
	return rrqPacket(opRRQ, fields...)
}

// FuzzParseRRQ: the request parser never panics, accepts only values in
// the RFC ranges, and what it accepts reads back the same once written
// again; a request is parsed the same whatever the case of its option
// names.
func FuzzParseRRQ(f *testing.F) {
	for _, seed := range [][]byte{
		rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet"),
		rrqPacket(opRRQ, "a/b.loads", "NETASCII", "tsize", "0", "blksize", "1428", "timeout", "3", "windowsize", "8"),
		rrqPacket(opRRQ, "x", "octet", "blksize", "8", "BLKSIZE", "65464", "multicast", ""),
		rrqPacket(opRRQ, "x", "octet", "windowsize", "65536"),
		rrqPacket(opRRQ, "x", "octet", "blksize", "0x10"),
		rrqPacket(opRRQ, "x", "octet", "tsize", "99999999999999999999"),
		rrqPacket(opRRQ, "x", "mail"),
		[]byte("\x00\x01x\x00octet"),
		{0, 1},
		{},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		r, err := parseRRQ(pkt)
		if err != nil {
			return
		}
		if bytes.IndexByte([]byte(r.filename), 0) >= 0 {
			t.Fatalf("file name %q holds a NUL", r.filename)
		}
		if r.mode != "octet" && r.mode != "netascii" {
			t.Fatalf("mode %q", r.mode)
		}
		if r.blksize != 0 && (r.blksize < minBlockSize || r.blksize > maxBlockSize) ||
			r.timeout != 0 && (r.timeout < 1 || r.timeout > maxTimeoutOpt) ||
			r.windowsize != 0 && (r.windowsize < 1 || r.windowsize > maxWindowSize) {
			t.Fatalf("option out of range: %+v", r)
		}
		again, err := parseRRQ(encodeRRQ(r))
		if err != nil || again != r {
			t.Fatalf("written again and parsed: %+v, %v; want %+v", again, err, r)
		}
		// Option names are case-insensitive.
		fields := bytes.Split(pkt[2:len(pkt)-1], []byte{0})
		for i := 2; i < len(fields); i += 2 {
			fields[i] = bytes.ToUpper(fields[i])
		}
		upper := append(append(pkt[:2:2], bytes.Join(fields, []byte{0})...), 0)
		if u, err := parseRRQ(upper); err != nil || u != r {
			t.Fatalf("with upper-case option names: %+v, %v; want %+v", u, err, r)
		}
	})
}
