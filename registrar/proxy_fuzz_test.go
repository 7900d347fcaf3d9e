package registrar

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzProxy sends arbitrary messages to the proxy from a registered
// phone's address, each after a real call's INVITE that rings: whatever
// arrives (forged Route and Record-Route sets, responses with our branch
// prefixes, CANCELs, in-dialog requests for dialogs that never were), the
// proxy must not panic, must answer or drop it, and must hold no more
// calls than the INVITEs it was sent.
func FuzzProxy(f *testing.F) {
	e := newEnv(f, envOpt{})
	a := e.autoPhoneB(f, "UDP", 1)
	b := e.autoPhoneB(f, "UDP", 2)
	src := netip.MustParseAddrPort(a.local)
	e.srv.mu.Lock()
	pc := e.srv.udp
	e.srv.mu.Unlock()

	call := a.inviteText(b.dn, "fuzzcall")
	for _, seed := range []string{
		call,
		cancelOf(call),
		strings.NewReplacer("INVITE sip:", "BYE sip:", "CSeq: 1 INVITE", "CSeq: 2 BYE", "To: <sip:"+b.dn+"@127.0.0.1>", "To: <sip:"+b.dn+"@127.0.0.1>;tag=x").Replace(call),
		strings.Replace(call, "Max-Forwards: 70", "Max-Forwards: 0\r\nRoute: <sip:127.0.0.1;lr>, <sip:10.0.0.1;lr>\r\nRecord-Route: <sip:evil.example;lr>", 1),
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKspdead.beef\r\nVia: SIP/2.0/UDP " + a.local + ";branch=z9hG4bKfuzzcall\r\nFrom: <sip:1000@127.0.0.1>;tag=ffuzzcall\r\nTo: <sip:1001@127.0.0.1>;tag=t1\r\nCall-ID: fuzzcall\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
		"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsl1\r\nFrom: <sip:1000@127.0.0.1>;tag=a\r\nTo: <sip:1001@127.0.0.1>;tag=b\r\nCall-ID: x\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
		"ACK sip:1001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + a.local + ";branch=z9hG4bKack\r\nFrom: <sip:1000@127.0.0.1>;tag=a\r\nTo: <sip:1001@127.0.0.1>;tag=b\r\nCall-ID: y\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	sent := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		if strings.HasPrefix(string(data), "INVITE") {
			sent++
		}
		e.srv.datagram(data, pc, src, nil)
		if n := e.srv.calls.active(); n > sent {
			t.Fatalf("%d calls held after %d INVITEs", n, sent)
		}
	})
}
