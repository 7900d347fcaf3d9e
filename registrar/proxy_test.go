package registrar

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"selfprov/internal/testkit"
	"selfprov/provision"
)

// phone is a registered simulated phone of the proxy tests.
type phone struct {
	*client
	mac  string
	name string
	dn   string
}

// autoPhone registers a new phone over tr; it auto-registers into the
// range and answers the restart NOTIFY.
func (e *env) autoPhone(t *testing.T, tr string, i int) *phone { return e.autoPhoneB(t, tr, i) }

func (e *env) autoPhoneB(t testing.TB, tr string, i int) *phone {
	t.Helper()
	c := e.dial(t, tr)
	p := &phone{client: c, mac: mac(i), name: "SEP" + strings.ToUpper(mac(i))}
	c.register(reg{mac: p.mac})
	if r := c.response(); r.StatusCode != 200 {
		t.Fatalf("register %s: %d %s", p.name, r.StatusCode, r.Reason)
	}
	c.answer(c.request(), 200) // the restart
	d, err := e.svc.Device(context.Background(), p.name)
	if err != nil {
		t.Fatal(err)
	}
	p.dn = d.Lines[0].DN
	return p
}

// knownPhone registers an existing device over tr.
func (e *env) knownPhone(t testing.TB, tr string, i int, dn string) *phone {
	t.Helper()
	c := e.dial(t, tr)
	p := &phone{client: c, mac: mac(i), name: "SEP" + strings.ToUpper(mac(i)), dn: dn}
	c.register(reg{mac: p.mac, dn: dn})
	if r := c.response(); r.StatusCode != 200 {
		t.Fatalf("register %s: %d %s", p.name, r.StatusCode, r.Reason)
	}
	return p
}

const testSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

// call is one INVITE from a phone, with what it needs for its ACK,
// CANCEL and BYE.
type call struct {
	from   *phone
	id     string
	to     string // dialed
	cseq   int
	invite string
}

func (p *phone) invite(to, id string, extra string) *call {
	c := &call{from: p, id: id, to: to, cseq: 1}
	var b strings.Builder
	fmt.Fprintf(&b, "INVITE sip:%s@127.0.0.1 SIP/2.0\r\n", to)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=z9hG4bK%s;rport\r\n", p.tr, p.local, id)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@127.0.0.1>;tag=f%s\r\n", p.dn, id)
	fmt.Fprintf(&b, "To: <sip:%s@127.0.0.1>\r\n", to)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", id)
	b.WriteString("CSeq: 1 INVITE\r\n")
	fmt.Fprintf(&b, "Contact: <sip:%s@%s;transport=%s>;+u.sip!devicename.ccm.cisco.com=\"%s\"\r\n", p.dn, p.local, strings.ToLower(p.tr), p.name)
	b.WriteString(extra)
	fmt.Fprintf(&b, "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(testSDP), testSDP)
	c.invite = b.String()
	p.send(c.invite)
	return c
}

// responseTo returns the next response to method, passing over others.
func (c *client) responseTo(method sip.RequestMethod) *sip.Response {
	c.t.Helper()
	for {
		m := c.read()
		if r, ok := m.(*sip.Response); ok && r.CSeq().MethodName == method {
			return r
		}
	}
}

// final returns the next final response to method.
func (c *client) final(method sip.RequestMethod) *sip.Response {
	c.t.Helper()
	for {
		if r := c.responseTo(method); r.StatusCode >= 200 {
			return r
		}
	}
}

// requestOf returns the next request of method.
func (c *client) requestOf(method sip.RequestMethod) *sip.Request {
	c.t.Helper()
	for {
		if r, ok := c.read().(*sip.Request); ok && r.Method == method {
			return r
		}
	}
}

// respond answers req as a phone does, with a To tag and a Contact.
func (p *phone) respond(req *sip.Request, code int, reason, body string) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if code > 100 {
		res.To().Params.Add("tag", "t"+p.mac)
		res.AppendHeader(sip.NewHeader("Contact", fmt.Sprintf("<sip:%s@%s;transport=%s>", p.dn, p.local, strings.ToLower(p.tr))))
	}
	if body != "" {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.SetBody([]byte(body))
	}
	p.send(res.String())
	return res
}

// inDialog writes a request inside the dialog answered by res, routed by
// its Record-Route set reversed (RFC 3261 §12.1.2), from the caller.
func (c *call) inDialog(method string, res *sip.Response, cseq int, body string) string {
	var b strings.Builder
	target := header(res, "Contact")
	target = strings.TrimSuffix(strings.TrimPrefix(target, "<"), ">")
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, target)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=z9hG4bK%s%s%d;rport\r\n", c.from.tr, c.from.local, c.id, method, cseq)
	b.WriteString("Max-Forwards: 70\r\n")
	rrs := res.GetHeaders("Record-Route")
	for i := len(rrs) - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "Route: %s\r\n", rrs[i].Value())
	}
	fmt.Fprintf(&b, "From: <sip:%s@127.0.0.1>;tag=f%s\r\n", c.from.dn, c.id)
	fmt.Fprintf(&b, "To: %s\r\n", res.To().Value())
	fmt.Fprintf(&b, "Call-ID: %s\r\n", c.id)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", cseq, method)
	if body != "" {
		fmt.Fprintf(&b, "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	} else {
		b.WriteString("Content-Length: 0\r\n\r\n")
	}
	c.from.send(b.String())
	return b.String()
}

// TestCallAnswered: a call between two registered phones over each pair
// of transports rings, is answered, carries its ACK and re-INVITE and ends
// with a BYE, every message going through the proxy on the phones' own
// flows with the SDP untouched.
func TestCallAnswered(t *testing.T) {
	cert := selfSigned(t)
	for _, tc := range []struct{ a, b string }{{"UDP", "UDP"}, {"TCP", "TCP"}, {"UDP", "TCP"}, {"TCP", "UDP"}, {"TLS", "UDP"}, {"TCP", "TLS"}} {
		t.Run(tc.a+"-"+tc.b, func(t *testing.T) {
			e := newEnv(t, envOpt{tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
			a := e.autoPhone(t, tc.a, 1)
			b := e.autoPhone(t, tc.b, 2)
			c := a.invite(b.dn, "call1", "")
			if r := a.responseTo(sip.INVITE); r.StatusCode != 100 {
				t.Fatalf("first answer %d, want 100 Trying at once", r.StatusCode)
			}
			inv := b.requestOf(sip.INVITE)
			if !strings.Contains(inv.Recipient.Host, "127.0.0.1") || inv.Recipient.User != "6c1f0b52-2d4e-4c1b-9a51-0f3e8d2a7b11" {
				t.Errorf("forwarded to %s, want the registered Contact", inv.Recipient.String())
			}
			if string(inv.Body()) != testSDP {
				t.Errorf("SDP changed:\n%q\nwant\n%q", inv.Body(), testSDP)
			}
			if mf := inv.MaxForwards(); mf == nil || *mf != 69 {
				t.Errorf("Max-Forwards %v, want 69", mf)
			}
			rrs := inv.GetHeaders("Record-Route")
			wantRR := 1
			if tc.a != tc.b {
				wantRR = 2 // one per transport (RFC 5658)
			}
			if len(rrs) != wantRR {
				t.Errorf("Record-Route %d times, want %d: %v", len(rrs), wantRR, rrs)
			}
			if !strings.Contains(rrs[0].Value(), "transport="+strings.ToLower(tc.b)) {
				t.Errorf("top Record-Route %s, want the callee's transport", rrs[0].Value())
			}
			if vias := inv.GetHeaders("Via"); len(vias) != 2 || !strings.HasPrefix(branchParam(vias[0].(*sip.ViaHeader)), branchInvite) {
				t.Errorf("Vias %v, want the proxy's on top of the caller's", vias)
			}
			if len(e.srv.Calls()) != 1 || e.srv.Calls()[0].State != "ringing" {
				t.Errorf("calls while ringing: %+v", e.srv.Calls())
			}
			b.respond(inv, 180, "Ringing", "")
			if r := a.responseTo(sip.INVITE); r.StatusCode != 180 {
				t.Fatalf("caller got %d, want 180 relayed", r.StatusCode)
			}
			b.respond(inv, 200, "OK", testSDP)
			ok := a.final(sip.INVITE)
			if ok.StatusCode != 200 || string(ok.Body()) != testSDP {
				t.Fatalf("caller got %d %q, want 200 with the callee's SDP", ok.StatusCode, ok.Body())
			}
			if len(ok.GetHeaders("Via")) != 1 {
				t.Errorf("the 200 reached the caller with the proxy's Via still on it")
			}
			calls := e.srv.Calls()
			if len(calls) != 1 || calls[0].State != "up" || calls[0].CallingDN != a.dn || calls[0].CalledDN != b.dn || calls[0].CalledDevice != b.name {
				t.Errorf("calls once answered: %+v", calls)
			}
			c.inDialog("ACK", ok, 1, "")
			ack := b.requestOf(sip.ACK)
			if ack.Route() != nil {
				t.Errorf("the ACK kept the proxy's Route: %v", ack.Route())
			}
			// A re-INVITE (hold) from the caller, answered by the callee.
			c.inDialog("INVITE", ok, 2, testSDP)
			reinv := b.requestOf(sip.INVITE)
			b.respond(reinv, 200, "OK", testSDP)
			if r := a.final(sip.INVITE); r.StatusCode != 200 || r.CSeq().SeqNo != 2 {
				t.Fatalf("re-INVITE answered %d (CSeq %d), want 200 to CSeq 2", r.StatusCode, r.CSeq().SeqNo)
			}
			c.inDialog("ACK", ok, 2, "")
			b.requestOf(sip.ACK)
			c.inDialog("BYE", ok, 3, "")
			bye := b.requestOf(sip.BYE)
			b.respond(bye, 200, "OK", "")
			if r := a.final(sip.BYE); r.StatusCode != 200 {
				t.Fatalf("BYE answered %d", r.StatusCode)
			}
			testkit.WaitFor(t, "the call to end", func() bool { return len(e.srv.Calls()) == 0 })
			if n := e.counter(t, e.srv.m.callsOf[callAnswered]); n != 1 {
				t.Errorf("answered calls counted %v, want 1", n)
			}
		})
	}
}

// TestCallCancelled: the caller hangs up while the phone rings; the
// phone gets the CANCEL, its 487 is ACKed by the proxy and relayed.
func TestCallCancelled(t *testing.T) {
	e := newEnv(t, envOpt{})
	a := e.autoPhone(t, "UDP", 1)
	b := e.autoPhone(t, "TCP", 2)
	c := a.invite(b.dn, "cancel1", "")
	inv := b.requestOf(sip.INVITE)
	b.respond(inv, 180, "Ringing", "")
	if r := a.responseTo(sip.INVITE); r.StatusCode != 100 {
		t.Fatalf("got %d, want 100", r.StatusCode)
	}
	if r := a.responseTo(sip.INVITE); r.StatusCode != 180 {
		t.Fatalf("got %d, want 180", r.StatusCode)
	}
	a.send(cancelOf(c.invite))
	if r := a.final(sip.CANCEL); r.StatusCode != 200 {
		t.Fatalf("CANCEL answered %d", r.StatusCode)
	}
	cancel := b.requestOf(sip.CANCEL)
	if branchParam(cancel.Via()) != branchParam(inv.Via()) {
		t.Errorf("CANCEL branch %s, want the INVITE's %s", branchParam(cancel.Via()), branchParam(inv.Via()))
	}
	b.respond(cancel, 200, "OK", "")
	b.respond(inv, 487, "Request Terminated", "")
	if ack := b.requestOf(sip.ACK); branchParam(ack.Via()) != branchParam(inv.Via()) {
		t.Errorf("the proxy's ACK of the 487 has branch %s", branchParam(ack.Via()))
	}
	if r := a.final(sip.INVITE); r.StatusCode != 487 {
		t.Fatalf("caller got %d, want 487", r.StatusCode)
	}
	if n := e.counter(t, e.srv.m.callsOf[callCancelled]); n != 1 {
		t.Errorf("cancelled calls counted %v, want 1", n)
	}
}

// TestCallRefused: the answers a call gets without ringing anyone.
func TestCallRefused(t *testing.T) {
	e := newEnv(t, envOpt{})
	a := e.autoPhone(t, "UDP", 1)
	b := e.autoPhone(t, "UDP", 2)
	// b unregisters: its DN exists, no device of it is registered.
	b.register(reg{mac: b.mac, expires: "0", cseq: 102})
	b.response()
	stranger := e.dial(t, "UDP")

	for _, tc := range []struct {
		name    string
		from    *phone
		to      string
		extra   string
		code    int
		warning string
		outcome string
	}{
		{"unknown DN", a, "1999", "", 404, "DN_NOT_FOUND", callNotFound},
		{"not a DN", a, "alice", "", 404, "", callNotFound},
		{"no device registered", a, b.dn, "", 480, provision.CodeNotRegistered, callUnavailable},
		{"unregistered caller", &phone{client: stranger, mac: mac(9), name: "SEP" + strings.ToUpper(mac(9)), dn: "1005"}, a.dn, "", 403, "CALLER_NOT_REGISTERED", callForbidden},
		{"preloaded route elsewhere", a, b.dn, "Route: <sip:192.0.2.1;lr>\r\n", 403, provision.CodeInvalid, callForbidden},
		{"calling itself", a, a.dn, "", 486, "", callBusy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.counter(t, e.srv.m.callsOf[tc.outcome])
			id := strings.ReplaceAll(tc.name, " ", "-")
			tc.from.invite(tc.to, id, tc.extra)
			r := tc.from.final(sip.INVITE)
			if r.StatusCode != tc.code || !strings.Contains(header(r, "Warning"), tc.warning) {
				t.Fatalf("got %d %s (%s), want %d with %s", r.StatusCode, r.Reason, header(r, "Warning"), tc.code, tc.warning)
			}
			if n := e.counter(t, e.srv.m.callsOf[tc.outcome]); n != before+1 {
				t.Errorf("%s counted %v, want %v", tc.outcome, n, before+1)
			}
		})
	}
}

// TestCallBusyAndShared: a line on two devices rings both; one busy and
// the other not answering ends in the busy answer; when one answers, the
// other is cancelled.
func TestCallBusyAndShared(t *testing.T) {
	e := newEnv(t, envOpt{})
	ctx := context.Background()
	for _, i := range []int{21, 22} {
		if _, err := e.svc.AddDevice(ctx, provision.NewDevice{Name: "SEP" + strings.ToUpper(mac(i)), Model: 36224, UDT: "Desk Phone Template",
			Lines: []provision.Line{{Button: 1, DN: "2500"}}}); err != nil {
			t.Fatal(err)
		}
	}
	a := e.autoPhone(t, "UDP", 1)
	s1 := e.knownPhone(t, "UDP", 21, "2500")
	s2 := e.knownPhone(t, "TCP", 22, "2500")

	a.invite("2500", "shared1", "")
	inv1, inv2 := s1.requestOf(sip.INVITE), s2.requestOf(sip.INVITE)
	s1.respond(inv1, 486, "Busy Here", "")
	s1.requestOf(sip.ACK)
	s2.respond(inv2, 480, "Temporarily Unavailable", "")
	s2.requestOf(sip.ACK)
	if r := a.final(sip.INVITE); r.StatusCode != 486 {
		t.Fatalf("caller got %d, want the busy answer of the shared line", r.StatusCode)
	}

	a.invite("2500", "shared2", "")
	inv1, inv2 = s1.requestOf(sip.INVITE), s2.requestOf(sip.INVITE)
	s1.respond(inv1, 180, "Ringing", "") // a CANCEL waits for a provisional answer (RFC 3261 §9.1)
	s2.respond(inv2, 200, "OK", testSDP)
	if r := a.final(sip.INVITE); r.StatusCode != 200 {
		t.Fatalf("caller got %d, want 200", r.StatusCode)
	}
	cancel := s1.requestOf(sip.CANCEL)
	s1.respond(cancel, 200, "OK", "")
	s1.respond(inv1, 487, "Request Terminated", "")
	s1.requestOf(sip.ACK)
	if calls := e.srv.Calls(); len(calls) != 1 || calls[0].CalledDevice != s2.name {
		t.Errorf("calls: %+v, want the one answered by %s", calls, s2.name)
	}
}

// TestCallBadInput: hop limits, retransmissions and requests for dialogs
// the proxy never saw get clear answers and leave nothing behind.
func TestCallBadInput(t *testing.T) {
	e := newEnv(t, envOpt{})
	a := e.autoPhone(t, "UDP", 1)
	b := e.autoPhone(t, "UDP", 2)

	msg := strings.Replace(a.inviteText(b.dn, "mf0"), "Max-Forwards: 70", "Max-Forwards: 0", 1)
	a.send(msg)
	if r := a.final(sip.INVITE); r.StatusCode != 483 {
		t.Fatalf("Max-Forwards 0: got %d, want 483", r.StatusCode)
	}

	bye := strings.NewReplacer("INVITE sip:", "BYE sip:", "CSeq: 1 INVITE", "CSeq: 2 BYE", "To: <sip:"+b.dn+"@127.0.0.1>", "To: <sip:"+b.dn+"@127.0.0.1>;tag=nope").Replace(a.inviteText(b.dn, "ghost"))
	a.send(bye)
	if r := a.final(sip.BYE); r.StatusCode != 481 {
		t.Fatalf("BYE of an unknown dialog: got %d, want 481", r.StatusCode)
	}
	a.send(cancelOf(a.inviteText(b.dn, "ghost2")))
	if r := a.final(sip.CANCEL); r.StatusCode != 481 {
		t.Fatalf("CANCEL of nothing: got %d, want 481", r.StatusCode)
	}

	// A retransmitted INVITE gets the last answer again and rings nobody twice.
	text := a.inviteText(b.dn, "retrans")
	a.send(text)
	if r := a.responseTo(sip.INVITE); r.StatusCode != 100 {
		t.Fatalf("got %d, want 100", r.StatusCode)
	}
	inv := b.requestOf(sip.INVITE)
	a.send(text)
	if r := a.responseTo(sip.INVITE); r.StatusCode != 100 {
		t.Fatalf("retransmission answered %d, want 100 again", r.StatusCode)
	}
	if m, err := b.tryRead(300 * time.Millisecond); err == nil {
		if r, ok := m.(*sip.Request); ok && r.Method == sip.INVITE && r.CallID().Value() == "retrans" && branchParam(r.Via()) != branchParam(inv.Via()) {
			t.Fatalf("the retransmission was forked again: %s", r.Short())
		}
	}
}

// inviteText is an INVITE from p without sending it.
func (p *phone) inviteText(to, id string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "INVITE sip:%s@127.0.0.1 SIP/2.0\r\n", to)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=z9hG4bK%s;rport\r\n", p.tr, p.local, id)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@127.0.0.1>;tag=f%s\r\n", p.dn, id)
	fmt.Fprintf(&b, "To: <sip:%s@127.0.0.1>\r\n", to)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", id)
	b.WriteString("CSeq: 1 INVITE\r\n")
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\n", p.dn, p.local)
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// TestInDialogFromStranger: only the two phones of a call may send inside it.
func TestInDialogFromStranger(t *testing.T) {
	e := newEnv(t, envOpt{})
	a := e.autoPhone(t, "UDP", 1)
	b := e.autoPhone(t, "UDP", 2)
	c := a.invite(b.dn, "hijack", "")
	inv := b.requestOf(sip.INVITE)
	b.respond(inv, 200, "OK", testSDP)
	ok := a.final(sip.INVITE)
	c.inDialog("ACK", ok, 1, "")
	b.requestOf(sip.ACK)

	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.2")}, net.UDPAddrFromAddrPort(netipMust(e.udp)))
	if err != nil {
		t.Skipf("no 127.0.0.2 on this host: %v", err)
	}
	defer conn.Close()
	stranger := &phone{client: &client{t: t, tr: "UDP", conn: conn, local: conn.LocalAddr().String()}, dn: a.dn, mac: a.mac}
	sc := &call{from: stranger, id: "hijack"}
	sc.inDialog("BYE", ok, 5, "")
	if r := stranger.final(sip.BYE); r.StatusCode != 403 {
		t.Fatalf("BYE from a third address: got %d, want 403", r.StatusCode)
	}
	if len(e.srv.Calls()) != 1 {
		t.Errorf("the call was ended by a stranger")
	}
}

func netipMust(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestCallOversizedAndFlood: an INVITE with an outsized SDP gets 513 and
// rings nobody; an INVITE flood from one address is rate limited like
// REGISTERs, and what was let through holds no more calls than it made.
func TestCallOversizedAndFlood(t *testing.T) {
	e := newEnv(t, envOpt{opts: func(o *Options) { o.RatePerSource = 20 }})
	a := e.autoPhone(t, "UDP", 1)
	b := e.autoPhone(t, "UDP", 2)

	big := a.inviteText(b.dn, "big")
	sdp := testSDP + strings.Repeat("a=x-padding:"+strings.Repeat("p", 100)+"\r\n", 200)
	big = strings.Replace(big, "Content-Length: 0\r\n\r\n", fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(sdp), sdp), 1)
	a.send(big)
	if r := a.final(sip.INVITE); r.StatusCode != 513 {
		t.Fatalf("outsized INVITE: got %d, want 513", r.StatusCode)
	}
	if n := e.srv.calls.active(); n != 0 {
		t.Fatalf("%d calls after an outsized INVITE", n)
	}

	// Few enough that the answers fit in the client socket's receive buffer.
	const flood = 60
	for i := range flood {
		a.send(a.inviteText(b.dn, fmt.Sprintf("flood%d", i)))
	}
	limited, admitted := 0, 0
	for limited+admitted < flood {
		r := a.responseTo(sip.INVITE)
		switch {
		case r.StatusCode == 503 && header(r, "Retry-After") != "":
			limited++
		case r.StatusCode == 100:
			admitted++
		}
	}
	if limited == 0 {
		t.Fatalf("%d INVITEs from one address in a burst: none rate limited", flood)
	}
	if n := e.srv.calls.active(); n > admitted {
		t.Errorf("%d calls held for %d INVITEs let through", n, admitted)
	}
}

// TestEarlyDialog: a PRACK (RFC 3262) inside the early dialog of a 180
// goes on to the phone before the call is answered; the early dialog is
// not listed as a call up, and goes when its INVITE is answered elsewhere.
func TestEarlyDialog(t *testing.T) {
	e := newEnv(t, envOpt{})
	a := e.autoPhone(t, "UDP", 1)
	b := e.autoPhone(t, "TCP", 2)
	c := a.invite(b.dn, "early1", "")
	inv := b.requestOf(sip.INVITE)
	b.respond(inv, 180, "Ringing", "")
	r := a.responseTo(sip.INVITE)
	for r.StatusCode == 100 {
		r = a.responseTo(sip.INVITE)
	}
	if r.StatusCode != 180 || len(r.GetHeaders("Record-Route")) == 0 {
		t.Fatalf("got %d with Record-Route %v", r.StatusCode, r.GetHeaders("Record-Route"))
	}
	c.inDialog("PRACK", r, 2, "")
	prack := b.requestOf(sip.PRACK)
	b.respond(prack, 200, "OK", "")
	if got := a.final(sip.PRACK); got.StatusCode != 200 {
		t.Fatalf("PRACK answered %d, want the phone's 200", got.StatusCode)
	}
	if calls := e.srv.Calls(); len(calls) != 1 || calls[0].State != "ringing" {
		t.Fatalf("calls while ringing: %+v", calls)
	}
	b.respond(inv, 486, "Busy Here", "")
	b.requestOf(sip.ACK)
	if got := a.final(sip.INVITE); got.StatusCode != 486 {
		t.Fatalf("got %d, want 486", got.StatusCode)
	}
	testkit.WaitFor(t, "the early dialog to go", func() bool { return e.srv.calls.active() <= 1 })
	e.srv.calls.mu.Lock()
	n := len(e.srv.calls.dialogs)
	e.srv.calls.mu.Unlock()
	if n != 0 {
		t.Errorf("%d dialogs left after the call was refused", n)
	}
}

// TestCancelWaitsForProvisional: a caller that hangs up before the phone
// answered anything gets its 200 at once, but the phone's CANCEL waits for
// the phone's first provisional answer (RFC 3261 §9.1), so it cannot
// overtake the INVITE.
func TestCancelWaitsForProvisional(t *testing.T) {
	e := newEnv(t, envOpt{})
	a := e.autoPhone(t, "UDP", 1)
	b := e.autoPhone(t, "UDP", 2)
	c := a.invite(b.dn, "early-cancel", "")
	inv := b.requestOf(sip.INVITE)
	a.send(cancelOf(c.invite))
	if r := a.final(sip.CANCEL); r.StatusCode != 200 {
		t.Fatalf("CANCEL answered %d", r.StatusCode)
	}
	if m, err := b.tryRead(300 * time.Millisecond); err == nil {
		if r, ok := m.(*sip.Request); ok && r.Method == sip.CANCEL {
			t.Fatal("CANCEL sent before the phone answered anything")
		}
	}
	b.respond(inv, 180, "Ringing", "")
	cancel := b.requestOf(sip.CANCEL)
	b.respond(cancel, 200, "OK", "")
	b.respond(inv, 487, "Request Terminated", "")
	b.requestOf(sip.ACK)
	if r := a.final(sip.INVITE); r.StatusCode != 487 {
		t.Fatalf("caller got %d, want 487", r.StatusCode)
	}
}

// TestForgedRouteInDialog: a route set a phone made up cannot send a call's
// requests anywhere but to the other phone of the call; the proxy takes its
// own entry off and leaves the rest to the phone.
func TestForgedRouteInDialog(t *testing.T) {
	e := newEnv(t, envOpt{})
	a := e.autoPhone(t, "UDP", 1)
	b := e.autoPhone(t, "UDP", 2)
	c := a.invite(b.dn, "forged", "")
	inv := b.requestOf(sip.INVITE)
	b.respond(inv, 200, "OK", testSDP)
	ok := a.final(sip.INVITE)
	ok.AppendHeader(sip.NewHeader("Record-Route", "<sip:192.0.2.9;lr>")) // reversed: the last hop the BYE names
	c.inDialog("BYE", ok, 2, "")
	bye := b.requestOf(sip.BYE)
	routes := bye.GetHeaders("Route")
	if len(routes) != 1 || !strings.Contains(routes[0].Value(), "192.0.2.9") {
		t.Fatalf("the BYE reached the callee with Route %v, want only the foreign entry", routes)
	}
}

// cancelOf is the CANCEL of an INVITE's text (RFC 3261 §9.1: the same
// Request-URI, Via, From, To, Call-ID and CSeq number).
func cancelOf(invite string) string {
	return strings.NewReplacer("INVITE sip:", "CANCEL sip:", "CSeq: 1 INVITE", "CSeq: 1 CANCEL").Replace(invite)
}
