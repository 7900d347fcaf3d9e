package phonesim_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"selfprov/phonesim"
)

// line is one side of a direct call between two UAs over UDP on loopback:
// each UA's one socket is the other's "registrar".
type line struct {
	ua *phonesim.UA
	mu sync.Mutex
	ep phonesim.Endpoint
}

// set changes how the line answers; the UA's readers read it meanwhile.
func (l *line) set(fn func(*phonesim.Endpoint)) {
	l.mu.Lock()
	fn(&l.ep)
	l.mu.Unlock()
}

func linePair(t testing.TB, timeout time.Duration) (a, b *line) {
	t.Helper()
	mk := func() *phonesim.UA {
		ua := phonesim.NewUA()
		ua.UDPSockets = 1
		ua.LocalIPs = []string{"127.0.0.1"}
		ua.Timeout = timeout
		t.Cleanup(func() { ua.Close() })
		return ua
	}
	uaA, uaB := mk(), mk()
	// B's socket opens toward a placeholder; A's leg then points at it,
	// and B's at A.
	lb0, err := uaB.Leg("udp", "127.0.0.1:9", 0)
	if err != nil {
		t.Fatal(err)
	}
	la, err := uaA.Leg("udp", lb0.Local, 0)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := uaB.Leg("udp", la.Local, 0)
	if err != nil {
		t.Fatal(err)
	}
	a = &line{ua: uaA, ep: phonesim.Endpoint{Leg: la, AOR: "2001", Contact: "c2001", Device: "SEP0A0000000001", Agent: "Cisco-CP8845/14.2.1"}}
	b = &line{ua: uaB, ep: phonesim.Endpoint{Leg: lb, AOR: "2002", Contact: "c2002", Device: "SEP0A0000000002", Agent: "Cisco-CP8845/14.2.1"}}
	for _, l := range []*line{a, b} {
		l := l
		for _, k := range []string{l.ep.AOR, l.ep.Contact} {
			l.ua.HandleCalls(k, func() (phonesim.Endpoint, bool) {
				l.mu.Lock()
				defer l.mu.Unlock()
				return l.ep, true
			})
		}
	}
	return a, b
}

// waitIdle waits, bounded, until ua holds no call and no request waits
// for its response: the far side of a call
// may still be taking the last ACK or BYE when the near side returns.
func waitIdle(t testing.TB, ua *phonesim.UA) phonesim.CallCounts {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := ua.CallCounts()
		if c.Active == 0 && c.Pending == 0 {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls still active: %+v", c.Active, c)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestCallDirectAnswered(t *testing.T) {
	a, b := linePair(t, 2*time.Second)
	var mu sync.Mutex
	var seen []string
	b.set(func(ep *phonesim.Endpoint) {
		ep.Trace = func(dir, line, detail string) {
			mu.Lock()
			seen = append(seen, dir+" "+line)
			mu.Unlock()
		}
	})
	r := a.ua.Call(testCtx(t), a.ep, "2002", phonesim.CallOptions{Hold: 20 * time.Millisecond})
	if r.Status != 200 || r.Outcome != "200" || r.ByeStatus != 200 || r.Err != nil || !r.Answered() {
		t.Fatalf("result %+v, want 200 answered and BYE 200", r)
	}
	if r.Setup <= 0 || r.Ringing <= 0 || r.Ringing > r.Setup || r.RemoteHangup {
		t.Errorf("ringing %v setup %v remote hangup %v", r.Ringing, r.Setup, r.RemoteHangup)
	}
	if c := waitIdle(t, a.ua); c.Answered != 0 {
		t.Errorf("caller counts %+v", c)
	}
	c := waitIdle(t, b.ua)
	if c.Answered != 1 || c.ByeIn != 1 || c.NoAck != 0 || c.Refused != 0 {
		t.Errorf("callee counts %+v, want 1 answered, 1 BYE in", c)
	}
	mu.Lock()
	got := strings.Join(seen, "\n")
	mu.Unlock()
	for _, want := range []string{"<- INVITE sip:2002@", "-> SIP/2.0 100 Trying", "-> SIP/2.0 180 Ringing", "-> SIP/2.0 200 OK", "<- ACK sip:c2002@", "<- BYE sip:c2002@"} {
		if !strings.Contains(got, want) {
			t.Errorf("callee trace lacks %q:\n%s", want, got)
		}
	}
}

func TestCallDirectCalleeHangsUp(t *testing.T) {
	a, b := linePair(t, 2*time.Second)
	b.set(func(ep *phonesim.Endpoint) {
		ep.Answer = phonesim.Answer{Ring: 10 * time.Millisecond, Hold: 10 * time.Millisecond}
	})
	r := a.ua.Call(testCtx(t), a.ep, "c2002", phonesim.CallOptions{Hold: time.Minute})
	if r.Status != 200 || !r.RemoteHangup || r.ByeStatus != 0 || r.Err != nil {
		t.Fatalf("result %+v, want answered and hung up by the callee", r)
	}
	waitIdle(t, a.ua)
	if c := waitIdle(t, b.ua); c.ByeOut != 1 || c.ByeIn != 0 {
		t.Errorf("callee counts %+v, want its own BYE", c)
	}
}

func TestCallDirectRefusedAndUnknown(t *testing.T) {
	a, b := linePair(t, 2*time.Second)
	b.set(func(ep *phonesim.Endpoint) { ep.Answer = phonesim.Answer{Code: 486} })
	r := a.ua.Call(testCtx(t), a.ep, "2002", phonesim.CallOptions{})
	if r.Status != 486 || r.Outcome != "486" || r.Answered() || r.Setup != 0 {
		t.Fatalf("result %+v, want 486", r)
	}
	// The callee's transaction ends on the caller's hop-by-hop ACK, not
	// on its timeout (the wait is bounded well below it).
	if c := waitIdle(t, b.ua); c.Refused != 1 || c.NoAck != 0 {
		t.Errorf("callee counts %+v", c)
	}
	if r := a.ua.Call(testCtx(t), a.ep, "9999", phonesim.CallOptions{}); r.Status != 404 {
		t.Errorf("call to an unknown user: %+v, want 404", r)
	}
	waitIdle(t, a.ua)
}

func TestCallDirectCancel(t *testing.T) {
	a, b := linePair(t, 2*time.Second)
	b.set(func(ep *phonesim.Endpoint) { ep.Answer = phonesim.Answer{Ring: time.Minute} })
	r := a.ua.Call(testCtx(t), a.ep, "2002", phonesim.CallOptions{CancelAfter: 10 * time.Millisecond})
	if r.Status != 487 || r.Ringing <= 0 {
		t.Fatalf("result %+v, want 487 after ringing", r)
	}
	if c := waitIdle(t, b.ua); c.Refused != 1 || c.Answered != 0 {
		t.Errorf("callee counts %+v", c)
	}
	waitIdle(t, a.ua)

	// NoAnswer cancels too.
	r = a.ua.Call(testCtx(t), a.ep, "2002", phonesim.CallOptions{NoAnswer: 20 * time.Millisecond})
	if r.Status != 487 {
		t.Fatalf("no answer: %+v, want 487", r)
	}
	waitIdle(t, b.ua)
}

// rawPeer is a bare UDP socket speaking SIP by hand, to see exactly what
// a line sends and to leave out what it should survive without.
type rawPeer struct {
	t    *testing.T
	conn *net.UDPConn
	p    *sip.Parser
}

func newRawPeer(t *testing.T) *rawPeer {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawPeer{t: t, conn: conn, p: sip.NewParser()}
}

func (r *rawPeer) send(to string, msg string) {
	r.t.Helper()
	dst, _ := net.ResolveUDPAddr("udp", to)
	if _, err := r.conn.WriteToUDP([]byte(strings.ReplaceAll(msg, "\n", "\r\n")), dst); err != nil {
		r.t.Fatal(err)
	}
}

// read returns the next message, or nil after wait.
func (r *rawPeer) read(wait time.Duration) sip.Message {
	r.t.Helper()
	buf := make([]byte, 65535)
	_ = r.conn.SetReadDeadline(time.Now().Add(wait))
	n, _, err := r.conn.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	m, err := r.p.ParseSIP(buf[:n])
	if err != nil {
		r.t.Fatalf("unparsable message: %v\n%s", err, buf[:n])
	}
	return m
}

func (r *rawPeer) expect(wait time.Duration, startLine string) sip.Message {
	r.t.Helper()
	m := r.read(wait)
	if m == nil {
		r.t.Fatalf("nothing within %v, want %q", wait, startLine)
	}
	first, _, _ := strings.Cut(m.String(), "\r\n")
	if !strings.HasPrefix(first, startLine) {
		r.t.Fatalf("got %q, want %q:\n%s", first, startLine, m)
	}
	return m
}

func rawInvite(peer, target, branch string) string {
	return "INVITE sip:2002@" + target + " SIP/2.0\n" +
		"Via: SIP/2.0/UDP " + peer + ";branch=" + branch + ";rport\n" +
		"Record-Route: <sip:" + peer + ";lr>\n" +
		"From: <sip:2001@" + target + ">;tag=caller\n" +
		"To: <sip:2002@" + target + ">\n" +
		"Call-ID: raw-1@127.0.0.1\nCSeq: 1 INVITE\nMax-Forwards: 70\n" +
		"Contact: <sip:c2001@" + peer + ">\nContent-Length: 0\n\n"
}

// TestCallAnswerRetransmitsUntilACK: over UDP the 200 is sent again until
// its ACK comes; a retransmitted INVITE gets the last response again; the
// route set of the INVITE's Record-Route carries the callee's BYE.
func TestCallAnswerRetransmitsUntilACK(t *testing.T) {
	_, b := linePair(t, 20*time.Second)
	b.set(func(ep *phonesim.Endpoint) { ep.Answer = phonesim.Answer{Hold: 50 * time.Millisecond} })
	r := newRawPeer(t)
	peer := r.conn.LocalAddr().String()
	r.send(b.ep.Leg.Local, rawInvite(peer, b.ep.Leg.Local, "z9hG4bKraw1"))
	r.expect(time.Second, "SIP/2.0 100")
	r.expect(time.Second, "SIP/2.0 180")
	ok := r.expect(time.Second, "SIP/2.0 200").(*sip.Response)
	if ct := ok.Contact(); ct == nil || !strings.Contains(ct.Value(), `+u.sip!devicename.ccm.cisco.com="SEP0A0000000002"`) {
		t.Errorf("200 Contact %v, want the device name", ok.Contact())
	}
	_, peerPort, _ := net.SplitHostPort(peer)
	if rport, _ := ok.Via().Params.Get("rport"); rport != peerPort {
		t.Errorf("200 Via %s, want rport=%s (RFC 3581)", ok.Via().Value(), peerPort)
	}
	if received, _ := ok.Via().Params.Get("received"); received != "127.0.0.1" {
		t.Errorf("200 Via %s, want received=127.0.0.1", ok.Via().Value())
	}
	if rr := ok.GetHeader("Record-Route"); rr == nil || !strings.Contains(rr.Value(), peer) {
		t.Errorf("200 lacks the INVITE's Record-Route: %v", rr)
	}
	if ct := ok.GetHeader("Content-Type"); ct == nil || ct.Value() != "application/sdp" || !strings.HasPrefix(string(ok.Body()), "v=0\r\n") {
		t.Errorf("200 body %q", ok.Body())
	}
	// No ACK yet: the 200 comes again (T1), and again on a retransmitted INVITE.
	r.expect(2*time.Second, "SIP/2.0 200")
	r.send(b.ep.Leg.Local, rawInvite(peer, b.ep.Leg.Local, "z9hG4bKraw1"))
	r.expect(time.Second, "SIP/2.0 200")
	toTag, _ := ok.To().Params.Get("tag")
	r.send(b.ep.Leg.Local, "ACK sip:c2002@"+b.ep.Leg.Local+" SIP/2.0\nVia: SIP/2.0/UDP "+peer+";branch=z9hG4bKrawack\n"+
		"From: <sip:2001@x>;tag=caller\nTo: <sip:2002@x>;tag="+toTag+"\nCall-ID: raw-1@127.0.0.1\nCSeq: 1 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n")
	// After the hold the callee hangs up: BYE to the route set's hop (us),
	// with the Route, the caller's Contact as Request-URI.
	var bye *sip.Request
	for bye == nil {
		m := r.read(2 * time.Second)
		if m == nil {
			t.Fatal("no BYE from the callee")
		}
		if req, ok := m.(*sip.Request); ok && req.Method == sip.BYE {
			bye = req
		}
	}
	if bye.Recipient.User != "c2001" || bye.GetHeader("Route") == nil || !strings.Contains(bye.GetHeader("Route").Value(), peer) {
		t.Errorf("BYE %s Route %v, want to c2001 through the Record-Route", bye.StartLine(), bye.GetHeader("Route"))
	}
	if tag, _ := bye.From().Params.Get("tag"); tag != toTag {
		t.Errorf("BYE From tag %q, want %q", tag, toTag)
	}
	res := sip.NewResponseFromRequest(bye, 200, "OK", nil)
	r.send(b.ep.Leg.Local, strings.ReplaceAll(res.String(), "\r\n", "\n"))
	if c := waitIdle(t, b.ua); c.Answered != 1 || c.ByeOut != 1 || c.NoAck != 0 {
		t.Errorf("callee counts %+v", c)
	}
}

// TestCallAnswerWithoutACK: an answered call whose ACK never comes is hung
// up and forgotten after the UA's timeout.
func TestCallAnswerWithoutACK(t *testing.T) {
	_, b := linePair(t, 300*time.Millisecond)
	r := newRawPeer(t)
	peer := r.conn.LocalAddr().String()
	r.send(b.ep.Leg.Local, rawInvite(peer, b.ep.Leg.Local, "z9hG4bKraw2"))
	var gotBye bool
	for !gotBye {
		m := r.read(2 * time.Second)
		if m == nil {
			t.Fatal("no BYE after the ACK timeout")
		}
		if req, ok := m.(*sip.Request); ok && req.Method == sip.BYE {
			gotBye = true
		}
	}
	// The BYE itself goes unanswered: the UA gives up on it, bounded.
	if c := waitIdle(t, b.ua); c.NoAck != 1 {
		t.Errorf("callee counts %+v, want one call without ACK", c)
	}
}

// TestCallInDialogUnknown: a BYE for a dialog the line never had gets 481,
// and a CANCEL for no transaction too.
func TestCallInDialogUnknown(t *testing.T) {
	_, b := linePair(t, time.Second)
	r := newRawPeer(t)
	peer := r.conn.LocalAddr().String()
	r.send(b.ep.Leg.Local, "BYE sip:c2002@"+b.ep.Leg.Local+" SIP/2.0\nVia: SIP/2.0/UDP "+peer+";branch=z9hG4bKbye\n"+
		"From: <sip:2001@x>;tag=a\nTo: <sip:2002@x>;tag=b\nCall-ID: none@x\nCSeq: 2 BYE\nMax-Forwards: 70\nContent-Length: 0\n\n")
	r.expect(time.Second, "SIP/2.0 481")
	r.send(b.ep.Leg.Local, "CANCEL sip:2002@"+b.ep.Leg.Local+" SIP/2.0\nVia: SIP/2.0/UDP "+peer+";branch=z9hG4bKnone\n"+
		"From: <sip:2001@x>;tag=a\nTo: <sip:2002@x>\nCall-ID: none2@x\nCSeq: 1 CANCEL\nMax-Forwards: 70\nContent-Length: 0\n\n")
	r.expect(time.Second, "SIP/2.0 481")
}

// TestCallsConcurrentNothingLeaks: many calls at once between two lines
// end with no dialog, transaction or pending request left in either UA.
func TestCallsConcurrentNothingLeaks(t *testing.T) {
	a, b := linePair(t, 3*time.Second)
	b.set(func(ep *phonesim.Endpoint) { ep.Answer = phonesim.Answer{Ring: time.Millisecond} })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 200
	var wg sync.WaitGroup
	results := make([]phonesim.CallResult, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = a.ua.Call(ctx, a.ep, "2002", phonesim.CallOptions{Hold: 5 * time.Millisecond})
		}()
	}
	wg.Wait()
	for i, r := range results {
		if !r.Answered() || r.ByeStatus != 200 {
			t.Fatalf("call %d: %+v", i, r)
		}
	}
	waitIdle(t, a.ua)
	if c := waitIdle(t, b.ua); c.Answered != n || c.ByeIn != n {
		t.Errorf("callee counts %+v, want %d answered and hung up", c, n)
	}
	if p := a.ua.CallCounts().Pending; p != 0 {
		t.Errorf("%d client transactions left", p)
	}
}

// TestCallLateForkAnswer: a second phone of a shared line answers after
// the caller has already hung up on the first: the caller still ACKs that
// answer and hangs it up, so the phone is not left waiting for its ACK.
func TestCallLateForkAnswer(t *testing.T) {
	r := newRawPeer(t)
	peer := r.conn.LocalAddr().String()
	ua := phonesim.NewUA()
	ua.UDPSockets, ua.LocalIPs, ua.Timeout = 1, []string{"127.0.0.1"}, 2*time.Second
	t.Cleanup(func() { ua.Close() })
	leg, err := ua.Leg("udp", peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	ep := phonesim.Endpoint{Leg: leg, AOR: "2001", Contact: "c2001", Device: "SEP0A0000000001"}
	done := make(chan phonesim.CallResult, 1)
	go func() { done <- ua.Call(testCtx(t), ep, "2002", phonesim.CallOptions{}) }()

	inv := r.expect(2*time.Second, "INVITE ").(*sip.Request)
	answer := func(tag, contact string) string {
		res := sip.NewResponseFromRequest(inv, 200, "OK", nil)
		res.To().Params.Add("tag", tag)
		res.AppendHeader(sip.NewHeader("Contact", "<sip:"+contact+"@"+peer+">"))
		res.AppendHeader(sip.NewHeader("Record-Route", "<sip:"+peer+";lr>"))
		return strings.ReplaceAll(res.String(), "\r\n", "\n")
	}
	r.send(leg.Local, answer("first", "desk"))
	r.expect(2*time.Second, "ACK sip:desk@")
	bye := r.expect(2*time.Second, "BYE sip:desk@").(*sip.Request)
	r.send(leg.Local, strings.ReplaceAll(sip.NewResponseFromRequest(bye, 200, "OK", nil).String(), "\r\n", "\n"))
	if res := <-done; !res.Answered() {
		t.Fatalf("first answer: %+v", res)
	}
	waitIdle(t, ua)

	// The call is over; the other fork's answer comes now.
	r.send(leg.Local, answer("second", "webex"))
	ack := r.expect(2*time.Second, "ACK sip:webex@").(*sip.Request)
	if tag, _ := ack.To().Params.Get("tag"); tag != "second" || ack.GetHeader("Route") == nil {
		t.Errorf("ACK of the late answer: %s", ack)
	}
	bye = r.expect(2*time.Second, "BYE sip:webex@").(*sip.Request)
	if tag, _ := bye.To().Params.Get("tag"); tag != "second" || bye.CSeq().SeqNo != inv.CSeq().SeqNo+1 {
		t.Errorf("BYE of the late answer: %s", bye)
	}
	r.send(leg.Local, strings.ReplaceAll(sip.NewResponseFromRequest(bye, 200, "OK", nil).String(), "\r\n", "\n"))
	waitIdle(t, ua)
}

// TestCallInDialogRequests: inside an answered call a re-INVITE gets 200
// with an SDP and the line's Contact, UPDATE and INFO 200, REFER 501, and
// the caller's BYE ends the call.
func TestCallInDialogRequests(t *testing.T) {
	_, b := linePair(t, 5*time.Second)
	r := newRawPeer(t)
	peer := r.conn.LocalAddr().String()
	r.send(b.ep.Leg.Local, rawInvite(peer, b.ep.Leg.Local, "z9hG4bKdlg"))
	r.expect(time.Second, "SIP/2.0 100")
	r.expect(time.Second, "SIP/2.0 180")
	ok := r.expect(time.Second, "SIP/2.0 200").(*sip.Response)
	toTag, _ := ok.To().Params.Get("tag")
	req := func(method string, cseq int, branch string) string {
		return method + " sip:c2002@" + b.ep.Leg.Local + " SIP/2.0\nVia: SIP/2.0/UDP " + peer + ";branch=" + branch + "\n" +
			"From: <sip:2001@x>;tag=caller\nTo: <sip:2002@x>;tag=" + toTag + "\nCall-ID: raw-1@127.0.0.1\n" +
			"CSeq: " + strconv.Itoa(cseq) + " " + method + "\nMax-Forwards: 70\nContact: <sip:c2001@" + peer + ">\nContent-Length: 0\n\n"
	}
	r.send(b.ep.Leg.Local, req("ACK", 1, "z9hG4bKdlgack"))
	r.send(b.ep.Leg.Local, req("INVITE", 2, "z9hG4bKre"))
	re := r.expect(time.Second, "SIP/2.0 200").(*sip.Response)
	if re.CSeq().MethodName != sip.INVITE || !strings.HasPrefix(string(re.Body()), "v=0") || re.Contact() == nil {
		t.Errorf("answer to the re-INVITE:\n%s", re)
	}
	r.send(b.ep.Leg.Local, req("ACK", 2, "z9hG4bKreack"))
	for i, c := range []struct {
		method string
		status string
	}{{"UPDATE", "SIP/2.0 200"}, {"INFO", "SIP/2.0 200"}, {"REFER", "SIP/2.0 501"}} {
		r.send(b.ep.Leg.Local, req(c.method, 3+i, "z9hG4bKm"+c.method))
		if res := r.expect(time.Second, c.status).(*sip.Response); res.CSeq().MethodName != sip.RequestMethod(c.method) {
			t.Errorf("%s answered %s", c.method, res.StartLine())
		}
	}
	if c := b.ua.CallCounts(); c.Active != 1 {
		t.Errorf("counts %+v, want the call up", c)
	}
	r.send(b.ep.Leg.Local, req("BYE", 10, "z9hG4bKbye2"))
	r.expect(time.Second, "SIP/2.0 200")
	if c := waitIdle(t, b.ua); c.ByeIn != 1 {
		t.Errorf("counts %+v", c)
	}
}

// TestCallAnsweredDespiteCancel: the callee answers as the CANCEL crosses
// its 200: the caller ACKs and hangs up at once, and the call counts as
// answered, with the race said in Err.
func TestCallAnsweredDespiteCancel(t *testing.T) {
	r := newRawPeer(t)
	peer := r.conn.LocalAddr().String()
	ua := phonesim.NewUA()
	ua.UDPSockets, ua.LocalIPs, ua.Timeout = 1, []string{"127.0.0.1"}, 2*time.Second
	t.Cleanup(func() { ua.Close() })
	leg, err := ua.Leg("udp", peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	ep := phonesim.Endpoint{Leg: leg, AOR: "2001", Contact: "c2001"}
	done := make(chan phonesim.CallResult, 1)
	go func() {
		done <- ua.Call(testCtx(t), ep, "2002", phonesim.CallOptions{Hold: time.Minute, CancelAfter: time.Millisecond})
	}()
	inv := r.expect(2*time.Second, "INVITE ").(*sip.Request)
	ringing := sip.NewResponseFromRequest(inv, 180, "Ringing", nil)
	ringing.To().Params.Add("tag", "callee")
	r.send(leg.Local, strings.ReplaceAll(ringing.String(), "\r\n", "\n"))
	cancel := r.expect(2*time.Second, "CANCEL sip:2002@").(*sip.Request)
	if br, _ := cancel.Via().Params.Get("branch"); br != func() string { b, _ := inv.Via().Params.Get("branch"); return b }() {
		t.Errorf("CANCEL branch %s, want the INVITE's", br)
	}
	r.send(leg.Local, strings.ReplaceAll(sip.NewResponseFromRequest(cancel, 200, "OK", nil).String(), "\r\n", "\n"))
	ok := sip.NewResponseFromRequest(inv, 200, "OK", nil)
	ok.To().Params.Add("tag", "callee")
	ok.AppendHeader(sip.NewHeader("Contact", "<sip:callee@"+peer+">"))
	r.send(leg.Local, strings.ReplaceAll(ok.String(), "\r\n", "\n"))
	r.expect(2*time.Second, "ACK sip:callee@")
	bye := r.expect(2*time.Second, "BYE sip:callee@").(*sip.Request)
	r.send(leg.Local, strings.ReplaceAll(sip.NewResponseFromRequest(bye, 200, "OK", nil).String(), "\r\n", "\n"))
	res := <-done
	if !res.Answered() || res.Status != 200 || res.ByeStatus != 200 || res.Err == nil || !strings.Contains(res.Err.Error(), "CANCEL") {
		t.Errorf("result %+v, want answered despite the CANCEL, said in Err", res)
	}
	waitIdle(t, ua)
}

// TestCallCancelWaitsForProvisional: a call whose caller gives up before
// any provisional response sends its CANCEL once one comes (RFC 3261
// 9.1), and takes the 487.
func TestCallCancelWaitsForProvisional(t *testing.T) {
	r := newRawPeer(t)
	peer := r.conn.LocalAddr().String()
	ua := phonesim.NewUA()
	ua.UDPSockets, ua.LocalIPs, ua.Timeout = 1, []string{"127.0.0.1"}, 5*time.Second
	t.Cleanup(func() { ua.Close() })
	leg, err := ua.Leg("udp", peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	ep := phonesim.Endpoint{Leg: leg, AOR: "2001", Contact: "c2001"}
	ctx, giveUp := context.WithCancel(context.Background())
	done := make(chan phonesim.CallResult, 1)
	go func() { done <- ua.Call(ctx, ep, "2002", phonesim.CallOptions{}) }()
	inv := r.expect(2*time.Second, "INVITE ").(*sip.Request)
	giveUp()
	// Nothing before the provisional response (the INVITE may come again).
	for m := r.read(200 * time.Millisecond); m != nil; m = r.read(200 * time.Millisecond) {
		if req, ok := m.(*sip.Request); !ok || req.Method != sip.INVITE {
			t.Fatalf("before any provisional response: %s", m)
		}
	}
	ringing := sip.NewResponseFromRequest(inv, 180, "Ringing", nil)
	ringing.To().Params.Add("tag", "callee")
	r.send(leg.Local, strings.ReplaceAll(ringing.String(), "\r\n", "\n"))
	cancel := r.expect(2*time.Second, "CANCEL sip:2002@").(*sip.Request)
	r.send(leg.Local, strings.ReplaceAll(sip.NewResponseFromRequest(cancel, 200, "OK", nil).String(), "\r\n", "\n"))
	terminated := sip.NewResponseFromRequest(inv, 487, "Request Terminated", nil)
	terminated.To().Params.Add("tag", "callee")
	r.send(leg.Local, strings.ReplaceAll(terminated.String(), "\r\n", "\n"))
	ack := r.expect(2*time.Second, "ACK sip:2002@").(*sip.Request)
	invBranch, _ := inv.Via().Params.Get("branch")
	if br, _ := ack.Via().Params.Get("branch"); br != invBranch || ack.CSeq().SeqNo != inv.CSeq().SeqNo {
		t.Errorf("ACK of the 487: %s", ack)
	}
	if res := <-done; res.Status != 487 {
		t.Errorf("result %+v, want 487", res)
	}
	waitIdle(t, ua)
}
