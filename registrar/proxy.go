package registrar

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"selfprov/internal/sipheader"
	"selfprov/provision"
)

// The registrar is also a stateful proxy for calls between registered
// lines (SPEC §9, RFC 3261 §16). An INVITE from a registered device is
// answered 100 at once; the core decides the route (the calling line's
// calling search space, the called line, the devices showing it), and the
// INVITE is forked to the live binding of every such device, each over
// its own flow: the UDP address or the TCP/TLS connection the phone
// registered from, whatever the Contact says. The first 2xx wins and the
// other branches are cancelled. The proxy Record-Routes (twice when the
// two legs use different transports, RFC 5658), so every request inside
// the dialog comes through it and goes on over the other leg's flow.
//
// State is kept per INVITE while it rings (a server transaction and a
// client transaction per branch, with RFC 3261's timers over UDP) and per
// dialog once answered: a dialog is a few hundred bytes, held until the
// BYE is answered. Requests inside a dialog are forwarded as a stateless
// proxy forwards them (§16.11), with a branch derived from the sender's,
// so each end's own retransmissions carry them over UDP.

// Call is an active call, for the admin API.
type Call struct {
	CallID        string
	State         string // "ringing" until answered, then "up"
	CallingDevice string
	CallingDN     string
	CalledDevice  string // the device that answered; "" while ringing
	CalledDN      string
	StartedAt     time.Time
	AnsweredAt    time.Time // zero while ringing
}

// Timers of RFC 3261 §17 the proxy uses.
const (
	timerB = 64 * timerT1 // an INVITE branch that never answers
	timerH = 64 * timerT1 // waiting for the ACK of a non-2xx answer
	// timerC bounds how long a call rings (§16.6 step 11: over 3 min).
	timerC = 181 * time.Second
	// acceptedLinger is how long an answered INVITE's key is remembered so
	// that a retransmission of it is not routed again (RFC 6026).
	acceptedLinger = 64 * timerT1
)

type proxy struct {
	s *Server

	mu       sync.Mutex
	servers  map[string]*serverTx // ringing INVITEs, by serverKey
	clients  map[string]*branch   // their branches, by the proxy's branch
	accepted map[string]time.Time // answered INVITEs' keys, until when
	dialogs  map[string]*dialog   // by dialogKey
}

func newProxy(s *Server) *proxy {
	return &proxy{s: s, servers: map[string]*serverTx{}, clients: map[string]*branch{},
		accepted: map[string]time.Time{}, dialogs: map[string]*dialog{}}
}

// serverTx is an INVITE being routed or ringing.
type serverTx struct {
	key    string
	in     *inbound
	caller flow
	start  time.Time
	// Of the INVITE, for the CANCELs and ACKs the proxy writes itself.
	from, to, callID string
	cseq             uint32
	fromTag          string

	route     provision.CallRoute
	routed    bool
	branches  []*branch
	cancelled bool
	answered  bool
	final     bool   // a final answer went to the caller
	best      []byte // the best final answer so far, as it goes to the caller
	bestCode  int
	last      []byte // the last answer sent, for a retransmitted INVITE
	timerC    *time.Timer
	timerG    *time.Timer // retransmits a non-2xx final over UDP until the ACK
	interval  time.Duration
}

// branch is one forked INVITE: a client transaction of the proxy.
type branch struct {
	id       string
	tx       *serverTx
	to       flow
	device   string
	ruri     string
	data     []byte // the INVITE as sent, for Timer A over UDP
	interval time.Duration
	timer    *time.Timer
	state    int  // branchCalling, branchProceeding, branchDone
	cancel   bool // to be cancelled
	// cancelSent: the CANCEL went, once a provisional answer allowed it.
	cancelSent bool
}

const (
	branchCalling = iota
	branchProceeding
	branchDone
)

// dialog is an answered call.
type dialog struct {
	callID              string
	callerTag           string
	calleeTag           string
	caller, callee      flow
	callerDev, callerDN string
	calleeDev, calleeDN string
	started, answered   time.Time
	byeAt               time.Time
	early               bool // a provisional answer's, until the 2xx
}

func dialogKey(callID, a, b string) string { return callID + "\x00" + a + "\x00" + b }

// lookup finds the dialog of a request or response by Call-ID and tags,
// whichever side sent it.
func (p *proxy) lookup(callID, fromTag, toTag string) *dialog {
	if d := p.dialogs[dialogKey(callID, fromTag, toTag)]; d != nil {
		return d
	}
	return p.dialogs[dialogKey(callID, toTag, fromTag)]
}

func (p *proxy) active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.servers) + len(p.dialogs)
}

// Calls lists the ringing and answered calls.
func (s *Server) Calls() []Call {
	p := s.calls
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Call, 0, len(p.servers)+len(p.dialogs))
	for _, tx := range p.servers {
		if tx.answered || tx.final {
			continue
		}
		out = append(out, Call{CallID: tx.callID, State: "ringing", CallingDevice: tx.route.CallingDevice,
			CallingDN: tx.route.CallingLine.DN, CalledDN: tx.route.Called.DN, StartedAt: tx.start})
	}
	for _, d := range p.dialogs {
		if d.early {
			continue // listed as its ringing INVITE
		}
		out = append(out, Call{CallID: d.callID, State: "up", CallingDevice: d.callerDev, CallingDN: d.callerDN,
			CalledDevice: d.calleeDev, CalledDN: d.calleeDN, StartedAt: d.started, AnsweredAt: d.answered})
	}
	return out
}

// invite handles an INVITE outside a dialog.
func (p *proxy) invite(in *inbound) {
	s := p.s
	req := in.req
	key := serverKey(req.Via())
	p.mu.Lock()
	if tx := p.servers[key]; tx != nil {
		last := tx.last
		p.mu.Unlock()
		if last != nil { // a retransmission: the answer it is owed again
			_ = s.sendFlow(tx.caller, last)
		}
		return
	}
	if _, ok := p.accepted[key]; ok {
		p.mu.Unlock()
		return // answered; the 2xx comes end to end
	}
	if len(p.servers)+len(p.dialogs) >= s.opts.MaxCalls {
		p.mu.Unlock()
		s.m.call(callFailed)
		s.reply(in, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"),
			s.warning(provision.CodeUnavailable, "too many calls"))
		return
	}
	if mf := req.MaxForwards(); mf != nil && *mf == 0 {
		p.mu.Unlock()
		s.m.call(callFailed)
		s.reply(in, 483, "Too Many Hops")
		return
	}
	if p.looped(req) {
		p.mu.Unlock()
		s.m.call(callFailed)
		s.reply(in, 482, "Loop Detected")
		return
	}
	local := localHost(in)
	for _, h := range sipheader.All(req, "Route") {
		if r, ok := h.(*sip.RouteHeader); ok && !s.isOurs(&r.Address, local) {
			// A preloaded route to somewhere else: the proxy relays calls
			// between its own phones only.
			p.mu.Unlock()
			s.m.call(callForbidden)
			s.reply(in, 403, "Forbidden", s.warning(provision.CodeInvalid, "a Route to another host is not relayed"))
			return
		}
	}
	tx := &serverTx{key: key, in: in, start: in.start, callID: req.CallID().Value(),
		from: req.From().Value(), to: req.To().Value(), cseq: req.CSeq().SeqNo, fromTag: tagOf(req.From().Params),
		caller: flow{tr: in.tr, src: in.src, ap: in.ap}}
	p.servers[key] = tx
	tx.timerC = time.AfterFunc(timerC, func() { p.ringTimeout(tx) })
	p.mu.Unlock()

	// 100 at once (RFC 3261 §16.2): the caller stops retransmitting while
	// the route is decided and the phones ring.
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	s.renderProvisional(buf, in, 100, "Trying")
	data := bytes.Clone(buf.Bytes())
	bufPool.Put(buf)
	p.mu.Lock()
	if tx.last == nil {
		tx.last = data
	}
	p.mu.Unlock()
	_ = s.sendFlow(tx.caller, data)
	// The store answers the routing question: off the reading goroutine.
	// Shutdown waits for s.wg before the store closes; it marks the server
	// closed before it takes s.mu, so the routing is either counted or
	// not started.
	in.gather = nil
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() { defer s.wg.Done(); p.route(tx) }()
}

// looped reports an INVITE that the proxy forwarded before and that came
// back unchanged (RFC 3261 §16.3 step 4); one that changed is a spiral,
// bounded by Max-Forwards.
func (p *proxy) looped(req *sip.Request) bool {
	vias := sipheader.All(req, "Via")
	if len(vias) < 2 {
		return false
	}
	h := ""
	for _, v := range vias {
		b := branchParam(v.(*sip.ViaHeader))
		if !strings.HasPrefix(b, branchInvite) {
			continue
		}
		if h == "" {
			h = loopHash(req)
		}
		if strings.HasSuffix(b, "."+h) {
			return true
		}
	}
	return false
}

func localHost(in *inbound) string {
	if in.req == nil {
		return ""
	}
	return strings.Trim(in.req.Recipient.Host, "[]")
}

// route asks the core where the call goes and forks it.
func (p *proxy) route(tx *serverTx) {
	s := p.s
	req := tx.in.req
	cr := provision.CallRequest{CallingDN: req.From().Address.User, Called: req.Recipient.User}
	if cr.Called == "" { // the Request-URI names the cluster, not a DN
		cr.Called = req.To().Address.User
	}
	if hs := contactHeaders(req); len(hs) > 0 {
		if c, err := parseContact(hs[0].Value()); err == nil {
			if id, err := identify(c, cr.CallingDN, ""); err == nil {
				cr.CallingDevice = id.name
			}
		}
	}
	if cr.CallingDevice == "" {
		if name, err := provision.CanonicalDeviceName(cr.CallingDN); err == nil {
			cr.CallingDevice = name
		}
	}
	srcIP := tx.caller.ap.Addr()
	registered := func(device string) bool {
		b, ok := s.table.binding(device)
		if !ok {
			return false
		}
		f, ok := flowOf(b)
		return ok && f.ap.Addr() == srcIP
	}
	rt, err := s.core.RouteCall(context.Background(), cr, registered)
	if err != nil {
		switch {
		case errors.Is(err, provision.ErrCallerNotRegistered):
			p.finish(tx, 403, "Forbidden", callForbidden, s.warning(provision.CodeOf(err), errorText(err)))
		case errors.Is(err, provision.ErrNoRoute), errors.Is(err, provision.ErrInvalid):
			p.finish(tx, 404, "Not Found", callNotFound, s.warning(provision.CodeOf(err), "no route to "+cr.Called))
		default:
			s.log.Warn("call not routed", "call_id", tx.callID, "err", err)
			p.finish(tx, 500, "Server Internal Error", callFailed)
		}
		return
	}
	var targets []*branch
	busySelf := false
	for _, dev := range rt.Devices {
		if dev == rt.CallingDevice {
			busySelf = true // a shared line does not ring the phone that calls it
			continue
		}
		b, ok := s.table.binding(dev)
		if !ok {
			continue
		}
		f, ok := flowOf(b)
		if !ok {
			continue
		}
		targets = append(targets, &branch{tx: tx, to: f, device: dev, ruri: b.Contact})
	}
	if len(targets) == 0 {
		if busySelf && len(rt.Devices) == 1 {
			p.finish(tx, 486, "Busy Here", callBusy)
			return
		}
		p.finish(tx, 480, "Temporarily Unavailable", callUnavailable,
			s.warning(provision.CodeNotRegistered, "no device of "+rt.Called.String()+" is registered"))
		return
	}
	hash := loopHash(req)
	mf := 70
	if h := req.MaxForwards(); h != nil {
		mf = int(*h) - 1
	}
	p.mu.Lock()
	tx.route, tx.routed = rt, true
	if tx.cancelled || tx.final {
		p.mu.Unlock()
		p.finish(tx, 487, "Request Terminated", callCancelled)
		return
	}
	for _, b := range targets {
		b.id = branchInvite + randHex(6) + "." + hash
		b.state = branchCalling
		b.interval = timerT1
		b.timer = time.AfterFunc(p.firstBranchTimer(b), func() { p.branchTimer(b) })
		tx.branches = append(tx.branches, b)
		p.clients[b.id] = b
	}
	p.mu.Unlock()

	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	local := localHost(tx.in)
	for _, b := range targets {
		rr := []string{s.recordRoute(b.to.tr)}
		if b.to.tr != tx.caller.tr {
			rr = append(rr, s.recordRoute(tx.caller.tr))
		}
		buf.Reset()
		s.appendRequest(buf, req, forwarded{
			ruri: b.ruri, via: "SIP/2.0/" + viaTransport(b.to.tr) + " " + s.hostPort(b.to.tr) + ";branch=" + b.id + ";rport",
			rr: rr, src: tx.caller.ap, local: local, maxFwd: mf,
		})
		data := bytes.Clone(buf.Bytes())
		if b.to.tr == UDP {
			p.mu.Lock()
			b.data = data
			p.mu.Unlock()
		}
		if err := s.sendFlow(b.to, data); err != nil {
			s.log.Debug("call branch not sent", "call_id", tx.callID, "device", b.device, "err", err)
			p.branchResult(b, 503, nil)
		}
	}
}

func (p *proxy) firstBranchTimer(b *branch) time.Duration {
	if b.to.tr == UDP {
		return timerT1
	}
	return timerB
}

// branchTimer is Timer A (retransmit over UDP) and Timer B (give up).
func (p *proxy) branchTimer(b *branch) {
	p.mu.Lock()
	if b.state == branchDone {
		p.mu.Unlock()
		return
	}
	elapsed := time.Since(b.tx.start)
	if b.state == branchCalling && b.to.tr == UDP && elapsed < timerB && b.data != nil {
		b.interval *= 2 // Timer A doubles without the T2 cap for INVITE
		b.timer.Reset(min(b.interval, timerB-elapsed))
		data := b.data
		p.mu.Unlock()
		_ = p.s.sendFlow(b.to, data)
		return
	}
	if b.state == branchProceeding {
		// Ringing: Timer C of the transaction bounds it from here.
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.branchResult(b, 408, nil)
}

// ringTimeout is Timer C: the call has rung too long; every branch is
// cancelled and the caller gets 408.
func (p *proxy) ringTimeout(tx *serverTx) {
	p.cancelBranches(tx, nil)
	p.finish(tx, 408, "Request Timeout", callNoAnswer)
}

// onResponse takes a response to one of the proxy's requests; false when
// it is not the proxy's.
func (p *proxy) onResponse(res *sip.Response) bool {
	via := res.Via()
	br := branchParam(via)
	switch {
	case strings.HasPrefix(br, branchInvite):
		p.inviteResponse(res, br)
		return true
	case strings.HasPrefix(br, branchDialog):
		p.dialogResponse(res)
		return true
	}
	return false
}

func (p *proxy) inviteResponse(res *sip.Response, id string) {
	s := p.s
	cseq := res.CSeq()
	if cseq == nil {
		return
	}
	p.mu.Lock()
	b := p.clients[id]
	if cseq.MethodName == sip.CANCEL {
		p.mu.Unlock()
		return // the 487 of the INVITE is what matters
	}
	if b == nil {
		p.mu.Unlock()
		if res.IsSuccess() {
			p.stray2xx(res) // a retransmitted 2xx, or a second phone answering
		}
		return
	}
	tx := b.tx
	code := res.StatusCode
	switch {
	case code < 200:
		if b.state == branchCalling {
			b.state = branchProceeding
		}
		if toTag := tagOf(res.To().Params); code > 100 && toTag != "" && !tx.answered && !tx.final {
			// An early dialog (RFC 3261 §12.1): a PRACK (RFC 3262) or an
			// UPDATE inside it goes on before the call is answered.
			k := dialogKey(tx.callID, tx.fromTag, toTag)
			if p.dialogs[k] == nil && len(p.dialogs) < s.opts.MaxCalls {
				p.dialogs[k] = p.newDialog(tx, b, toTag, true)
			}
		}
		cancel := b.cancel && !b.cancelSent
		p.mu.Unlock()
		if cancel {
			p.sendCancel(b)
		}
		if code == 100 {
			return
		}
		buf := bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		appendResponse(buf, res)
		data := bytes.Clone(buf.Bytes())
		bufPool.Put(buf)
		p.mu.Lock()
		skip := tx.final || tx.answered
		if !skip {
			tx.last = data
		}
		p.mu.Unlock()
		if !skip {
			_ = s.sendFlow(tx.caller, data)
		}
		return
	case code < 300:
		b.state = branchDone
		b.timer.Stop()
		delete(p.clients, id)
		first := !tx.answered && !tx.final
		tx.answered = true
		toTag := tagOf(res.To().Params)
		k := dialogKey(tx.callID, tx.fromTag, toTag)
		if d := p.dialogs[k]; d != nil {
			d.early, d.answered = false, time.Now() // the early dialog is confirmed
		} else if len(p.dialogs) < s.opts.MaxCalls {
			p.dialogs[k] = p.newDialog(tx, b, toTag, false)
		}
		if first {
			p.closeTx(tx)
			p.accepted[tx.key] = time.Now().Add(acceptedLinger)
		}
		p.mu.Unlock()
		if first {
			s.m.call(callAnswered)
			s.m.callSetup(time.Since(tx.start).Seconds())
			p.cancelBranches(tx, b)
		}
		buf := bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		appendResponse(buf, res)
		_ = s.sendFlow(tx.caller, buf.Bytes())
		bufPool.Put(buf)
		return
	}
	if k := dialogKey(tx.callID, tx.fromTag, tagOf(res.To().Params)); p.dialogs[k] != nil && p.dialogs[k].early {
		delete(p.dialogs, k)
	}
	p.mu.Unlock()
	p.ackBranch(b, res)
	p.branchResult(b, code, res)
}

// newDialog is the dialog a branch's answer creates; p.mu is held.
func (p *proxy) newDialog(tx *serverTx, b *branch, toTag string, early bool) *dialog {
	// Cloned: the parser's strings share the whole message's text, which
	// an answered call would otherwise hold for as long as it lasts.
	d := &dialog{callID: strings.Clone(tx.callID), callerTag: strings.Clone(tx.fromTag), calleeTag: strings.Clone(toTag), early: early,
		caller: tx.caller, callee: b.to, callerDev: tx.route.CallingDevice, callerDN: tx.route.CallingLine.DN,
		calleeDev: b.device, calleeDN: tx.route.Called.DN, started: tx.start}
	if !early {
		d.answered = time.Now()
	}
	return d
}

// stray2xx forwards a 2xx whose branch is gone to the caller of its
// dialog: the callee retransmits its 2xx until the ACK arrives (over UDP),
// and a second phone of a shared line may answer before its CANCEL lands
// (the caller then ACKs and hangs up that one).
func (p *proxy) stray2xx(res *sip.Response) {
	if res.CSeq() == nil || res.CSeq().MethodName != sip.INVITE {
		return
	}
	callID, fromTag, toTag := res.CallID().Value(), tagOf(res.From().Params), tagOf(res.To().Params)
	p.mu.Lock()
	d := p.lookup(callID, fromTag, toTag)
	var to flow
	if d != nil {
		to = d.caller
	} else {
		// A late answer of a cancelled branch: the caller's flow from
		// any dialog of the same call.
		for _, cand := range p.dialogs {
			if cand.callID == callID && cand.callerTag == fromTag {
				d, to = cand, cand.caller
				break
			}
		}
	}
	p.mu.Unlock()
	if d == nil {
		return
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	appendResponse(buf, res)
	_ = p.s.sendFlow(to, buf.Bytes())
	bufPool.Put(buf)
}

// ackBranch sends the hop-by-hop ACK of a non-2xx final (RFC 3261 §17.1.1.3).
func (p *proxy) ackBranch(b *branch, res *sip.Response) {
	_ = p.s.sendFlow(b.to, p.hopRequest(b, sip.ACK, res.To().Value()))
}

// hopRequest is an ACK or CANCEL of a branch's INVITE, which the proxy
// writes itself: the INVITE's Request-URI, branch, From, Call-ID and CSeq
// number (RFC 3261 §9.1, §17.1.1.3), and to as To.
func (p *proxy) hopRequest(b *branch, method sip.RequestMethod, to string) []byte {
	s, tx := p.s, b.tx
	var m bytes.Buffer
	m.Grow(512)
	m.WriteString(string(method))
	m.WriteByte(' ')
	m.WriteString(b.ruri)
	m.WriteString(" SIP/2.0\r\nVia: SIP/2.0/")
	m.WriteString(viaTransport(b.to.tr))
	m.WriteByte(' ')
	m.WriteString(s.hostPort(b.to.tr))
	m.WriteString(";branch=")
	m.WriteString(b.id)
	m.WriteString("\r\nMax-Forwards: 70\r\nFrom: ")
	m.WriteString(tx.from)
	m.WriteString("\r\nTo: ")
	m.WriteString(to)
	m.WriteString("\r\nCall-ID: ")
	m.WriteString(tx.callID)
	m.WriteString("\r\nCSeq: ")
	m.WriteString(strconv.FormatUint(uint64(tx.cseq), 10))
	m.WriteByte(' ')
	m.WriteString(string(method))
	m.WriteString("\r\nContent-Length: 0\r\n\r\n")
	return m.Bytes()
}

// cancelBranches sends CANCEL to every branch still ringing but keep.
func (p *proxy) cancelBranches(tx *serverTx, keep *branch) {
	p.mu.Lock()
	var now []*branch
	for _, b := range tx.branches {
		if b == keep || b.state == branchDone || b.cancel {
			continue
		}
		b.cancel = true
		// A CANCEL goes only after a provisional answer (RFC 3261 §9.1):
		// before one it could overtake its INVITE. inviteResponse sends
		// it when the first arrives; Timer B ends a branch that sends none.
		if b.state == branchProceeding {
			now = append(now, b)
		}
	}
	p.mu.Unlock()
	for _, b := range now {
		p.sendCancel(b)
	}
}

// sendCancel sends a branch its CANCEL; one that never answers it with a
// final is given up after Timer B.
func (p *proxy) sendCancel(b *branch) {
	p.mu.Lock()
	if b.cancelSent || b.state == branchDone {
		p.mu.Unlock()
		return
	}
	b.cancelSent = true
	b.timer.Reset(timerB)
	p.mu.Unlock()
	_ = p.s.sendFlow(b.to, p.hopRequest(b, sip.CANCEL, b.tx.to))
}

// branchResult records a branch's final non-2xx answer (res nil: one the
// proxy stands in for, a timeout or a failed write) and answers the caller
// once every branch has one.
func (p *proxy) branchResult(b *branch, code int, res *sip.Response) {
	p.mu.Lock()
	if b.state == branchDone && p.clients[b.id] == nil {
		p.mu.Unlock()
		return
	}
	b.state = branchDone
	if b.timer != nil {
		b.timer.Stop()
	}
	delete(p.clients, b.id)
	tx := b.tx
	if tx.answered || tx.final {
		p.mu.Unlock()
		return
	}
	if res != nil && betterFinal(code, tx.bestCode) {
		buf := bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		appendResponse(buf, res)
		tx.best, tx.bestCode = bytes.Clone(buf.Bytes()), code
		bufPool.Put(buf)
	} else if res == nil && tx.bestCode == 0 {
		tx.bestCode = code
	}
	pending := 0
	for _, o := range tx.branches {
		if o.state != branchDone {
			pending++
		}
	}
	six := code >= 600
	p.mu.Unlock()
	if six {
		p.cancelBranches(tx, nil) // a 6xx ends the search (§16.7 step 5)
	} else if pending > 0 {
		return
	}
	p.mu.Lock()
	best, bestCode := tx.best, tx.bestCode
	p.mu.Unlock()
	outcome := outcomeOf(bestCode, tx)
	if best == nil {
		reason := "Request Timeout"
		if bestCode == 503 {
			reason = "Service Unavailable"
		}
		p.finish(tx, bestCode, reason, outcome)
		return
	}
	p.finishWith(tx, best, outcome)
}

// betterFinal orders final answers as RFC 3261 §16.7 step 6 chooses:
// a 6xx, then the lowest class, 4xx before 5xx; within a class the more
// telling busy (486, 600) before the rest.
func betterFinal(code, best int) bool {
	if best == 0 {
		return true
	}
	rank := func(c int) int {
		switch {
		case c >= 600:
			return 0
		case c == 486:
			return 1
		case c >= 300 && c < 400:
			return 2
		case c == 487:
			return 3
		case c >= 400 && c < 500 && c != 408:
			return 4
		case c >= 500:
			return 5
		}
		return 6 // 408: no branch answered
	}
	return rank(code) < rank(best)
}

func outcomeOf(code int, tx *serverTx) string {
	switch {
	case code == 487 || tx.cancelled:
		return callCancelled
	case code == 486 || code == 600:
		return callBusy
	case code == 408 || code == 480:
		return callNoAnswer
	case code == 404 || code == 604:
		return callNotFound
	case code == 403 || code == 603:
		return callDeclined
	}
	return callFailed
}

// finish answers the caller with a final the proxy writes itself.
func (p *proxy) finish(tx *serverTx, code int, reason, outcome string, hdrs ...sip.Header) {
	p.mu.Lock()
	in := tx.in
	done := tx.final || tx.answered || in == nil
	p.mu.Unlock()
	if done {
		return
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	p.s.render(buf, in, code, reason, hdrs...)
	data := bytes.Clone(buf.Bytes())
	bufPool.Put(buf)
	p.finishWith(tx, data, outcome)
}

// finishWith sends the final non-2xx answer data to the caller once, and
// keeps it for retransmission until the ACK (Timer G over UDP, Timer H).
func (p *proxy) finishWith(tx *serverTx, data []byte, outcome string) {
	p.mu.Lock()
	if tx.final || tx.answered {
		p.mu.Unlock()
		return
	}
	tx.final = true
	tx.last = data
	tx.timerC.Stop()
	if tx.caller.tr == UDP {
		tx.interval = timerT1
		tx.timerG = time.AfterFunc(timerT1, func() { p.retransmitFinal(tx) })
	} else {
		// Reliable: no retransmission; the ACK is awaited only to be absorbed.
		tx.timerG = time.AfterFunc(timerH, func() { p.dropTx(tx) })
	}
	p.mu.Unlock()
	p.s.m.call(outcome)
	_ = p.s.sendFlow(tx.caller, data)
}

func (p *proxy) retransmitFinal(tx *serverTx) {
	p.mu.Lock()
	if p.servers[tx.key] != tx {
		p.mu.Unlock()
		return
	}
	if time.Since(tx.start) > timerC+timerH {
		p.closeTx(tx)
		p.mu.Unlock()
		return
	}
	tx.interval = min(2*tx.interval, timerT2)
	tx.timerG.Reset(tx.interval)
	data := tx.last
	p.mu.Unlock()
	_ = p.s.sendFlow(tx.caller, data)
}

func (p *proxy) dropTx(tx *serverTx) {
	p.mu.Lock()
	p.closeTx(tx)
	p.mu.Unlock()
}

// closeTx forgets a server transaction; p.mu is held.
func (p *proxy) closeTx(tx *serverTx) {
	if p.servers[tx.key] == tx {
		delete(p.servers, tx.key)
	}
	tx.timerC.Stop()
	if tx.timerG != nil {
		tx.timerG.Stop()
	}
	tx.in = nil
	tx.best, tx.last = nil, nil
}

// cancel handles a CANCEL: 200 at once, then CANCEL to every branch.
func (p *proxy) cancel(in *inbound) {
	s := p.s
	key := serverKey(in.req.Via())
	p.mu.Lock()
	tx := p.servers[key]
	if tx == nil || tx.final || tx.answered {
		p.mu.Unlock()
		if tx != nil {
			s.reply(in, 200, "OK") // too late: the final answer stands
			return
		}
		s.reply(in, 481, "Call/Transaction Does Not Exist")
		return
	}
	tx.cancelled = true
	routed := tx.routed
	p.mu.Unlock()
	s.reply(in, 200, "OK")
	if routed {
		p.cancelBranches(tx, nil)
	}
	// Before the route is decided, route sees cancelled and answers 487.
}

// ack handles an ACK: of a non-2xx final the proxy sent (it ends the
// transaction), or of a 2xx inside the dialog (it goes on).
func (p *proxy) ack(in *inbound) {
	key := serverKey(in.req.Via())
	p.mu.Lock()
	if tx := p.servers[key]; tx != nil && tx.final {
		p.closeTx(tx)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	if tagOf(in.req.To().Params) != "" {
		p.inDialog(in)
	}
}

// inDialog forwards a request inside an answered call to the other leg.
func (p *proxy) inDialog(in *inbound) {
	s := p.s
	req := in.req
	isAck := req.IsAck()
	callID, fromTag, toTag := req.CallID().Value(), tagOf(req.From().Params), tagOf(req.To().Params)
	p.mu.Lock()
	d := p.lookup(callID, fromTag, toTag)
	if d == nil {
		p.mu.Unlock()
		if !isAck {
			s.reply(in, 481, "Call/Transaction Does Not Exist")
		}
		return
	}
	from, to := d.caller, d.callee
	if fromTag != d.callerTag {
		from, to = d.callee, d.caller
	}
	if from.ap.Addr() != in.ap.Addr() {
		// Only the two phones of the call may speak in it.
		p.mu.Unlock()
		if !isAck {
			s.reply(in, 403, "Forbidden", s.warning(provision.CodeInvalid, "not a party of this call"))
		}
		return
	}
	if req.Method == sip.BYE && d.byeAt.IsZero() {
		d.byeAt = time.Now()
	}
	p.mu.Unlock()
	if mf := req.MaxForwards(); mf != nil && *mf == 0 {
		if !isAck {
			s.reply(in, 483, "Too Many Hops")
		}
		return
	}
	mf := 70
	if h := req.MaxForwards(); h != nil {
		mf = int(*h) - 1
	}
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	buf.Reset()
	s.appendRequest(buf, req, forwarded{
		via: "SIP/2.0/" + viaTransport(to.tr) + " " + s.hostPort(to.tr) + ";branch=" + dialogBranch(req.Via(), req.Method) + ";rport",
		// Only the advertised address names the proxy here: a dialog's
		// Request-URI is the other phone's Contact, not an address of ours.
		src: in.ap, maxFwd: mf,
	})
	if err := s.sendFlow(to, buf.Bytes()); err != nil && !isAck {
		s.log.Debug("in-dialog request not sent", "call_id", callID, "method", string(req.Method), "err", err)
		s.reply(in, 503, "Service Unavailable", s.warning(provision.CodeUnavailable, "the other party is unreachable"))
	}
}

// dialogResponse relays a response to a request forwarded inside a dialog
// back to the leg that sent it.
func (p *proxy) dialogResponse(res *sip.Response) {
	callID, fromTag, toTag := res.CallID().Value(), tagOf(res.From().Params), tagOf(res.To().Params)
	p.mu.Lock()
	d := p.lookup(callID, fromTag, toTag)
	if d == nil {
		p.mu.Unlock()
		return
	}
	to := d.caller
	if fromTag != d.callerTag {
		to = d.callee
	}
	if cs := res.CSeq(); cs != nil && cs.MethodName == sip.BYE && res.StatusCode >= 200 {
		delete(p.dialogs, dialogKey(d.callID, d.callerTag, d.calleeTag))
	}
	p.mu.Unlock()
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	appendResponse(buf, res)
	_ = p.s.sendFlow(to, buf.Bytes())
	bufPool.Put(buf)
}

// sweep forgets answered INVITEs past their linger, dialogs whose BYE
// was never answered, and dialogs older than MaxCallDuration.
func (p *proxy) sweep(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, until := range p.accepted {
		if now.After(until) {
			delete(p.accepted, k)
		}
	}
	for k, d := range p.dialogs {
		switch {
		case d.early:
			// The INVITE ended without a final from this branch (cancelled
			// on another's answer, timed out): the early dialog goes with it.
			if now.Sub(d.started) > timerC+timerH {
				delete(p.dialogs, k)
			}
		case !d.byeAt.IsZero() && now.Sub(d.byeAt) > timerH, now.Sub(d.answered) > p.s.opts.MaxCallDuration:
			delete(p.dialogs, k)
		}
	}
}
