package registrar

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"selfprov/internal/clip"
	"selfprov/internal/sipheader"
	"selfprov/provision"
)

// inbound is a request with where it came from.
type inbound struct {
	req   *sip.Request
	tr    Transport
	src   string         // ip:port
	ap    netip.AddrPort // src, parsed
	pc    net.PacketConn // the UDP socket it arrived on; nil for streams
	start time.Time
	// gather, while the request is handled on its reader, takes its answer
	// to be sent with the rest of the batch of datagrams it came in.
	gather *udpGather
}

// job is a REGISTER that needs the store: an unknown device, or a binding
// whose device has not been checked for a while.
type job struct {
	in      *inbound
	c       contact
	id      identity
	b       Binding
	granted time.Duration
	key     string // of a UDP REGISTER in s.inflight
	created bool   // the store's answer
	err     error
}

func (s *Server) handle(msg sip.Message, pc net.PacketConn, ap netip.AddrPort, gather *udpGather) {
	switch m := msg.(type) {
	case *sip.Response:
		if m.Via() == nil || m.CSeq() == nil || m.CallID() == nil || m.From() == nil || m.To() == nil {
			s.m.drop(dropMalformed)
			return
		}
		if !s.calls.onResponse(m) {
			s.notifier.onResponse(m)
		}
	case *sip.Request:
		in := &inbound{req: m, tr: transportOf(m.Transport()), src: m.Source(), ap: ap, pc: pc, start: time.Now(), gather: gather}
		if !in.ap.IsValid() {
			if a, err := netip.ParseAddrPort(in.src); err == nil {
				in.ap = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
			}
		}
		s.onRequest(in)
	}
}

func (s *Server) onRequest(in *inbound) {
	req := in.req
	if req.Via() == nil {
		// Without a Via there is nowhere RFC 3261 lets an answer go.
		s.m.drop(dropNoVia)
		return
	}
	if bad, ok := validate(req); !ok {
		if !req.IsAck() { // an ACK is never answered
			s.refuseInvalid(in, bad)
		}
		return
	}
	if req.IsAck() {
		s.calls.ack(in)
		return
	}
	if ok, report := s.limiter.check(in.ap.Addr(), s.clock.Now()); !ok {
		if report > 0 {
			// At most one line per source every reportEvery: a flood must
			// not flood the log too.
			s.log.Info("requests rate limited", "source", in.ap.Addr().String(), "method", req.Method.String(),
				"refused", report, "limit_per_second", s.opts.RatePerSource, "code", "RATE_LIMITED")
		}
		s.reply(in, 503, "Service Unavailable", sip.NewHeader("Retry-After", "1"),
			s.warning("RATE_LIMITED", "too many requests from this address"))
		return
	}
	inDialog := tagOf(req.To().Params) != ""
	switch req.Method {
	case sip.REGISTER:
		s.register(in)
	case sip.INVITE:
		if inDialog {
			s.calls.inDialog(in)
			return
		}
		s.calls.invite(in)
	case sip.CANCEL:
		s.calls.cancel(in)
	case sip.OPTIONS:
		if inDialog {
			s.calls.inDialog(in)
			return
		}
		s.reply(in, 200, "OK", allowHeader(), sip.NewHeader("Accept", "application/sdp"))
	case sip.BYE, sip.UPDATE, sip.INFO, sip.PRACK:
		// Only inside a dialog; one the proxy never saw is 481.
		if inDialog {
			s.calls.inDialog(in)
			return
		}
		s.reply(in, 481, "Call/Transaction Does Not Exist")
	default:
		if inDialog && knownMethods[req.Method] {
			s.calls.inDialog(in) // REFER, NOTIFY, MESSAGE inside a call
			return
		}
		if !knownMethods[req.Method] {
			s.reply(in, 501, "Not Implemented", allowHeader())
			return
		}
		s.reply(in, 405, "Method Not Allowed", allowHeader())
	}
}

// refuseInvalid answers a request validate refused.
func (s *Server) refuseInvalid(in *inbound, bad invalid) {
	if bad.text == "" {
		s.reply(in, bad.status, bad.reason)
		return
	}
	s.reply(in, bad.status, bad.reason, s.warning(provision.CodeInvalid, bad.text))
}

func allowHeader() sip.Header {
	return sip.NewHeader("Allow", "REGISTER, OPTIONS, INVITE, ACK, CANCEL, BYE, UPDATE, INFO, PRACK, REFER, NOTIFY, MESSAGE")
}

// register handles a REGISTER: everything that needs no store runs here,
// on the reading goroutine; the rest is queued for a worker.
func (s *Server) register(in *inbound) {
	req := in.req
	expHeader := -1
	if h := sipheader.Get(req, "Expires"); h != nil {
		n, err := parseExpires(h.Value())
		if err != nil {
			s.reply(in, 400, "Bad Expires Header", s.warning("INVALID_ARGUMENT", err.Error()))
			return
		}
		expHeader = n
	}
	hs := contactHeaders(req)
	if len(hs) == 0 {
		// A query of the bindings; Cisco phones do not send it. Nothing to
		// list for an unidentified AOR.
		s.reply(in, 200, "OK")
		return
	}
	c, err := parseContact(hs[0].Value())
	if err != nil {
		s.reply(in, 400, "Bad Contact Header", s.warning("INVALID_ARGUMENT", err.Error()))
		return
	}
	exp := s.opts.DefaultExpires
	if v, ok := c.param(paramExpires); ok {
		n, err := parseExpires(v)
		if err != nil {
			s.reply(in, 400, "Bad Contact Expires", s.warning("INVALID_ARGUMENT", err.Error()))
			return
		}
		exp = n
	} else if expHeader >= 0 {
		exp = expHeader
	}
	ua := ""
	if h := sipheader.Get(req, "User-Agent"); h != nil {
		ua = h.Value()
	}
	to := req.To().Address.User
	if c.star {
		// "Contact: *" removes every binding of the AOR; it needs Expires 0
		// (RFC 3261 §10.2.2).
		if expHeader != 0 {
			s.reply(in, 400, "Wildcard Contact Needs Expires 0")
			return
		}
		s.unregisterAOR(to)
		s.reply(in, 200, "OK")
		return
	}
	id, err := identify(c, to, ua)
	if err != nil {
		s.reply(in, 400, "No Device Identity", s.warning("INVALID_ARGUMENT", err.Error()))
		return
	}
	if exp == 0 {
		s.table.remove(id.name)
		s.reply(in, 200, "OK")
		return
	}
	if exp < s.opts.MinExpires {
		s.reply(in, 423, "Interval Too Brief", sip.NewHeader("Min-Expires", strconv.Itoa(s.opts.MinExpires)))
		return
	}
	granted := time.Duration(min(exp, s.opts.DefaultExpires)) * time.Second
	b := Binding{
		DeviceName: id.name, Contact: c.uri, AOR: to, Source: in.src, Transport: in.tr,
		CallID: req.CallID().Value(), UserAgent: ua,
	}
	now := s.clock.Now()
	e, bound := s.table.get(id.name)
	if bound && now.UnixNano()-e.verified < int64(s.opts.VerifyAfter) {
		s.table.put(id.name, b, now, granted, false)
		s.reply200(in, c, granted, false)
		return
	}
	var key string
	if in.tr == UDP {
		// A retransmission of a REGISTER still waiting for the store is
		// dropped: the original gets the answer, and the store is not asked
		// twice. No 100 Trying: RFC 4320 §4.1 forbids one to a non-INVITE
		// over UDP before the client's Timer E has reached T2, by when
		// the answer has long gone.
		key = in.src + "|" + b.CallID + "|" + strconv.FormatUint(uint64(req.CSeq().SeqNo), 10)
		if _, dup := s.inflight.LoadOrStore(key, struct{}{}); dup {
			s.m.drop(dropRetransmission)
			return
		}
	}
	if s.waiting.Add(1) > int64(s.opts.QueueSize) {
		s.waiting.Add(-1)
		if key != "" {
			s.inflight.Delete(key)
		}
		s.reply(in, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"),
			s.warning(provision.CodeUnavailable, "registrar is overloaded"))
		return
	}
	in.gather = nil // answered later, by the responder
	j := &job{in: in, c: c, id: id, b: b, granted: granted, key: key}
	// AutoRegister returns a device that exists, even with auto-registration
	// off or the range used up, so one call serves known and new phones. No
	// deadline: with a cancellable context database/sql and the SQLite
	// driver start a watcher goroutine per statement; the store's busy
	// timeout bounds the wait instead.
	reg := provision.Registration{Name: id.name, Model: id.model, Product: id.product}
	// A bound device exists: only a REGISTER that may create one spends
	// a token of its source, given back if nothing was created.
	token := false
	if !bound {
		token = s.newDevs.take(in.ap.Addr(), now)
		reg.NoCreate = !token
	}
	s.core.AutoRegisterAsync(context.Background(), reg, func(_ provision.Device, created bool, err error) {
		if token && !created {
			s.newDevs.giveBack(in.ap.Addr(), s.clock.Now())
		}
		j.created, j.err = created, err
		s.finished(j)
	})
}

func contactHeaders(req *sip.Request) []sip.Header {
	hs := sipheader.All(req, "Contact")
	if len(hs) == 0 {
		hs = sipheader.All(req, "m") // compact form
	}
	return hs
}

// parseExpires reads a delta-seconds value (RFC 3261 §25.1); values beyond
// 2^32-1 are capped as the RFC says.
func parseExpires(v string) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 20 {
		return 0, errors.New("expires must be a number of seconds")
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, errors.New("expires " + strconv.Quote(clip.String(v, 40)) + " is not a number of seconds")
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > 1<<32-1 {
		n = 1<<32 - 1
	}
	return int(n), nil
}
