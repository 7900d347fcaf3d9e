package phonesim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"selfprov/internal/sipheader"
)

// Calls ride the fleet's shared sockets like REGISTERs: client
// transactions are matched by Via branch, INVITE server transactions by
// branch too, and dialogs by Call-ID and local tag. No goroutine is kept
// per call: the answering side is driven by timers, the calling side runs
// on its caller's goroutine. Every wait is bounded, and a call that ends
// leaves nothing behind in the UA.

// Callee returns a line as it is now, for an INVITE routed to it; false
// when the line cannot take calls (not registered).
type Callee func() (Endpoint, bool)

// Answer is how a line answers an incoming call.
type Answer struct {
	// Code is the final response (default 200 OK); another code refuses
	// the call, as a busy (486) or declining (603) phone does.
	Code int
	// Ring is the wait between 180 Ringing and the final response.
	Ring time.Duration
	// Hold is how long an answered call lasts before the callee hangs up
	// with BYE; 0 leaves the hang-up to the caller (bounded by the UA's
	// MaxCall).
	Hold time.Duration
}

// Endpoint is a line as calls see it.
type Endpoint struct {
	Leg     *Leg   // the socket to the registrar: the outbound proxy of every call
	AOR     string // the line's DN, the From user of its calls
	Contact string // Contact user, as registered
	// Device is the +u.sip!devicename.ccm.cisco.com Contact parameter a
	// Cisco desk phone sends; "" sends none (Webex clients).
	Device string
	Agent  string // User-Agent
	Answer Answer
	// Trace, if set, receives every message of the line's calls.
	Trace func(dir, line, detail string)
}

// CallOptions shape one outgoing call.
type CallOptions struct {
	// Hold is how long the answered call lasts before the caller hangs
	// up with BYE (0: at once after the ACK).
	Hold time.Duration
	// NoAnswer cancels a call that has no final response by then
	// (default 32 s, RFC 3261 Timer B).
	NoAnswer time.Duration
	// CancelAfter cancels the call this long after its first provisional
	// response; 0 never.
	CancelAfter time.Duration
}

// CallResult is what one outgoing call did.
type CallResult struct {
	Status int // final status of the INVITE; 0 when none came
	// Outcome is the final status as text ("200", "404", "487"), or
	// "timeout", "transport" or "closed" when none came.
	Outcome      string
	Ringing      time.Duration // INVITE to the first 180 or 183; 0 when none
	Setup        time.Duration // INVITE to the 2xx
	RemoteHangup bool          // the callee sent BYE first
	ByeStatus    int           // final status of the caller's BYE; 0 when none was sent or answered
	Err          error         // why no final came, or why the BYE failed
}

// Answered tells whether the call was answered and hung up cleanly: by
// the caller's BYE answered 2xx, or by the callee's.
func (r CallResult) Answered() bool {
	return r.Status/100 == 2 && (r.ByeStatus/100 == 2 || r.RemoteHangup)
}

// CallCounts are what the UA's lines did with incoming calls.
type CallCounts struct {
	Active   int   // dialogs and INVITE server transactions in progress
	Pending  int   // client transactions awaiting their response, REGISTERs included
	Answered int64 // incoming calls answered with a 2xx
	Refused  int64 // incoming calls answered with a final non-2xx, 487 after CANCEL included
	NoAck    int64 // answered calls whose ACK never came
	ByeIn    int64 // BYEs received in a dialog
	ByeOut   int64 // BYEs sent by a callee (its Hold, MaxCall, or no ACK)
}

type callCounters struct{ answered, refused, noAck, byeIn, byeOut atomic.Int64 }

// CallCounts returns what the UA's lines did with incoming calls so far.
func (ua *UA) CallCounts() CallCounts {
	ua.mu.Lock()
	active, pending := len(ua.dialogs)+len(ua.invites), len(ua.pending)
	ua.mu.Unlock()
	return CallCounts{Active: active, Pending: pending, Answered: ua.counts.answered.Load(), Refused: ua.counts.refused.Load(),
		NoAck: ua.counts.noAck.Load(), ByeIn: ua.counts.byeIn.Load(), ByeOut: ua.counts.byeOut.Load()}
}

// HandleCalls routes INVITEs whose Request-URI user is key to the line fn
// returns; a nil fn removes the route.
func (ua *UA) HandleCalls(key string, fn Callee) {
	ua.mu.Lock()
	if fn == nil {
		delete(ua.callees, key)
	} else {
		ua.callees[key] = fn
	}
	ua.mu.Unlock()
}

func (ua *UA) maxCall() time.Duration {
	if ua.MaxCall > 0 {
		return ua.MaxCall
	}
	return 10 * time.Minute
}

// RFC 3261 timers T1 and T2.
const (
	timerT1 = 500 * time.Millisecond
	timerT2 = 4 * time.Second
)

type callState int

const (
	callEarly    callState = iota // INVITE sent or received, no final yet
	callAnswered                  // 2xx sent, its ACK awaited
	callRefused                   // non-2xx final sent, its ACK awaited
	callUp                        // confirmed
	callEnding                    // a BYE is under way
	callEnded
)

// call is one dialog of a line, on either side.
type call struct {
	ua       *UA
	ep       Endpoint
	callID   string
	localTag string
	key      string // Call-ID|local tag

	mu        sync.Mutex
	state     callState
	local     string // From of this side's requests, with its tag
	remote    string // To of this side's requests, with the peer's tag once known
	remoteTag string
	target    string   // remote target: the peer's Contact URI
	routes    []string // route set, in the order requests carry it
	cseq      int
	ended     chan struct{}
	byPeer    bool // the peer sent BYE

	// Answering side.
	uas      bool
	head     []byte // the INVITE's Via, From, Call-ID, CSeq for its responses; until the ACK
	rr       []byte // its Record-Route, for the 18x and 2xx
	toBare   string // its To, before the tag
	branch   string
	reply    func([]byte)
	reliable bool
	last     []byte // last response to the INVITE, sent again on a retransmitted INVITE
	retrans  *time.Timer
	interval time.Duration
	wait     *time.Timer // the ring, then the ACK wait
	hold     *time.Timer // the callee's hang-up

	// Calling side: the ACK of the 2xx, sent again on a retransmitted 2xx,
	// and 2xx responses that came while the first was being taken.
	ack    []byte
	ackLeg *Leg
	early  []*sip.Response
}

// trace passes a message sent to the line's trace, if it has one.
func (c *call) trace(dir, line string, msg []byte) {
	if c.ep.Trace != nil {
		c.ep.Trace(dir, line, string(msg))
	}
}

// traceIn passes a message received to the line's trace, if it has one:
// rendering it is left undone when none is wanted (a load run).
func (c *call) traceIn(m sip.Message) {
	if c.ep.Trace == nil {
		return
	}
	s := m.String()
	line, _, _ := strings.Cut(s, "\r\n")
	c.ep.Trace("<-", line, s)
}

func tagOf(params sip.HeaderParams) string {
	t, _ := params.Get("tag")
	return t
}

func branchOf(m sip.Message) string {
	var via *sip.ViaHeader
	switch m := m.(type) {
	case *sip.Request:
		via = m.Via()
	case *sip.Response:
		via = m.Via()
	}
	if via == nil {
		return ""
	}
	br, _ := via.Params.Get("branch")
	return br
}

func callIDOf(h *sip.CallIDHeader) string {
	if h == nil {
		return ""
	}
	return h.Value()
}

func (ua *UA) dialog(callID, localTag string) *call {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	return ua.dialogs[callID+"|"+localTag]
}

// callRequest takes the requests of calls: a new INVITE, CANCEL, ACK, and
// requests inside a dialog. It reports false for the rest (NOTIFYs of the
// registrar, OPTIONS), which are routed to the phones as before.
func (ua *UA) callRequest(req *sip.Request, reply func([]byte), in inbound) bool {
	if req.To() == nil || req.From() == nil || req.CallID() == nil || req.CSeq() == nil {
		return false
	}
	toTag := tagOf(req.To().Params)
	switch {
	case req.Method == sip.INVITE && toTag == "":
		ua.incomingInvite(req, reply, in)
		return true
	case req.Method == sip.CANCEL:
		ua.mu.Lock()
		c := ua.invites[branchOf(req)]
		ua.mu.Unlock()
		if c == nil {
			reply(responseBytes(req, 481, "Call/Transaction Does Not Exist"))
			return true
		}
		reply(responseBytes(req, 200, "OK"))
		c.cancelled()
		return true
	case req.IsAck():
		ua.mu.Lock()
		c := ua.invites[branchOf(req)]
		ua.mu.Unlock()
		if c != nil && c.refusedAck() {
			return true
		}
		if c = ua.dialog(callIDOf(req.CallID()), toTag); c != nil {
			c.traceIn(req)
			c.acked()
		}
		return true
	case toTag != "":
		if c := ua.dialog(callIDOf(req.CallID()), toTag); c != nil {
			c.inDialog(req, reply)
			return true
		}
		switch req.Method {
		case sip.BYE, sip.INVITE, sip.UPDATE, sip.INFO, sip.REFER, sip.PRACK:
			reply(responseBytes(req, 481, "Call/Transaction Does Not Exist"))
			return true
		}
	}
	return false
}

// responseBytes is a response with no body, with a To tag on a final one.
func responseBytes(req *sip.Request, code int, reason string) []byte {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if to := res.To(); to != nil && code > 100 {
		if _, ok := to.Params.Get("tag"); !ok {
			to.Params.Add("tag", randHex(8))
		}
	}
	return []byte(res.String())
}

// --- answering side

func (ua *UA) incomingInvite(req *sip.Request, reply func([]byte), in inbound) {
	br := branchOf(req)
	if br == "" {
		// Transactions are told apart by branch; an RFC 2543 peer
		// without one is not what a cluster sends.
		reply(responseBytes(req, 400, "Missing Via Branch"))
		return
	}
	ua.mu.Lock()
	if c := ua.invites[br]; c != nil {
		ua.mu.Unlock()
		c.resend()
		return
	}
	fn := ua.callees[req.Recipient.User]
	ua.mu.Unlock()
	if fn == nil {
		reply(responseBytes(req, 404, "Not Found"))
		return
	}
	ep, ok := fn()
	if !ok || ep.Leg == nil {
		reply(responseBytes(req, 480, "Temporarily Unavailable"))
		return
	}
	c := &call{ua: ua, ep: ep, callID: callIDOf(req.CallID()), localTag: randHex(10), uas: true, branch: br,
		reply: reply, reliable: in.tcp != nil, ended: make(chan struct{}), cseq: 100}
	c.key = c.callID + "|" + c.localTag
	c.toBare = req.To().Value()
	c.local = c.toBare + ";tag=" + c.localTag
	c.head, c.rr = responseHead(req, in.source())
	c.remote = req.From().Value()
	c.remoteTag = tagOf(req.From().Params)
	if ct := req.Contact(); ct != nil {
		c.target = ct.Address.String()
	}
	for _, h := range sipheader.All(req, "Record-Route") {
		c.routes = append(c.routes, h.Value())
	}
	c.traceIn(req)

	c.mu.Lock()
	defer c.mu.Unlock()
	ua.mu.Lock()
	if ua.closed || ua.invites[br] != nil {
		ua.mu.Unlock()
		return
	}
	ua.invites[br] = c
	ua.dialogs[c.key] = c
	ua.mu.Unlock()
	c.sendLocked(c.responseLocked(100, "Trying", nil))
	c.last = c.responseLocked(180, "Ringing", nil)
	c.sendLocked(c.last)
	if ring := ep.Answer.Ring; ring > 0 {
		c.wait = time.AfterFunc(ring, c.answer)
		return
	}
	c.answerLocked()
}

// responseHead renders what every response to req repeats: its Via
// headers (the top one with rport and received filled from src, RFC
// 3581), From, Call-ID and CSeq; and apart, its Record-Route. The INVITE's
// three or more responses are then put together without rendering its
// headers again.
func responseHead(req *sip.Request, src string) (head, rr []byte) {
	host, port, _ := net.SplitHostPort(src)
	b := make([]byte, 0, 512)
	for i, h := range sipheader.All(req, "Via") {
		v := h.Value()
		if via, ok := h.(*sip.ViaHeader); ok && i == 0 && port != "" {
			if val, has := via.Params.Get("rport"); has && val == "" {
				via = via.Clone()
				via.Params.Add("rport", port)
				via.Params.Add("received", host)
				v = via.Value()
			}
		}
		b = append(b, "Via: "...)
		b = append(b, v...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "From: "...)
	b = append(b, req.From().Value()...)
	b = append(b, "\r\nCall-ID: "...)
	b = append(b, req.CallID().Value()...)
	b = append(b, "\r\nCSeq: "...)
	b = append(b, req.CSeq().Value()...)
	b = append(b, "\r\n"...)
	for _, h := range sipheader.All(req, "Record-Route") {
		rr = append(rr, "Record-Route: "...)
		rr = append(rr, h.Value()...)
		rr = append(rr, "\r\n"...)
	}
	return b, rr
}

// responseLocked renders a response to the INVITE from its head.
func (c *call) responseLocked(code int, reason string, body []byte) []byte {
	b := make([]byte, 0, 256+len(c.head)+len(c.rr)+len(body))
	b = append(b, "SIP/2.0 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, reason...)
	b = append(b, "\r\n"...)
	b = append(b, c.head...)
	b = append(b, "To: "...)
	if code == 100 {
		b = append(b, c.toBare...)
	} else {
		b = append(b, c.local...)
	}
	b = append(b, "\r\n"...)
	if code > 100 && code < 300 {
		b = append(b, c.rr...)
		b = append(b, "Contact: "...)
		b = append(b, contactValue(c.ep, c.ep.Leg)...)
		b = append(b, "\r\n"...)
	}
	if c.ep.Agent != "" {
		b = append(b, "Server: "...)
		b = append(b, c.ep.Agent...)
		b = append(b, "\r\n"...)
	}
	if body != nil {
		b = append(b, "Content-Type: application/sdp\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

// responseTo renders a response to a request inside the dialog, with the
// line's tag, and its Contact on a 2xx.
func (c *call) responseTo(req *sip.Request, code int, reason string, body []byte) []byte {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	if code > 100 {
		if to := res.To(); to != nil {
			to.Params.Add("tag", c.localTag)
		}
	}
	if code > 100 && code < 300 {
		res.AppendHeader(sip.NewHeader("Contact", contactValue(c.ep, c.ep.Leg)))
	}
	if c.ep.Agent != "" {
		res.AppendHeader(sip.NewHeader("Server", c.ep.Agent))
	}
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	return []byte(res.String())
}

func (c *call) sendLocked(msg []byte) {
	if c.ep.Trace != nil {
		line, _, _ := strings.Cut(string(msg), "\r\n")
		c.trace("->", line, msg)
	}
	c.reply(msg)
}

func (c *call) resend() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && c.state != callEnded {
		c.reply(c.last)
	}
}

func (c *call) answer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answerLocked()
}

func (c *call) answerLocked() {
	if c.state != callEarly {
		return // cancelled while ringing
	}
	code := c.ep.Answer.Code
	if code == 0 {
		code = 200
	}
	if code/100 == 2 {
		c.state = callAnswered
		c.ua.counts.answered.Add(1)
		c.finalLocked(code, sdp(hostOf(c.ep.Leg.Local)))
		return
	}
	c.state = callRefused
	c.ua.counts.refused.Add(1)
	c.finalLocked(code, nil)
}

// finalLocked sends the final response and waits for its ACK; over UDP it
// is sent again at T1 doubling to T2 until then (RFC 3261 13.3.1.4, 17.2.1).
func (c *call) finalLocked(code int, body []byte) {
	c.last = c.responseLocked(code, reasonOf(code), body)
	c.sendLocked(c.last)
	if c.wait != nil {
		c.wait.Stop()
	}
	c.wait = time.AfterFunc(c.ua.timeout(), c.noAck)
	if !c.reliable {
		c.interval = timerT1
		c.retrans = time.AfterFunc(c.interval, c.retransmit)
	}
}

func (c *call) retransmit() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != callAnswered && c.state != callRefused {
		return
	}
	c.reply(c.last)
	c.interval = min(2*c.interval, timerT2)
	c.retrans.Reset(c.interval)
}

// noAck ends a call whose final response was never acknowledged; an
// answered one is hung up, as RFC 3261 13.3.1.4 asks.
func (c *call) noAck() {
	c.mu.Lock()
	st := c.state
	if st == callAnswered {
		c.state = callEnding
		c.ua.counts.noAck.Add(1)
	}
	c.mu.Unlock()
	switch st {
	case callAnswered:
		c.bye()
	case callRefused:
		c.end()
	}
}

// refusedAck takes the hop-by-hop ACK of a non-2xx final; false when the
// transaction's final was a 2xx (its ACK is the dialog's).
func (c *call) refusedAck() bool {
	c.mu.Lock()
	refused := c.state == callRefused
	c.mu.Unlock()
	if refused {
		c.end()
	}
	return refused
}

// acked confirms an answered call and schedules its hang-up.
func (c *call) acked() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != callAnswered {
		return // a retransmitted ACK, or the caller's side of a dialog
	}
	c.state = callUp
	c.stopTimersLocked()
	// The INVITE and its last response are for retransmissions, which
	// the ACK ends: a call held for long keeps only its dialog.
	c.head, c.rr, c.last = nil, nil, nil
	c.ua.mu.Lock()
	if c.ua.invites[c.branch] == c {
		delete(c.ua.invites, c.branch)
	}
	c.ua.mu.Unlock()
	hold := c.ep.Answer.Hold
	if hold <= 0 {
		hold = c.ua.maxCall()
	}
	c.hold = time.AfterFunc(hold, c.hangup)
}

// cancelled answers a CANCEL of a ringing call with 487.
func (c *call) cancelled() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != callEarly {
		return
	}
	c.state = callRefused
	c.ua.counts.refused.Add(1)
	c.finalLocked(487, nil)
}

// hangup is the callee's BYE after its hold time (or MaxCall).
func (c *call) hangup() {
	c.mu.Lock()
	up := c.state == callUp
	if up {
		c.state = callEnding
	}
	c.mu.Unlock()
	if up {
		c.bye()
	}
}

// bye sends BYE in the dialog, waits for its final response (bounded by
// the UA's timeout) and ends the call.
func (c *call) bye() (int, error) {
	defer c.end()
	c.mu.Lock()
	c.cseq++
	cseq := c.cseq
	hop, err := c.hopLocked()
	var msg []byte
	br := branch()
	if err == nil {
		msg = c.requestLocked(sip.BYE, c.target, br, hop, cseq, c.routes, "", nil)
	}
	uas := c.uas
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if uas {
		c.ua.counts.byeOut.Add(1)
	}
	c.trace("->", "BYE "+c.target, msg)
	ctx, cancel := context.WithTimeout(context.Background(), c.ua.timeout())
	defer cancel()
	res, err := hop.do(ctx, br, msg)
	if err != nil {
		return 0, err
	}
	c.traceIn(res)
	return res.StatusCode, nil
}

// inDialog answers a request inside the dialog.
func (c *call) inDialog(req *sip.Request, reply func([]byte)) {
	c.traceIn(req)
	var msg []byte
	switch req.Method {
	case sip.BYE:
		c.mu.Lock()
		c.byPeer = true
		c.mu.Unlock()
		c.ua.counts.byeIn.Add(1)
		msg = c.responseTo(req, 200, "OK", nil)
		// Ended before the 200 goes: whoever sees the 200 sees no call left.
		c.end()
	case sip.INVITE:
		// A re-INVITE (session refresh, hold): the same session again.
		msg = c.responseTo(req, 200, "OK", sdp(hostOf(c.ep.Leg.Local)))
	case sip.UPDATE, sip.INFO, sip.NOTIFY, sip.OPTIONS:
		msg = c.responseTo(req, 200, "OK", nil)
	default:
		msg = c.responseTo(req, 501, "Not Implemented", nil)
	}
	if c.ep.Trace != nil {
		line, _, _ := strings.Cut(string(msg), "\r\n")
		c.trace("->", line, msg)
	}
	reply(msg)
}

func (c *call) stopTimersLocked() {
	for _, t := range []*time.Timer{c.retrans, c.wait, c.hold} {
		if t != nil {
			t.Stop()
		}
	}
}

// end forgets the call: its timers stop and the UA drops its entries.
func (c *call) end() {
	c.mu.Lock()
	if c.state == callEnded {
		c.mu.Unlock()
		return
	}
	c.state = callEnded
	c.stopTimersLocked()
	c.mu.Unlock()
	c.ua.mu.Lock()
	if c.ua.invites[c.branch] == c {
		delete(c.ua.invites, c.branch)
	}
	if c.ua.dialogs[c.key] == c {
		delete(c.ua.dialogs, c.key)
	}
	c.ua.mu.Unlock()
	close(c.ended)
}

// endAll ends every call of a closing UA, so no timer outlives it.
func (ua *UA) endAll() {
	ua.mu.Lock()
	calls := make([]*call, 0, len(ua.dialogs)+len(ua.invites))
	for _, c := range ua.dialogs {
		calls = append(calls, c)
	}
	for _, c := range ua.invites {
		calls = append(calls, c)
	}
	ua.mu.Unlock()
	for _, c := range calls {
		c.end()
	}
}

// --- calling side

// Call places a call from ep to dn through ep's registrar and, once
// answered, hangs it up after o.Hold. It returns when the call is over.
func (ua *UA) Call(ctx context.Context, ep Endpoint, dn string, o CallOptions) CallResult {
	leg := ep.Leg
	if leg == nil {
		return CallResult{Outcome: "transport", Err: errors.New("phonesim: the line has no leg to its registrar")}
	}
	host := hostOf(leg.Remote)
	c := &call{ua: ua, ep: ep, callID: randHex(16) + "@" + hostOf(leg.Local), localTag: fromTagFor(ep), ended: make(chan struct{}), cseq: 101}
	c.key = c.callID + "|" + c.localTag
	c.local = "<sip:" + ep.AOR + "@" + host + ">;tag=" + c.localTag
	c.remote = "<sip:" + dn + "@" + host + ">"
	ruri := "sip:" + dn + "@" + leg.Remote
	ua.mu.Lock()
	if ua.closed {
		ua.mu.Unlock()
		return CallResult{Outcome: "closed", Err: ErrClosed}
	}
	ua.dialogs[c.key] = c
	ua.mu.Unlock()
	defer c.end()

	br := branch()
	inv := c.requestLocked(sip.INVITE, ruri, br, leg, 101, nil, inviteHeaders(ep, leg), sdp(hostOf(leg.Local)))
	res, r := c.invite(ctx, leg, ruri, br, inv, o)
	if res == nil {
		return r
	}
	r.Status, r.Outcome = res.StatusCode, strconv.Itoa(res.StatusCode)
	if !res.IsSuccess() {
		// The ACK of a non-2xx final is the transaction's: same branch,
		// same hop as the INVITE.
		c.mu.Lock()
		c.remote = res.To().Value()
		ack := c.requestLocked(sip.ACK, ruri, br, leg, 101, nil, "", nil)
		c.mu.Unlock()
		c.trace("->", "ACK "+ruri, ack)
		_ = leg.send(ack)
		return r
	}
	if err := c.confirm(res); err != nil {
		r.Err = err
		return r
	}
	if r.Err != nil {
		// Answered after the CANCEL: hang up at once.
		o.Hold = 0
	}
	if o.Hold > 0 {
		t := time.NewTimer(o.Hold)
		select {
		case <-t.C:
		case <-c.ended:
		case <-ctx.Done():
		}
		t.Stop()
	}
	c.mu.Lock()
	up := c.state == callUp
	if up {
		c.state = callEnding
	}
	byPeer := c.byPeer
	c.mu.Unlock()
	if !up {
		r.RemoteHangup = byPeer
		return r
	}
	code, err := c.bye()
	r.ByeStatus = code
	if err == nil && code/100 != 2 {
		err = fmt.Errorf("BYE answered %d", code)
	}
	if r.Err == nil {
		r.Err = err
	}
	return r
}

// fromTagFor is a From tag shaped like the line's kind of device.
func fromTagFor(ep Endpoint) string {
	if m, err := ParseMAC(ep.Device); err == nil {
		return fromTag(m)
	}
	return randHex(16)
}

// invite runs the INVITE client transaction: UDP retransmissions until a
// response (Timer A), Timer B when none comes, the CANCEL after NoAnswer,
// CancelAfter or the end of ctx. It returns the final response, or nil and
// the result of a call that got none.
func (c *call) invite(ctx context.Context, leg *Leg, ruri, br string, inv []byte, o CallOptions) (*sip.Response, CallResult) {
	ua := c.ua
	var r CallResult
	tx, err := ua.addPending(br, leg)
	if err != nil {
		return nil, CallResult{Outcome: "closed", Err: err}
	}
	defer ua.removePending(br, tx)
	c.trace("->", "INVITE "+ruri, inv)
	start := time.Now()
	if err := leg.send(inv); err != nil {
		return nil, CallResult{Outcome: "transport", Err: err}
	}
	noAnswer := o.NoAnswer
	if noAnswer <= 0 {
		noAnswer = 64 * timerT1
	}
	timerB := time.NewTimer(ua.timeout())
	defer timerB.Stop()
	give := time.NewTimer(noAnswer)
	defer give.Stop()
	var retrans <-chan time.Time
	interval := timerT1
	var rt *time.Timer
	if leg.udp != nil {
		rt = time.NewTimer(interval)
		defer rt.Stop()
		retrans = rt.C
	}
	var cancelAt <-chan time.Time
	done := ctx.Done()
	// cancel sends the CANCEL once; RFC 3261 9.1 wants a provisional
	// response first, so a cancel wanted before one waits for it.
	provisional, cancelled, wantCancel := false, false, false
	cancel := func() {
		wantCancel = true
		if provisional && !cancelled {
			cancelled = true
			c.sendCancel(leg, ruri, br)
			give.Reset(ua.timeout())
		}
	}
	for {
		select {
		case res, ok := <-tx.ch:
			if !ok {
				return nil, CallResult{Outcome: "transport", Err: fmt.Errorf("phonesim: connection to %s closed", leg.Remote), Ringing: r.Ringing}
			}
			c.traceIn(res)
			if rt != nil {
				rt.Stop()
				retrans = nil
			}
			timerB.Stop()
			if res.IsProvisional() {
				if (res.StatusCode == 180 || res.StatusCode == 183) && r.Ringing == 0 {
					r.Ringing = time.Since(start)
				}
				if !provisional && o.CancelAfter > 0 {
					t := time.NewTimer(o.CancelAfter)
					defer t.Stop()
					cancelAt = t.C
				}
				provisional = true
				if wantCancel {
					cancel()
				}
				continue
			}
			if res.IsSuccess() {
				r.Setup = time.Since(start)
			}
			if cancelled && res.IsSuccess() {
				r.Err = errors.New("answered after the CANCEL")
			}
			return res, r
		case <-retrans:
			if err := leg.send(inv); err != nil {
				return nil, CallResult{Outcome: "transport", Err: err}
			}
			interval = min(2*interval, timerT2)
			rt.Reset(interval)
		case <-timerB.C:
			if wantCancel {
				return nil, CallResult{Outcome: "cancelled", Err: ctx.Err()}
			}
			return nil, CallResult{Outcome: "timeout", Err: ErrTimeout}
		case <-give.C:
			switch {
			case cancelled:
				return nil, CallResult{Outcome: "timeout", Err: errors.New("phonesim: no final response to the CANCELled INVITE"), Ringing: r.Ringing}
			case wantCancel:
				// To be cancelled, and still no provisional response.
				err := ctx.Err()
				if err == nil {
					err = errors.New("phonesim: no answer, and no provisional response to CANCEL after")
				}
				return nil, CallResult{Outcome: "cancelled", Err: err}
			}
			// No answer: cancel, after a provisional response as ever.
			cancel()
			if !cancelled {
				give.Reset(ua.timeout())
			}
		case <-cancelAt:
			cancelAt = nil
			cancel()
		case <-done:
			// The run is over: cancel the call and wait, bounded, for
			// the 487 (or for the provisional response a CANCEL needs).
			done = nil
			cancel()
			if !cancelled {
				give.Reset(ua.timeout())
			}
		}
	}
}

// sendCancel sends CANCEL for the INVITE of branch br: the same
// Request-URI, branch and hop; its 200 is awaited on its own goroutine,
// bounded by the UA's timeout.
func (c *call) sendCancel(leg *Leg, ruri, br string) {
	c.mu.Lock()
	msg := c.requestLocked(sip.CANCEL, ruri, br, leg, 101, nil, "", nil)
	c.mu.Unlock()
	c.trace("->", "CANCEL "+ruri, msg)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.ua.timeout())
		defer cancel()
		if res, err := leg.do(ctx, br+"|CANCEL", msg); err == nil {
			c.traceIn(res)
		}
	}()
}

// confirm takes the 2xx as the dialog's start (remote target, route set
// reversed from Record-Route per RFC 3261 12.1.2) and ACKs it.
func (c *call) confirm(res *sip.Response) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != callEarly {
		return errors.New("phonesim: call ended before its 2xx")
	}
	c.remote = res.To().Value()
	c.remoteTag = tagOf(res.To().Params)
	if ct := res.Contact(); ct != nil {
		c.target = ct.Address.String()
	} else {
		return errors.New("phonesim: 2xx without Contact")
	}
	rr := sipheader.All(res, "Record-Route")
	c.routes = c.routes[:0]
	for i := len(rr) - 1; i >= 0; i-- {
		c.routes = append(c.routes, rr[i].Value())
	}
	c.state = callUp
	hop, err := c.hopLocked()
	if err != nil {
		return err
	}
	c.ack = c.requestLocked(sip.ACK, c.target, branch(), hop, int(res.CSeq().SeqNo), c.routes, "", nil)
	c.ackLeg = hop
	c.trace("->", "ACK "+c.target, c.ack)
	err = hop.send(c.ack)
	if early := c.early; len(early) > 0 {
		c.early = nil
		go func() {
			for _, r := range early {
				c.other2xx(r)
			}
		}()
	}
	return err
}

// retransmitted2xx ACKs a 2xx that came again after its transaction
// ended; a 2xx of another fork is ACKed and hung up (RFC 3261 13.2.2.4).
func (ua *UA) retransmitted2xx(res *sip.Response, in inbound) {
	c := ua.dialog(callIDOf(res.CallID()), tagOf(res.From().Params))
	if c == nil {
		// The call is over (a caller that hung up at once): a late
		// answer of another fork is still ACKed and hung up, from what
		// the 2xx says, so the phone that sent it is not left waiting.
		if leg := in.leg(ua); leg != nil {
			stray := &call{ua: ua, ep: Endpoint{Leg: leg}, callID: callIDOf(res.CallID()), localTag: tagOf(res.From().Params),
				local: res.From().Value(), cseq: int(res.CSeq().SeqNo), ended: make(chan struct{}), key: "stray"}
			if err := stray.confirm(res); err == nil {
				go func() { _, _ = stray.bye() }()
			}
		}
		return
	}
	c.mu.Lock()
	if c.ack == nil {
		if c.state == callEarly && len(c.early) < 8 {
			c.early = append(c.early, res) // taken once the first 2xx is
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.other2xx(res)
}

// other2xx takes a 2xx after the dialog's first: the same one again is
// ACKed again; another fork's answer is ACKed and hung up.
func (c *call) other2xx(res *sip.Response) {
	c.mu.Lock()
	if tagOf(res.To().Params) == c.remoteTag {
		ack, hop := c.ack, c.ackLeg
		c.mu.Unlock()
		if ack != nil {
			_ = hop.send(ack)
		}
		return
	}
	c.mu.Unlock()
	stray := &call{ua: c.ua, ep: c.ep, callID: c.callID, localTag: c.localTag, local: c.local,
		cseq: 101, ended: make(chan struct{}), key: c.key + "|stray"}
	if err := stray.confirm(res); err == nil {
		go func() { _, _ = stray.bye() }()
	}
}

// hopLocked is where the dialog's requests go: the first route, else the
// remote target, over the line's own socket when that is where it points.
func (c *call) hopLocked() (*Leg, error) {
	uri := c.target
	if len(c.routes) > 0 {
		uri = c.routes[0]
	}
	var u sip.Uri
	if err := sip.ParseUri(strings.TrimSuffix(strings.TrimPrefix(uri, "<"), ">"), &u); err != nil {
		return nil, fmt.Errorf("phonesim: next hop %q: %w", uri, err)
	}
	return c.ua.hopLeg(c.ep.Leg, u)
}

// hopLeg is the leg to the host of u: base itself when u names its remote
// and transport, else the same UDP socket toward u, or a TCP connection.
func (ua *UA) hopLeg(base *Leg, u sip.Uri) (*Leg, error) {
	port := u.Port
	if port == 0 {
		port = 5060
	}
	tp := base.Transport
	if t, ok := u.UriParams.Get("transport"); ok && t != "" {
		tp = strings.ToUpper(t)
	}
	addr := net.JoinHostPort(strings.Trim(u.Host, "[]"), strconv.Itoa(port))
	switch tp {
	case "UDP":
		dst, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return nil, fmt.Errorf("phonesim: next hop %s: %w", addr, err)
		}
		if base.udp != nil {
			if base.udpDst.String() == dst.String() {
				return base, nil
			}
			return &Leg{ua: ua, Transport: "UDP", Local: base.Local, Remote: dst.String(), udp: base.udp, udpDst: dst, n: base.n}, nil
		}
		return ua.Leg("udp", addr, base.n)
	case "TCP":
		if base.tcp != nil && sameTCPAddr(addr, base.Remote) && !base.dead() {
			return base, nil
		}
		return ua.Leg("tcp", addr, base.n)
	}
	return nil, fmt.Errorf("phonesim: next hop %s over %s: only UDP and TCP", addr, tp)
}

func sameTCPAddr(a, b string) bool {
	if a == b {
		return true
	}
	x, err1 := net.ResolveTCPAddr("tcp", a)
	y, err2 := net.ResolveTCPAddr("tcp", b)
	return err1 == nil && err2 == nil && x.String() == y.String()
}

// contactValue is the Contact of a line's calls over leg: a Cisco phone's
// carries its device name.
func contactValue(ep Endpoint, leg *Leg) string {
	v := "<sip:" + ep.Contact + "@" + leg.Local + ";transport=" + strings.ToLower(leg.Transport) + ">"
	if ep.Device != "" {
		v += `;+u.sip!devicename.ccm.cisco.com="` + ep.Device + `"`
	}
	return v
}

// inviteHeaders are the headers of an INVITE that are not the dialog's.
func inviteHeaders(ep Endpoint, leg *Leg) string {
	return "Contact: " + contactValue(ep, leg) + "\r\n" +
		"Allow: ACK,BYE,CANCEL,INVITE,NOTIFY,OPTIONS,REFER,REGISTER,UPDATE,SUBSCRIBE,INFO\r\n" +
		"Supported: " + ciscoSupported + "\r\n" +
		"Content-Type: application/sdp\r\n"
}

// requestLocked renders a request of the call over hop; routes become its
// Route header, extra ends in CRLF.
func (c *call) requestLocked(method sip.RequestMethod, ruri, br string, hop *Leg, cseq int, routes []string, extra string, body []byte) []byte {
	b := make([]byte, 0, 768+len(body))
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, ruri...)
	b = append(b, " SIP/2.0\r\nVia: SIP/2.0/"...)
	b = append(b, hop.Transport...)
	b = append(b, ' ')
	b = append(b, hop.Local...)
	b = append(b, ";branch="...)
	b = append(b, br...)
	b = append(b, ";rport\r\n"...)
	if len(routes) > 0 {
		b = append(b, "Route: "...)
		b = append(b, strings.Join(routes, ", ")...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "Max-Forwards: 70\r\nFrom: "...)
	b = append(b, c.local...)
	b = append(b, "\r\nTo: "...)
	b = append(b, c.remote...)
	b = append(b, "\r\nCall-ID: "...)
	b = append(b, c.callID...)
	b = append(b, "\r\nCSeq: "...)
	b = strconv.AppendInt(b, int64(cseq), 10)
	b = append(b, ' ')
	b = append(b, method...)
	b = append(b, "\r\n"...)
	if c.ep.Agent != "" && method != sip.ACK && method != sip.CANCEL {
		b = append(b, "User-Agent: "...)
		b = append(b, c.ep.Agent...)
		b = append(b, "\r\n"...)
	}
	b = append(b, extra...)
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

// sdp is a minimal audio offer or answer: the media itself is skipped.
func sdp(ip string) []byte {
	family := "IP4"
	if strings.Contains(ip, ":") {
		family = "IP6"
	}
	id := strconv.FormatUint(uint64(rand32()), 10)
	port := strconv.Itoa(16384 + 2*int(rand32()%8192))
	return []byte("v=0\r\no=Cisco-SIPUA " + id + " 0 IN " + family + " " + ip + "\r\ns=SIP Call\r\nc=IN " + family + " " + ip +
		"\r\nt=0 0\r\nm=audio " + port + " RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n")
}

func reasonOf(code int) string {
	switch code {
	case 200:
		return "OK"
	case 404:
		return "Not Found"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 603:
		return "Decline"
	}
	if code/100 == 2 {
		return "OK"
	}
	return "Call Failed"
}

// endpoint is the phone's line as calls see it now; false until it has
// registered.
func (p *Phone) endpoint() (Endpoint, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leg == nil || p.callID == "" {
		return Endpoint{}, false
	}
	ep := Endpoint{Leg: p.leg, AOR: p.aor, Contact: p.contact, Device: p.name, Agent: p.Model.UserAgent(), Answer: p.env.Answer}
	if p.Mode == ModeWebex {
		// A Webex client names no device in its Contact: the cluster
		// knows it by the From DN and its address.
		ep.Device = ""
	}
	if p.tracing() {
		step := "call/" + p.aor
		ep.Trace = func(dir, line, detail string) { p.trace(step, dir, "SIP", line, detail) }
	}
	return ep, true
}

// Call places a call from the phone's line to dn and hangs it up after
// o.Hold once answered.
func (p *Phone) Call(ctx context.Context, dn string, o CallOptions) CallResult {
	ep, ok := p.endpoint()
	if !ok {
		return CallResult{Outcome: "unregistered", Err: fmt.Errorf("phonesim: %s is not registered", p.name)}
	}
	return p.env.UA.Call(ctx, ep, dn, o)
}

// DN is the phone's line 1 as registered ("" before it registered).
func (p *Phone) DN() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.callID == "" {
		return ""
	}
	return p.aor
}
