package registrar

import (
	"bytes"
	"hash/fnv"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// The proxy writes the messages it forwards straight from the parsed
// headers it received, with its own Via and Record-Route in front and
// its own Route entries left out, rather than cloning and editing a sipgo
// message: that allocates once per forwarded message, into a pooled
// buffer.

// flow is where a leg of a call is reached: the UDP address a phone sends
// from, or its own TCP or TLS connection (RFC 5626's flow).
type flow struct {
	tr  Transport
	src string // ip:port
	ap  netip.AddrPort
}

func flowOf(b Binding) (flow, bool) {
	ap, err := netip.ParseAddrPort(b.Source)
	if err != nil {
		return flow{}, false
	}
	return flow{tr: b.Transport, src: b.Source, ap: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, true
}

// sendFlow writes data to a flow: a datagram, or one write on the phone's
// own connection.
func (s *Server) sendFlow(f flow, data []byte) error {
	if f.tr == UDP {
		s.mu.Lock()
		pc := s.udp
		s.mu.Unlock()
		if pc == nil {
			return net.ErrClosed
		}
		return sendUDP(pc, data, f.ap)
	}
	return s.writeStream(f.tr, f.src, data, streamWriteTimeout, false)
}

// hostPort is the proxy's own address on a transport, as Via and
// Record-Route carry it.
func (s *Server) hostPort(tr Transport) string {
	port := s.udpPort
	switch tr {
	case TCP:
		port = s.tcpPort
	case TLS:
		port = s.tlsPort
	}
	return s.advertisedHost() + ":" + strconv.Itoa(port)
}

// advertisedHost is the advertised address as a URI host: an IPv6 address
// in brackets.
func (s *Server) advertisedHost() string {
	host := s.opts.Advertise
	if strings.IndexByte(host, ':') >= 0 && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return host
}

func viaTransport(tr Transport) string {
	switch tr {
	case TCP:
		return "TCP"
	case TLS:
		return "TLS"
	}
	return "UDP"
}

// recordRoute is the proxy's Record-Route value facing a transport.
func (s *Server) recordRoute(tr Transport) string {
	return "<sip:" + s.hostPort(tr) + ";transport=" + strings.ToLower(viaTransport(tr)) + ";lr>"
}

// isOurs reports whether a Route URI names this proxy: the advertised
// host, or the address a phone reached it on, at one of its ports.
func (s *Server) isOurs(u *sip.Uri, local string) bool {
	host := strings.Trim(u.Host, "[]")
	if !strings.EqualFold(host, strings.Trim(s.opts.Advertise, "[]")) && host != local {
		return false
	}
	port := u.Port
	if port == 0 {
		port = 5060
		if strings.EqualFold(u.Scheme, "sips") {
			port = 5061
		}
	}
	return port == s.udpPort || port == s.tcpPort || (s.tlsPort != 0 && port == s.tlsPort)
}

// viaWithReceived is the request's top Via as it goes on: with received
// and rport filled in when asked (RFC 3581) or when the host is not where
// the request came from (RFC 3261 §18.2.1).
func viaWithReceived(via *sip.ViaHeader, src netip.AddrPort) *sip.ViaHeader {
	ip := src.Addr().String()
	rport, askRport := via.Params.Get("rport")
	if askRport && rport == "" || strings.Trim(via.Host, "[]") != ip {
		via = via.Clone()
		via.Params.Add("received", ip)
		if askRport && rport == "" {
			via.Params.Add("rport", strconv.Itoa(int(src.Port())))
		}
	}
	return via
}

// forwarded describes how a request goes on.
type forwarded struct {
	ruri   string   // Request-URI; "" keeps the request's
	via    string   // the proxy's Via value
	rr     []string // Record-Route values to put on top
	src    netip.AddrPort
	local  string // the proxy's host as the sender reached it
	maxFwd int    // Max-Forwards to write
}

// appendRequest appends req as it is forwarded to m.
func (s *Server) appendRequest(m *bytes.Buffer, req *sip.Request, f forwarded) {
	m.WriteString(string(req.Method))
	m.WriteByte(' ')
	if f.ruri != "" {
		m.WriteString(f.ruri)
	} else {
		req.Recipient.StringWrite(m)
	}
	m.WriteString(" SIP/2.0\r\nVia: ")
	m.WriteString(f.via)
	m.WriteString("\r\n")
	topVia, rrDone := true, len(f.rr) == 0
	writeRR := func() {
		for _, rr := range f.rr {
			m.WriteString("Record-Route: ")
			m.WriteString(rr)
			m.WriteString("\r\n")
		}
		rrDone = true
	}
	for _, h := range req.Headers() {
		switch h := h.(type) {
		case *sip.ViaHeader:
			if topVia {
				topVia = false
				writeHeader(m, viaWithReceived(h, f.src))
				continue
			}
			writeHeader(m, h)
			continue
		case *sip.MaxForwardsHeader:
			if !rrDone {
				writeRR()
			}
			m.WriteString("Max-Forwards: ")
			m.WriteString(strconv.Itoa(f.maxFwd))
			m.WriteString("\r\n")
			continue
		case *sip.RouteHeader:
			// The proxy's own entries are consumed here (RFC 3261 §16.4),
			// wherever a phone put them: the proxy delivers to the other
			// leg's flow itself, whatever the route set says.
			if s.isOurs(&h.Address, f.local) {
				continue
			}
		}
		if !rrDone {
			writeRR()
		}
		writeHeader(m, h)
	}
	if !rrDone {
		writeRR()
	}
	if req.MaxForwards() == nil {
		m.WriteString("Max-Forwards: ")
		m.WriteString(strconv.Itoa(f.maxFwd))
		m.WriteString("\r\n")
	}
	m.WriteString("\r\n")
	m.Write(req.Body())
}

// appendResponse appends res without its top Via (the proxy's) to m.
func appendResponse(m *bytes.Buffer, res *sip.Response) {
	m.WriteString("SIP/2.0 ")
	m.WriteString(strconv.Itoa(res.StatusCode))
	m.WriteByte(' ')
	m.WriteString(res.Reason)
	m.WriteString("\r\n")
	topVia := true
	for _, h := range res.Headers() {
		if _, ok := h.(*sip.ViaHeader); ok && topVia {
			topVia = false
			continue
		}
		writeHeader(m, h)
	}
	m.WriteString("\r\n")
	m.Write(res.Body())
}

// branchParam is the branch of a Via, "" without one.
func branchParam(via *sip.ViaHeader) string {
	if via == nil {
		return ""
	}
	b, _ := via.Params.Get("branch")
	return b
}

// serverKey identifies a server transaction (RFC 3261 §17.2.3): the top
// Via's branch and sent-by. An INVITE's CANCEL and its ACK for a non-2xx
// answer carry the same.
func serverKey(via *sip.ViaHeader) string {
	return branchParam(via) + "|" + strings.ToLower(via.Host) + ":" + strconv.Itoa(via.Port)
}

// Branches the proxy makes start with these, after RFC 3261's magic
// cookie: "z9hG4bKsp" for a forwarded INVITE's client transaction (random,
// with a hash of the request for loop detection), "z9hG4bKsl" for a
// request inside a dialog, derived from the sender's branch so that a
// retransmission goes on with the same branch, as a stateless proxy's does
// (§16.11).
const (
	branchInvite = "z9hG4bKsp"
	branchDialog = "z9hG4bKsl"
)

// loopHash is a hash of what a request that comes back unchanged still
// carries (RFC 3261 §16.6 step 8): Request-URI, From tag, Call-ID and
// CSeq number.
func loopHash(req *sip.Request) string {
	h := fnv.New64a()
	h.Write([]byte(req.Recipient.User))
	h.Write([]byte{0})
	h.Write([]byte(req.Recipient.Host))
	h.Write([]byte{0})
	if f := req.From(); f != nil {
		tag, _ := f.Params.Get("tag")
		h.Write([]byte(tag))
	}
	h.Write([]byte{0})
	if c := req.CallID(); c != nil {
		h.Write([]byte(c.Value()))
	}
	h.Write([]byte{0})
	if c := req.CSeq(); c != nil {
		h.Write(strconv.AppendUint(nil, uint64(c.SeqNo), 10))
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

// dialogBranch is the branch a request inside a dialog goes on with.
func dialogBranch(via *sip.ViaHeader, method sip.RequestMethod) string {
	h := fnv.New64a()
	h.Write([]byte(branchParam(via)))
	h.Write([]byte{0})
	h.Write([]byte(via.Host))
	h.Write(strconv.AppendInt(nil, int64(via.Port), 10))
	h.Write([]byte{0})
	// An ACK for a non-2xx answer and a CANCEL carry their INVITE's
	// branch, and must go on with the branch the INVITE went on with.
	if method == sip.ACK || method == sip.CANCEL {
		method = sip.INVITE
	}
	h.Write([]byte(method))
	return branchDialog + strconv.FormatUint(h.Sum64(), 36)
}

func tagOf(p sip.HeaderParams) string {
	t, _ := p.Get("tag")
	return t
}
