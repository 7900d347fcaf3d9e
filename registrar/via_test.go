package registrar

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// viaCases are Via values as phones, proxies and the torture tests send
// them: IPv4, IPv6 (bracketed on the wire, bare once parsed), a zone, an
// IPv4-mapped address, a name, no port, and parameters with and without
// values or quotes.
var viaCases = []string{
	"SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK1;rport",
	"SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1;received=192.0.2.9;rport=5062",
	"SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK1",
	"SIP/2.0/TCP [::ffff:192.0.2.1]:5060;branch=z9hG4bK2",
	"SIP/2.0/UDP phone.example.com:5060;branch=z9hG4bK3;alias",
	"SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKnashds7",
	"SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK4;x=\"a b\"",
	"SIP/2.0/UDP 192.0.2.1:65535;branch=z9hG4bK5;maddr=224.2.0.1;ttl=16",
}

// TestWriteVia: the registrar writes a Via exactly as sipgo would.
func TestWriteVia(t *testing.T) {
	for _, v := range viaCases {
		checkWriteVia(t, v)
	}
	via := parseVia(t, viaCases[0])
	var buf bytes.Buffer
	buf.Grow(256)
	if n := testing.AllocsPerRun(100, func() { buf.Reset(); writeVia(&buf, via) }); n != 0 {
		t.Errorf("writeVia allocates %.0f times, want none", n)
	}
}

// FuzzWriteVia: for any Via sipgo parses, writeVia writes what sipgo's
// own StringWrite does.
func FuzzWriteVia(f *testing.F) {
	for _, v := range viaCases {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsAny(v, "\r\n") {
			return
		}
		checkWriteVia(t, v)
	})
}

func parseVia(t *testing.T, v string) *sip.ViaHeader {
	t.Helper()
	msg, err := newParser(16384).ParseSIP([]byte("OPTIONS sip:a@b SIP/2.0\r\nVia: " + v +
		"\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"))
	if err != nil {
		return nil
	}
	via, _ := msg.(*sip.Request).GetHeader("Via").(*sip.ViaHeader)
	return via
}

func checkWriteVia(t *testing.T, v string) {
	t.Helper()
	via := parseVia(t, v)
	if via == nil {
		return
	}
	var want strings.Builder
	via.StringWrite(&want)
	var got bytes.Buffer
	writeVia(&got, via)
	if got.String() != want.String() {
		t.Errorf("Via %q: writeVia %q, sipgo %q", v, got.String(), want.String())
	}
}
