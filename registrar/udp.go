package registrar

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo/sip"
	"golang.org/x/net/ipv4"

	"selfprov/provision"
)

// udpBatchSize is how many datagrams one read takes (recvmmsg) and so how
// many answers one write gives (sendmmsg). A burst of REGISTERs then costs
// two system calls a batch rather than two a REGISTER; on a two-core host
// the calls, and the scheduler's work around each, were a third of the
// CPU of answering refreshes over UDP.
const udpBatchSize = 32

// readUDP reads datagrams into buffers one byte larger than the bound, so
// an oversized datagram is seen as such and dropped before any parsing.
// On a *net.UDPConn it reads a batch at a time and gathers the answers to
// the batch into one write; any other PacketConn is read one datagram at
// a time and answered at once.
func (s *Server) readUDP(pc net.PacketConn) {
	if s.udpBatch != nil && pc == s.udp {
		s.readUDPBatches()
		return
	}
	buf := make([]byte, s.opts.MaxMessageSize+1)
	for {
		n, a, err := pc.ReadFrom(buf)
		if err != nil {
			if s.readFailed(err) {
				return
			}
			continue
		}
		ap, _ := netip.ParseAddrPort(a.String())
		s.datagram(buf[:n], pc, ap, nil)
	}
}

func (s *Server) readUDPBatches() {
	ms := make([]ipv4.Message, udpBatchSize)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, s.opts.MaxMessageSize+1)}
	}
	var out udpGather
	for {
		n, err := s.udpBatch.ReadBatch(ms, 0)
		if err != nil {
			if s.readFailed(err) {
				return
			}
			continue
		}
		if h := testHookUDPBatch.Load(); h != nil {
			(*h)(n)
		}
		for i := range ms[:n] {
			m := &ms[i]
			var ap netip.AddrPort
			if ua, ok := m.Addr.(*net.UDPAddr); ok {
				ap = ua.AddrPort()
			}
			data := m.Buffers[0][:m.N]
			if m.Flags&syscall.MSG_TRUNC != 0 {
				data = m.Buffers[0] // cut at one byte over the bound
			}
			s.datagram(data, s.udp, ap, &out)
			m.Addr = nil
		}
		for _, err := range s.sendGathered(&out) {
			if err != nil {
				s.log.Debug("sip answer not sent", "err", err)
			}
		}
	}
}

// testHookUDPBatch, when a test sets it, sees the size of every batch of
// datagrams read.
var testHookUDPBatch atomic.Pointer[func(read int)]

// readFailed logs a read error and reports whether the socket is closed.
func (s *Server) readFailed(err error) bool {
	if errors.Is(err, net.ErrClosed) || s.closed.Load() {
		return true
	}
	s.log.Warn("sip udp read", "err", err)
	return false
}

// datagram handles one datagram from ap; with out, its answer is gathered
// there rather than sent.
func (s *Server) datagram(data []byte, pc net.PacketConn, ap netip.AddrPort, out *udpGather) {
	if len(data) > s.opts.MaxMessageSize {
		// A request whose headers fit (an INVITE with an outsized SDP)
		// gets 513 (RFC 3261 §21.5.14); anything else is dropped.
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if req := badLengthRequest(s.parser, data[:s.opts.MaxMessageSize]); req != nil && req.Via() != nil && !req.IsAck() {
			req.SetTransport("UDP")
			req.SetSource(ap.String())
			in := &inbound{req: req, tr: UDP, src: ap.String(), ap: ap, pc: pc, start: time.Now(), gather: out}
			s.reply(in, 513, "Message Too Large", s.warning(provision.CodeInvalid,
				"messages are at most "+strconv.Itoa(s.opts.MaxMessageSize)+" bytes"))
			return
		}
		s.m.drop(dropOversize)
		return
	}
	if isKeepAlive(data) {
		return
	}
	msg, err := s.parser.ParseSIP(data)
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if err != nil {
		if req := badLengthRequest(s.parser, data); req != nil {
			// RFC 4475 ("clerr"): over UDP, a Content-Length longer than
			// the body gets 400.
			req.SetTransport("UDP")
			req.SetSource(ap.String())
			in := &inbound{req: req, tr: UDP, src: ap.String(), ap: ap, pc: pc, start: time.Now(), gather: out}
			if req.Via() != nil {
				s.reply(in, 400, "Bad Content-Length", s.warning(provision.CodeInvalid, "Content-Length does not match the body"))
				return
			}
		}
		s.m.drop(dropMalformed)
		s.log.Debug("sip message dropped", "reason", dropMalformed, "err", err)
		return
	}
	msg.SetTransport("UDP")
	msg.SetSource(ap.String())
	s.handle(msg, pc, ap, out)
}

// badLengthRequest returns the request in data when only its length is
// wrong: its headers parse once every Content-Length is set aside. Only a
// datagram the parser refused gets here, so the common path pays nothing.
func badLengthRequest(p *sip.Parser, data []byte) *sip.Request {
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		return nil
	}
	lengths := 0
	head := make([]byte, 0, end+32)
	for _, line := range bytes.Split(data[:end], []byte("\r\n")) {
		name, _, _ := bytes.Cut(line, []byte(":"))
		name = bytes.TrimRight(name, " \t")
		if bytes.EqualFold(name, []byte("Content-Length")) || bytes.EqualFold(name, []byte("l")) {
			lengths++
			continue
		}
		head = append(head, line...)
		head = append(head, "\r\n"...)
	}
	if lengths == 0 {
		return nil
	}
	head = append(head, "Content-Length: 0\r\n\r\n"...)
	msg, err := p.ParseSIP(head)
	if err != nil {
		return nil
	}
	req, _ := msg.(*sip.Request)
	return req
}

// isKeepAlive reports a CRLF keep-alive (RFC 5626 §3.5.1) or padding.
func isKeepAlive(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' && c != 0 && c != ' ' {
			return false
		}
	}
	return true
}

// udpGather holds datagrams to send together, back to back in one
// buffer: the answers to one batch read, or those of one store batch.
type udpGather struct {
	buf   bytes.Buffer
	ends  []int
	to    []netip.AddrPort
	ms    []ipv4.Message
	addrs []net.UDPAddr
}

// add gathers data as one datagram to to and returns its index.
func (g *udpGather) add(data []byte, to netip.AddrPort) int {
	g.buf.Write(data)
	return g.end(to)
}

// end makes what was written to g.buf since the last datagram one datagram
// to to, and returns its index.
func (g *udpGather) end(to netip.AddrPort) int {
	g.ends = append(g.ends, g.buf.Len())
	g.to = append(g.to, to)
	return len(g.ends) - 1
}

// sendGathered sends g's datagrams from the UDP socket, empties g and
// returns each datagram's error.
func (s *Server) sendGathered(g *udpGather) []error {
	if len(g.ends) == 0 {
		return nil
	}
	errs := s.sendDatagrams(s.udp, g.messages())
	g.buf.Reset()
	g.ends = g.ends[:0]
	g.to = g.to[:0]
	return errs
}

// messages returns the gathered datagrams for sendmmsg, reusing the
// message and address structs of earlier batches.
func (g *udpGather) messages() []ipv4.Message {
	n := len(g.ends)
	for len(g.ms) < n {
		g.ms = append(g.ms, ipv4.Message{Buffers: make([][]byte, 1)})
		g.addrs = append(g.addrs, net.UDPAddr{IP: make(net.IP, 0, net.IPv6len)})
	}
	buf := g.buf.Bytes()
	start := 0
	for i, end := range g.ends {
		a := &g.addrs[i]
		ip := g.to[i].Addr().As16()
		if g.to[i].Addr().Is4() {
			a.IP = append(a.IP[:0], ip[12:]...)
		} else {
			a.IP = append(a.IP[:0], ip[:]...)
		}
		a.Port = int(g.to[i].Port())
		a.Zone = g.to[i].Addr().Zone()
		g.ms[i].Buffers[0] = buf[start:end]
		g.ms[i].Addr = a
		start = end
	}
	return g.ms[:n]
}
