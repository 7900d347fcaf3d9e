package registrar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"golang.org/x/net/ipv4"

	"selfprov/internal/clip"
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
	version string // the device's ConfigVersion, for the restart NOTIFY
}

func (s *Server) handle(msg sip.Message, pc net.PacketConn, ap netip.AddrPort, gather *udpGather) {
	switch m := msg.(type) {
	case *sip.Response:
		s.notifier.onResponse(m)
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
	if req.IsAck() {
		return // stateless: nothing to match
	}
	if bad, ok := validate(req); !ok {
		s.refuseInvalid(in, bad)
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
	switch req.Method {
	case sip.REGISTER:
		s.register(in)
	case sip.OPTIONS:
		s.reply(in, 200, "OK", allowHeader(), sip.NewHeader("Accept", "application/sdp"))
	default:
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

func allowHeader() sip.Header { return sip.NewHeader("Allow", "REGISTER, OPTIONS, ACK") }

// register handles a REGISTER: everything that needs no store runs here,
// on the reading goroutine; the rest is queued for a worker.
func (s *Server) register(in *inbound) {
	req := in.req
	expHeader := -1
	if h := req.GetHeader("Expires"); h != nil {
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
	if h := req.GetHeader("User-Agent"); h != nil {
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
	s.core.AutoRegisterAsync(context.Background(), reg, func(dev provision.Device, created bool, err error) {
		if token && !created {
			s.newDevs.giveBack(in.ap.Addr(), s.clock.Now())
		}
		j.created, j.err, j.version = created, err, dev.ConfigVersion
		s.finished(j)
	})
}

// finished hands a REGISTER the store has answered to the responder. It
// runs on the store's batch goroutine, so it only queues.
func (s *Server) finished(j *job) {
	s.doneMu.Lock()
	s.doneQ = append(s.doneQ, j)
	s.doneMu.Unlock()
	select {
	case s.doneWake <- struct{}{}:
	default: // already woken; it takes the whole queue
	}
}

// respond answers the REGISTERs the store has answered, a batch at a time:
// one goroutine wakes for a batch of auto-registrations, not one each, and
// the answers (and restart NOTIFYs) for one stream connection go out in
// one write.
func (s *Server) respond() {
	var batch []*job
	var dgrams udpGather
	for {
		select {
		case <-s.shutdown:
			return
		case <-s.doneWake:
		}
		s.doneMu.Lock()
		batch, s.doneQ = s.doneQ, batch[:0]
		s.doneMu.Unlock()
		s.answer(batch, &dgrams)
		clear(batch)
	}
}

// sentNotify is a restart NOTIFY sent with a batch's answers.
type sentNotify struct {
	o      outgoing
	branch string
}

// streamOut is what one stream connection gets from a batch.
type streamOut struct {
	tr      Transport
	src     string
	buf     *bytes.Buffer
	notifys []sentNotify
}

// batchOut gathers a batch's answers: a buffer per stream connection and
// the UDP datagrams, sent together with sendmmsg.
type batchOut struct {
	streams  []*streamOut
	dgrams   *udpGather
	dnotifys []datagramNotify
}

// datagramNotify is a restart NOTIFY among a batch's datagrams.
type datagramNotify struct {
	sentNotify
	i int // in dgrams
}

func (b *batchOut) stream(tr Transport, src string) *streamOut {
	for _, o := range b.streams {
		if o.tr == tr && o.src == src {
			return o
		}
	}
	o := &streamOut{tr: tr, src: src, buf: bufPool.Get().(*bytes.Buffer)}
	o.buf.Reset()
	b.streams = append(b.streams, o)
	return o
}

// answer sends the answers of one batch. A created device is restarted so
// it fetches its new configuration. dgrams is the responder's, empty
// between batches.
func (s *Server) answer(batch []*job, dgrams *udpGather) {
	out := batchOut{dgrams: dgrams}
	now := s.clock.Now()
	for _, j := range batch {
		s.waiting.Add(-1)
		s.answerOne(j, now, &out)
		if j.key != "" {
			s.inflight.Delete(j.key)
		}
	}
	for _, o := range out.streams {
		err := s.writeStream(o.tr, o.src, o.buf.Bytes(), responderWriteTimeout, false)
		if err != nil {
			s.log.Debug("sip answer not sent", "err", err)
		}
		for _, n := range o.notifys {
			s.notifier.written(n.o, n.branch, err)
		}
		bufPool.Put(o.buf)
	}
	errs := s.sendGathered(dgrams)
	for _, n := range out.dnotifys {
		s.notifier.written(n.o, n.branch, errs[n.i])
	}
}

func (s *Server) answerOne(j *job, now time.Time, out *batchOut) {
	if j.err != nil {
		s.replyError(j.in, j.id, j.err)
		return
	}
	s.table.put(j.id.name, j.b, now, j.granted, true)
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		// Refusals are logged with their code in replyError; a
		// registration the store confirmed logs OK (refreshes in between
		// do not).
		s.log.Debug("register", "device", j.id.name, "aor", j.b.AOR, "transport", j.in.tr.String(), "created", j.created, "code", "OK")
	}
	var restart outgoing
	if j.created {
		s.m.autoregs.Inc()
		restart = outgoing{name: j.id.name, action: provision.ActionRestart, version: j.version}
	}
	if j.in.tr == UDP {
		s.render200(&out.dgrams.buf, j.in, j.c, j.granted, true)
		out.dgrams.end(j.in.ap)
		if !j.created {
			return
		}
		if branch, p := s.notifier.prepare(restart, nil); p != nil {
			i := out.dgrams.add(p.data, j.in.ap)
			out.dnotifys = append(out.dnotifys, datagramNotify{sentNotify{restart, branch}, i})
		}
		return
	}
	o := out.stream(j.in.tr, j.in.src)
	s.render200(o.buf, j.in, j.c, j.granted, true)
	if !j.created {
		return
	}
	// The NOTIFY goes in the same write as the 200, right after it.
	if branch, p := s.notifier.prepare(restart, o.buf); p != nil {
		o.notifys = append(o.notifys, sentNotify{restart, branch})
	}
}

// sendDatagrams sends ms from pc in as few system calls as the kernel
// allows (sendmmsg), and returns each one's error. A datagram the batch
// call refuses is sent alone, so that it fails only itself.
func (s *Server) sendDatagrams(pc net.PacketConn, ms []ipv4.Message) []error {
	errs := make([]error, len(ms))
	for i := 0; i < len(ms); {
		n := 0
		if s.udpBatch != nil { // pc is s.udpConn
			n, _ = s.udpBatch.WriteBatch(ms[i:], 0)
		}
		if n <= 0 {
			errs[i] = sendUDP(pc, ms[i].Buffers[0], ms[i].Addr.(*net.UDPAddr).AddrPort())
			n = 1
		}
		i += n
	}
	return errs
}

// outcome is the SIP answer to a provisioning outcome code.
type outcome struct {
	status     int
	reason     string
	retryAfter int // seconds; 0 for none
}

// outcomes maps provisioning outcome codes to SIP answers; this is the only
// such table. Codes not in it are answered 500.
var outcomes = map[string]outcome{
	provision.CodeAutoRegDisabled:  {403, "Forbidden", 0},
	provision.CodeAutoRegExhausted: {503, "Service Unavailable", 300},
	provision.CodeInvalid:          {400, "Bad Request", 0},
	provision.CodeUnavailable:      {503, "Service Unavailable", 5},

	// SPEC §7. Retry-After of a rate-limited one: the wait for the source's next token.
	provision.CodeAutoRegRateLimited: {503, "Service Unavailable", 0},
	provision.CodeInvalidModel:       {403, "Forbidden", 0},
	provision.CodeDeviceNotFound:     {404, "Not Found", 0},
}

func (s *Server) replyError(in *inbound, id identity, err error) {
	code := provision.CodeOf(err)
	o, ok := outcomes[code]
	if !ok {
		s.log.Error("register", "device", id.name, "err", err)
		s.reply(in, 500, "Server Internal Error", s.warning("INTERNAL", "internal error"))
		return
	}
	s.log.Debug("register refused", "device", id.name, "code", code)
	hdrs := []sip.Header{s.warning(code, errorText(err))}
	if code == provision.CodeAutoRegRateLimited {
		o.retryAfter = s.newDevs.retryAfter()
	}
	if o.retryAfter > 0 {
		hdrs = append(hdrs, sip.NewHeader("Retry-After", strconv.Itoa(o.retryAfter)))
	}
	s.reply(in, o.status, o.reason, hdrs...)
}

// errorText is the message of a provisioning error without its code prefix.
func errorText(err error) string {
	var pe *provision.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}

// warning builds "Warning: 399 <host> "<CODE>: <text>"" (RFC 3261 §20.43;
// 399 is "miscellaneous").
func (s *Server) warning(code, text string) sip.Header {
	t := strings.NewReplacer(`"`, `'`, "\\", "/", "\r", " ", "\n", " ").Replace(code + ": " + text)
	if len(t) > 200 {
		t = t[:200]
	}
	return sip.NewHeader("Warning", `399 `+s.opts.Advertise+` "`+t+`"`)
}

// reply200 answers a successful REGISTER with the granted expiry and the
// Contact, echoed with its parameters as CUCM does (;x-cisco-newreg on a
// new registration).
func (s *Server) reply200(in *inbound, c contact, granted time.Duration, isNew bool) {
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	buf.Reset()
	s.render200(buf, in, c, granted, isNew)
	s.send(in, buf.Bytes())
}

// ciscoSupported is the Supported header CUCM 12.x puts in its 200 to a
// Cisco phone's REGISTER (protocol.md §3); a Cisco REGISTER is one whose
// Contact names the device.
var ciscoSupported = sip.NewHeader("Supported", "X-cisco-srtp-fallback,X-cisco-sis-9.0.0")

// render200 appends reply200's answer to buf.
func (s *Server) render200(buf *bytes.Buffer, in *inbound, c contact, granted time.Duration, isNew bool) {
	g := strconv.Itoa(int(granted / time.Second))
	var sb strings.Builder
	sb.Grow(len(c.uri) + 256)
	sb.WriteByte('<')
	sb.WriteString(c.uri)
	sb.WriteByte('>')
	for _, p := range c.params {
		if strings.EqualFold(p.key, paramExpires) || strings.EqualFold(p.key, "x-cisco-newreg") {
			continue
		}
		sb.WriteByte(';')
		sb.WriteString(p.raw)
	}
	sb.WriteString(";expires=")
	sb.WriteString(g)
	if isNew {
		sb.WriteString(";x-cisco-newreg")
	}
	if _, cisco := c.param(paramDeviceName); cisco {
		s.render(buf, in, 200, "OK", sip.NewHeader("Contact", sb.String()), sip.NewHeader("Expires", g), ciscoSupported)
	} else {
		s.render(buf, in, 200, "OK", sip.NewHeader("Contact", sb.String()), sip.NewHeader("Expires", g))
	}
	if in.tr != UDP {
		// The connection now carries a binding: it stays open as long as
		// the binding may live (its grace and jitter included).
		s.conns.bind(in.src, time.Now().Add(granted+granted/10+bindingGrace))
	}
}

// reply sends a final answer statelessly and records it.
func (s *Server) reply(in *inbound, status int, reason string, hdrs ...sip.Header) {
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	buf.Reset()
	s.render(buf, in, status, reason, hdrs...)
	s.send(in, buf.Bytes())
}

// render appends a final answer to buf and records it; counted before it
// is written, so a client that reads the answer sees it counted.
//
// The answer is written straight from the request's parsed headers (RFC
// 3261 §8.2.6.2: its Vias, From, To with our tag, Call-ID and CSeq), in
// the order sipgo's NewResponseFromRequest gives, without building a
// Response: building and writing one was 6% of selfprovd's CPU when
// auto-registering at full speed.
func (s *Server) render(buf *bytes.Buffer, in *inbound, status int, reason string, hdrs ...sip.Header) {
	req := in.req
	buf.WriteString("SIP/2.0 ")
	buf.WriteString(strconv.Itoa(status))
	buf.WriteByte(' ')
	buf.WriteString(reason)
	buf.WriteString("\r\n")
	for i, h := range req.GetHeaders("Via") {
		if via, ok := h.(*sip.ViaHeader); ok && i == 0 {
			if v, ok := via.Params.Get("rport"); ok && v == "" {
				// RFC 3581 §4: the topmost Via gets the source port and address.
				host, port, _ := net.SplitHostPort(req.Source())
				via = via.Clone()
				via.Params.Add("rport", port)
				via.Params.Add("received", host)
				h = via
			}
		}
		writeHeader(buf, h)
	}
	if h := req.From(); h != nil {
		writeHeader(buf, h)
	}
	if h := req.To(); h != nil {
		h.StringWrite(buf)
		if !h.Params.Has("tag") {
			buf.WriteString(";tag=")
			buf.WriteString(randHex(8))
		}
		buf.WriteString("\r\n")
	}
	if h := req.CallID(); h != nil {
		writeHeader(buf, h)
	}
	if h := req.CSeq(); h != nil {
		writeHeader(buf, h)
	}
	buf.WriteString("Content-Length: 0\r\n")
	for _, h := range hdrs {
		writeHeader(buf, h)
	}
	buf.WriteString("Date: ")
	buf.WriteString(s.clock.Now().UTC().Format(time.RFC1123))
	buf.WriteString("\r\nServer: ")
	buf.WriteString(s.opts.ServerName)
	buf.WriteString("\r\n\r\n")
	if req.Method == sip.REGISTER {
		s.m.register(status)
		if status != 200 {
			s.refusals.record(s.clock.Now(), in.ap.Addr(), status, reason, hdrs)
		}
	}
	s.m.observe(string(req.Method), time.Since(in.start).Seconds())
}

func writeHeader(buf *bytes.Buffer, h sip.Header) {
	h.StringWrite(buf)
	buf.WriteString("\r\n")
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// send writes an answer to where its request came from.
func (s *Server) send(in *inbound, data []byte) {
	var err error
	if in.gather != nil {
		in.gather.add(data, in.ap)
		return
	}
	if in.tr == UDP && in.pc != nil {
		err = sendUDP(in.pc, data, in.ap)
	} else {
		err = s.writeStream(in.tr, in.src, data, streamWriteTimeout, true)
	}
	if err != nil {
		s.log.Debug("sip answer not sent", "err", err)
	}
}

// sendUDP sends one datagram to ap.
func sendUDP(pc net.PacketConn, data []byte, ap netip.AddrPort) error {
	if uc, ok := pc.(*net.UDPConn); ok {
		_, err := uc.WriteToUDPAddrPort(data, ap)
		return err
	}
	_, err := pc.WriteTo(data, net.UDPAddrFromAddrPort(ap))
	return err
}

// writeStream writes data to the phone's own TCP or TLS connection in one
// write, waiting at most timeout for room in its send buffer; a failed
// write closes it, since a partial write leaves the stream unframed. With
// gather, data may instead join the other answers to what the connection's
// reader got in one read, written together before it reads again (see
// limitConn).
func (s *Server) writeStream(tr Transport, src string, data []byte, timeout time.Duration, gather bool) error {
	if h := testHookStreamWrite.Load(); h != nil {
		(*h)(data)
	}
	c, err := s.tp.GetConnection(tr.String(), src)
	if err != nil {
		return fmt.Errorf("the phone's %s connection is gone: %w", tr, err)
	}
	defer c.TryClose()
	if tc, ok := c.(*sip.TCPConnection); ok {
		if lc, ok := tc.Conn.(*limitConn); ok {
			write := lc.writeNow
			if gather {
				write = lc.gather
			}
			if err := write(data, timeout); err != nil {
				_ = c.Close()
				return err
			}
			return nil
		}
	}
	w, ok := c.(io.Writer)
	if !ok {
		return fmt.Errorf("registrar: %T cannot write", c)
	}
	if d, ok := c.(interface{ SetWriteDeadline(time.Time) error }); ok {
		_ = d.SetWriteDeadline(time.Now().Add(timeout))
	}
	if _, err := w.Write(data); err != nil {
		_ = c.Close()
		return err
	}
	return nil
}

// testHookStreamWrite, when a test sets it, sees every stream write.
var testHookStreamWrite atomic.Pointer[func(data []byte)]

// Stream writes wait for room in the connection's send buffer, which is
// full only when the phone has stopped reading. The responder writes for
// every phone, so it gives such a phone a moment only, then closes its
// connection: one phone that does not read must not hold up the answers
// of all the others. A reader or the notifier, which write for one phone
// at a time, wait longer.
const (
	responderWriteTimeout = 100 * time.Millisecond
	streamWriteTimeout    = 2 * time.Second
)

func contactHeaders(req *sip.Request) []sip.Header {
	hs := req.GetHeaders("Contact")
	if len(hs) == 0 {
		hs = req.GetHeaders("m") // compact form
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
