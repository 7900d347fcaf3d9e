package registrar

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"selfprov/internal/sipheader"
	"selfprov/provision"
)

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
		s.conns.bind(in.tr, in.src, time.Now().Add(granted+granted/10+bindingGrace))
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
	s.writeResponse(buf, in, status, reason, true, hdrs...)
	req := in.req
	if req.Method == sip.REGISTER {
		s.m.register(status)
		if status != 200 {
			s.refusals.record(s.clock.Now(), in.ap.Addr(), status, reason, hdrs)
		}
	}
	s.m.observe(string(req.Method), time.Since(in.start).Seconds())
}

// renderProvisional appends a provisional answer to buf, without a To tag
// (a proxy's 100 Trying creates no dialog).
func (s *Server) renderProvisional(buf *bytes.Buffer, in *inbound, status int, reason string) {
	s.writeResponse(buf, in, status, reason, false)
}

// writeResponse appends an answer to in's request; tag adds a To tag when
// the request has none.
func (s *Server) writeResponse(buf *bytes.Buffer, in *inbound, status int, reason string, tag bool, hdrs ...sip.Header) {
	req := in.req
	buf.WriteString("SIP/2.0 ")
	buf.WriteString(strconv.Itoa(status))
	buf.WriteByte(' ')
	buf.WriteString(reason)
	buf.WriteString("\r\n")
	for i, h := range sipheader.All(req, "Via") {
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
		if tag && !h.Params.Has("tag") {
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
	buf.WriteString(s.date.format(s.clock.Now()))
	buf.WriteString("\r\nServer: ")
	buf.WriteString(s.opts.ServerName)
	buf.WriteString("\r\n\r\n")
}

// dateCache holds the Date header's value for the current second: every
// answer carries one (phones set their clocks from it), and formatting a
// time for each was a visible part of a REGISTER's answer. RFC 3261
// §20.17 allows only "GMT" as the zone, which time.RFC1123 spells "UTC".
// sipDateFormat is RFC 3261's SIP-date: RFC 1123's, in GMT.
const sipDateFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

type dateCache struct{ last atomic.Pointer[formattedDate] }

type formattedDate struct {
	sec  int64
	text string
}

func (c *dateCache) format(now time.Time) string {
	sec := now.Unix()
	if d := c.last.Load(); d != nil && d.sec == sec {
		return d.text
	}
	text := now.UTC().Format(sipDateFormat)
	c.last.Store(&formattedDate{sec: sec, text: text})
	return text
}

func writeHeader(buf *bytes.Buffer, h sip.Header) {
	if via, ok := h.(*sip.ViaHeader); ok {
		writeVia(buf, via)
	} else {
		h.StringWrite(buf)
	}
	buf.WriteString("\r\n")
}

// writeVia writes what via.StringWrite writes, without building its value
// as a string first and without the net.IP sipgo parses the host into to
// see whether it needs brackets: three allocations a Via, and every
// answer echoes at least one. FuzzWriteVia holds the two to the same
// bytes.
func writeVia(buf *bytes.Buffer, via *sip.ViaHeader) {
	buf.WriteString("Via: ")
	buf.WriteString(via.ProtocolName)
	buf.WriteByte('/')
	buf.WriteString(via.ProtocolVersion)
	buf.WriteByte('/')
	buf.WriteString(via.Transport)
	buf.WriteByte(' ')
	// Brackets for an IPv6 address as net.ParseIP reads one: no zone, not
	// an IPv4-mapped address.
	if a, err := netip.ParseAddr(via.Host); err == nil && a.Is6() && !a.Is4In6() && a.Zone() == "" {
		buf.WriteByte('[')
		buf.WriteString(via.Host)
		buf.WriteByte(']')
	} else {
		buf.WriteString(via.Host)
	}
	if via.Port > 0 {
		var n [20]byte
		buf.WriteByte(':')
		buf.Write(strconv.AppendInt(n[:0], int64(via.Port), 10))
	}
	for _, kv := range via.Params {
		// As HeaderParams.ToStringWrite, whose separator, a byte made a
		// string, is one more allocation.
		buf.WriteByte(';')
		buf.WriteString(kv.K)
		switch {
		case kv.V == "":
		case strings.ContainsAny(kv.V, " \t"):
			buf.WriteString(`="`)
			buf.WriteString(kv.V)
			buf.WriteByte('"')
		default:
			buf.WriteByte('=')
			buf.WriteString(kv.V)
		}
	}
}

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
	// The connections the listeners accepted are found without sipgo's
	// pool, whose lookup and reference counting format both addresses
	// for a debug log on every call: some 80 allocations a phone in a
	// boot storm.
	if lc := s.conns.lookup(tr, src); lc != nil {
		return writeLimited(lc, data, timeout, gather)
	}
	c, err := s.tp.GetConnection(tr.String(), src)
	if err != nil {
		return fmt.Errorf("the phone's %s connection is gone: %w", tr, err)
	}
	defer c.TryClose()
	if tc, ok := c.(*sip.TCPConnection); ok {
		if lc, ok := tc.Conn.(*limitConn); ok {
			return writeLimited(lc, data, timeout, gather) // closes lc if it fails
		}
	}
	w, ok := c.(io.Writer)
	if !ok {
		return fmt.Errorf("registrar: %T cannot write", c)
	}
	if d, ok := c.(deadlineWriter); ok {
		_, err = writeWithin(d, data, timeout)
	} else {
		_, err = w.Write(data)
	}
	if err != nil {
		_ = c.Close()
		return err
	}
	return nil
}

// writeLimited writes data on lc now, or gathers it for the reader's next
// Read; a connection that fails is closed.
func writeLimited(lc *limitConn, data []byte, timeout time.Duration, gather bool) error {
	write := lc.writeNow
	if gather {
		write = lc.gather
	}
	if err := write(data, timeout); err != nil {
		_ = lc.Close()
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

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}
