package tftpd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/pin/tftp/v3/netascii"
)

// The sending side of a read transfer is ours, not pin/tftp's: its server
// takes the block size from the type of the listening socket (512 for
// any socket it does not know, such as one we read first), refuses block
// sizes under 512, drops timeout from the OACK, has no windowsize (its
// "anticipate" mode sends windows nobody asked for and wants every block
// acknowledged), and retries a first block like any other, so a peer
// that never answers holds its slot for the whole retry schedule.
// pin/tftp's netascii encoder is still used, and its client drives the
// tests and the load benchmark.

// maxNetascii bounds a file sent in netascii mode, which is converted in
// memory (up to twice its size) for the transfer's life. Configs, ring
// lists and locales are kilobytes; firmware is fetched in octet mode.
const maxNetascii = 1 << 20

// job is one admitted read request, handed to a worker.
type job struct {
	rq    rrq
	req   Request
	peer  *net.UDPAddr
	local net.IP
	sl    *slot
}

// workerIdle is how long a transfer worker waits for another transfer
// before it ends.
const workerIdle = 10 * time.Second

// maxKeptBlock bounds the DATA buffer a worker keeps between transfers;
// a transfer with a larger block size has one of its own.
const maxKeptBlock = 8192

// worker runs transfers one after another on one goroutine, whose stack
// and buffers have grown once: a new goroutine per transfer grew its
// stack on every transfer.
type worker struct {
	pkt []byte // DATA, 4+blksize
	ack []byte // what the peer sends
}

// start hands j to a worker waiting for one, or starts a worker.
func (s *Server) start(j job) {
	select {
	case s.work <- j:
	default:
		s.wg.Add(1)
		go s.worker(j)
	}
}

func (s *Server) worker(j job) {
	defer s.wg.Done()
	w := &worker{ack: make([]byte, 4+512)}
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		s.transfer(w, j)
		j = job{}
		idle.Reset(workerIdle)
		select {
		case j = <-s.work:
		case <-idle.C:
			return
		case <-s.closing:
			return
		}
	}
}

// transfer sends one admitted read request from a socket of its own
// (RFC 1350), with the options asked for (RFC 2347–2349, RFC 7440).
func (s *Server) transfer(w *worker, j job) {
	rq, req, peer, sl := j.rq, j.req, j.peer, j.sl
	defer s.slots.release(sl)
	t := sender{s: s, sl: sl, kind: req.Kind.String()}
	conn, err := dialPeer(j.local, peer)
	if err != nil {
		s.log.Warn("tftp transfer socket", "remote_addr", peer.String(), "err", err)
		s.m.transferDone(t.kind, resultFailed, sl.start)
		return
	}
	t.conn = conn
	defer conn.Close()
	// Reclaiming the slot or shutting down closes the socket, which ends
	// the transfer at once.
	if !s.slots.attach(sl, conn) {
		s.m.transferDone(t.kind, resultNoACK, sl.start)
		return
	}

	// A kept config is sent as it is, without a lookup or a copy.
	var data []byte
	var ra io.ReaderAt
	var size int64
	if e, _ := s.content.cachedDevice(req); e != nil && rq.mode == "octet" {
		data, size = e.data, int64(len(e.data))
	} else {
		f, err := s.openRequest(req)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				s.log.Debug("tftp file not found", "file", clip(rq.filename), "remote_addr", peer.String(), "err", err)
				s.m.transferDone(kindNotFound, resultFailed, sl.start)
				t.sendError(errFileNotFound, "file not found")
				return
			}
			s.log.Warn("tftp request failed", "file", clip(rq.filename), "err", err)
			s.m.transferDone(t.kind, resultFailed, sl.start)
			t.sendError(errNotDefined, "internal error")
			return
		}
		defer f.Close()
		if rq.mode == "octet" && f.data != nil {
			data, size = f.data, f.size
		} else if ra, size, err = source(f, rq.mode); err != nil {
			s.log.Warn("tftp request failed", "file", clip(rq.filename), "err", err)
			s.m.transferDone(t.kind, resultFailed, sl.start)
			t.sendError(errNotDefined, err.Error())
			return
		}
	}
	t.negotiate(rq, size)
	if s.log.Enabled(s.ctx, slog.LevelDebug) {
		s.log.Debug("tftp transfer", "file", clip(rq.filename), "remote_addr", peer.String(), "bytes", size,
			"blksize", t.blksize, "windowsize", t.window, "timeout", t.timeout)
	}
	if n := 4 + t.blksize; t.blksize <= maxKeptBlock {
		if cap(w.pkt) < n {
			w.pkt = make([]byte, 4+maxKeptBlock)[:n]
		}
		t.pkt = w.pkt[:n]
	} else {
		t.pkt = make([]byte, n)
	}
	t.ack = w.ack
	result, err := t.run(data, ra, size)
	switch {
	case err == nil:
		s.m.bytes.WithLabelValues(t.kind).Add(float64(size))
	case result == resultNoACK:
		s.log.Debug("tftp transfer never acknowledged", "file", clip(rq.filename), "remote_addr", peer.String(), "err", err)
	default:
		s.log.Debug("tftp transfer failed", "file", clip(rq.filename), "remote_addr", peer.String(), "err", err)
	}
	s.m.transferDone(t.kind, result, sl.start)
}

// peerConn is a transfer's connected socket.
type peerConn interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
	SetReadDeadline(time.Time) error
	Close() error
}

// dialPeerNet opens a transfer's socket through net.DialUDP: on systems
// without dialPeer's system calls, and for an IPv6 peer with a zone, which
// net resolves.
func dialPeerNet(local net.IP, peer *net.UDPAddr) (peerConn, error) {
	var laddr *net.UDPAddr
	if local != nil {
		laddr = &net.UDPAddr{IP: local}
	}
	return net.DialUDP("udp", laddr, peer)
}

// source is what a transfer sends: the file itself in octet mode, its
// netascii encoding otherwise.
func source(f *file, mode string) (io.ReaderAt, int64, error) {
	if mode == "netascii" {
		if f.size > maxNetascii {
			return nil, 0, fmt.Errorf("%s is too large for netascii mode; ask for octet", f.name)
		}
		b, err := io.ReadAll(netascii.ToReader(io.LimitReader(f.r, maxNetascii)))
		if err != nil {
			return nil, 0, err
		}
		return bytes.NewReader(b), int64(len(b)), nil
	}
	if ra, ok := f.r.(io.ReaderAt); ok {
		return ra, f.size, nil
	}
	b, err := io.ReadAll(f.r)
	if err != nil {
		return nil, 0, err
	}
	return bytes.NewReader(b), int64(len(b)), nil
}

// sender is the state of one read transfer.
type sender struct {
	s    *Server
	conn peerConn
	sl   *slot
	kind string
	pkt  []byte // DATA being sent, 4+blksize
	ack  []byte // what the peer sends

	blksize int
	window  int
	timeout time.Duration
	oack    []byte // nil when no option was accepted
}

// negotiate settles the options: every one asked for with a valid value
// is accepted as asked, except a timeout over MaxRequestTimeout, which is
// declined. The OACK names only the accepted options, with the values in
// force.
func (t *sender) negotiate(rq rrq, size int64) {
	t.blksize, t.window, t.timeout = 512, 1, t.s.timeout
	var o []byte
	if rq.blksize > 0 {
		// Above the path MTU the datagrams are fragmented: the client's
		// choice, as RFC 2348 leaves it.
		t.blksize = rq.blksize
		o = appendOption(o, "blksize", int64(rq.blksize))
	}
	if rq.tsize {
		o = appendOption(o, "tsize", size)
	}
	if rq.timeout > 0 {
		if d := time.Duration(rq.timeout) * time.Second; d <= MaxRequestTimeout {
			t.timeout = d
			o = appendOption(o, "timeout", int64(rq.timeout))
		}
	}
	if rq.windowsize > 0 {
		t.window = rq.windowsize
		o = appendOption(o, "windowsize", int64(rq.windowsize))
	}
	if o != nil {
		t.oack = append([]byte{0, opOACK}, o...)
	}
}

var errNoACK = errors.New("no acknowledgement")

// run sends the file in windows of t.window blocks (RFC 7440; one block is
// RFC 1350's lock step). Block i (from 1) holds bytes (i-1)·blksize on;
// the last block is shorter than blksize, empty when the size is a
// multiple of it. An OACK, when there is one, is block 0. Each ACK of a
// block in the window sent moves the window past it; an older ACK is a
// duplicate and ignored, so duplicates cannot multiply the traffic. A
// timeout sends the window again from the first unacknowledged block.
// Block numbers wrap from 65535 to 0.
// The file is data, or read from ra when data is nil.
func (t *sender) run(data []byte, ra io.ReaderAt, size int64) (string, error) {
	last := size/int64(t.blksize) + 1 // index of the last block
	acked := int64(0)                 // highest block acknowledged
	if t.oack != nil {
		acked = -1
	}
	firstACK := t.sl.start.Add(t.s.firstACK)
	gotACK := false
	retries := 0
	for acked < last {
		end := min(acked+int64(t.window), last)
		if acked < 0 {
			end = 0 // the OACK goes alone
		}
		for i := acked + 1; i <= end; i++ {
			if err := t.sendBlock(data, ra, i, size); err != nil {
				return t.fail(gotACK, err)
			}
		}
		now := time.Now()
		if !gotACK {
			t.sl.sent.CompareAndSwap(0, now.UnixNano())
		}
		deadline := now.Add(t.timeout)
		if !gotACK && deadline.After(firstACK) {
			deadline = firstACK
		}
		_ = t.conn.SetReadDeadline(deadline)
		progressed, err := t.awaitACK(&acked, end)
		if progressed {
			// The whole window, or part of it: go on from the first
			// block not acknowledged.
			retries = 0
			if !gotACK {
				gotACK = true
				t.s.slots.acked(t.sl)
			}
			continue
		}
		if err != nil {
			if t.s.slots.reclaimed(t.sl) {
				return resultNoACK, errNoACK
			}
			return t.fail(gotACK, err)
		}
		// Timed out.
		if !gotACK && !time.Now().Before(firstACK) {
			t.sendError(errNotDefined, "timed out")
			return resultNoACK, errNoACK
		}
		if retries++; retries > t.s.retries {
			t.sendError(errNotDefined, "timed out")
			return t.fail(gotACK, fmt.Errorf("timed out after %d retransmissions", t.s.retries))
		}
	}
	return resultOK, nil
}

// awaitACK reads until an ACK moves the window (true), the read deadline
// passes (false, nil) or the transfer must end (false, error).
func (t *sender) awaitACK(acked *int64, end int64) (bool, error) {
	buf := t.ack
	for {
		n, err := t.conn.Read(buf)
		if err == io.EOF {
			continue // an empty datagram, read from a file
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return false, nil
			}
			return false, err
		}
		if n < 4 {
			continue
		}
		switch op := binary.BigEndian.Uint16(buf); op {
		case opACK:
			d := int64(binary.BigEndian.Uint16(buf[2:]) - uint16(*acked))
			if d < 1 || d > end-*acked {
				continue // a duplicate or a stray
			}
			*acked += d
			return true, nil
		case opERROR:
			code := binary.BigEndian.Uint16(buf[2:])
			msg := string(bytes.TrimRight(buf[4:n], "\x00"))
			return false, peerError{fmt.Sprintf("peer sent error %d: %s", code, clip(msg))}
		default:
			t.sendError(errIllegalOp, "expected an acknowledgement")
			return false, peerError{"peer sent opcode " + strconv.Itoa(int(op))}
		}
	}
}

// peerError is an answer from the peer that ends the transfer: the peer
// was there, so the transfer failed rather than went unacknowledged.
type peerError struct{ msg string }

func (e peerError) Error() string { return e.msg }

func (t *sender) fail(gotACK bool, err error) (string, error) {
	var pe peerError
	if !gotACK && !errors.As(err, &pe) {
		return resultNoACK, err
	}
	return resultFailed, err
}

// sendBlock sends block i: the OACK when i is 0, DATA otherwise.
func (t *sender) sendBlock(data []byte, ra io.ReaderAt, i, size int64) error {
	if i == 0 {
		return t.write(t.oack)
	}
	pkt := t.pkt
	binary.BigEndian.PutUint16(pkt, opDATA)
	binary.BigEndian.PutUint16(pkt[2:], uint16(i))
	off := (i - 1) * int64(t.blksize)
	n := int(min(int64(t.blksize), size-off))
	switch {
	case n <= 0:
	case data != nil:
		copy(pkt[4:4+n], data[off:])
	default:
		if _, err := ra.ReadAt(pkt[4:4+n], off); err != nil && !(err == io.EOF && n > 0) {
			return err
		}
	}
	return t.write(pkt[:4+max(n, 0)])
}

func (t *sender) write(p []byte) error {
	_, err := t.conn.Write(p)
	if errors.Is(err, syscall.ECONNREFUSED) {
		// An ICMP port unreachable from an earlier datagram: the peer
		// is gone.
		return fmt.Errorf("peer gone: %w", err)
	}
	return err
}

func (t *sender) sendError(code uint16, msg string) {
	_, _ = t.conn.Write(errorPacket(code, msg))
}
