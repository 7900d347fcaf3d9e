package tftpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HTTPMirror serves the HTTP mirror of the TFTP names (port 6970). Booting
// phones ask it for their config file, a few kilobytes, over keep-alive
// connections; a profile of net/http serving these spent half its time in
// its own per-request machinery (request and header maps, a goroutine to
// watch for a closed connection, deadline timers, a header flush before
// the body). The fast path here reads GET and HEAD requests for generated
// configs and answers them, and errors, with one write per batch of
// pipelined requests. Anything else on a connection (a static file, a
// range, a body, HTTP/1.0) hands the connection, with what was read of it,
// to a net/http server running Handler, which serves it from then on.
// A connection that keeps asking for what is in memory moves from its
// goroutine onto an event loop (mirror_loop_linux.go).
type HTTPMirror struct {
	s *Server
	// fallback serves connections handed over through handoff.
	fallback *http.Server
	handoff  *connListener

	// Timeouts: between requests, for a request's header once it has
	// begun, and for writing an answer (firmware from the static folder
	// goes through fallback, with its own long write timeout).
	idleTimeout, headerTimeout, writeTimeout time.Duration

	ok       [KindStatic + 1]prometheus.Counter // 200 by kind
	notFound prometheus.Counter

	// useLoops: serve connections on event loops where the system has
	// them (mirror_loop_linux.go), else one goroutine each.
	useLoops bool
	// loopCount: one loop for every CPU Go runs on, each serving the
	// connections whose packets arrive on its CPU (see steer).
	// loopCountInTurn: where the kernel does not say which CPU that is,
	// one loop for every two CPUs, connections taken in turn. On two
	// cores shared with 64 busy clients, two loops in turn answered more
	// than one but with a p99 of 6.5 ms against 3.9: each fought the
	// clients and the rest of the daemon for the CPUs.
	loopCount, loopCountInTurn int
	loopAfter                  int // answers in a row from memory before a connection moves to a loop
	loops                      *eventLoops

	handed   atomic.Int64 // connections given to fallback, for tests
	adopted  atomic.Int64 // connections moved onto an event loop, for tests
	detached atomic.Int64 // connections moved off an event loop, for tests
	steered  atomic.Int64 // connections moved from one loop to another, for tests
	closing  atomic.Bool
	forced   atomic.Bool // Shutdown's context ended: close even what is writing
	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

// HTTPServer returns the mirror's server; it serves nothing until Serve.
func (s *Server) HTTPServer() *HTTPMirror {
	m := &HTTPMirror{
		s: s,
		fallback: &http.Server{
			Handler:           s.Handler(),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Minute,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    maxHeaderBytes,
			BaseContext:       func(net.Listener) context.Context { return s.ctx },
		},
		handoff:         newConnListener(),
		idleTimeout:     60 * time.Second,
		headerTimeout:   5 * time.Second,
		writeTimeout:    30 * time.Second,
		useLoops:        eventLoopsSupported,
		loopCount:       runtime.GOMAXPROCS(0),
		loopCountInTurn: max(1, runtime.GOMAXPROCS(0)/2),
		loopAfter:       16,
		conns:           map[net.Conn]struct{}{},
	}
	for k := KindDevice; k <= KindStatic; k++ {
		m.ok[k] = s.m.http.WithLabelValues(k.String(), "200")
	}
	m.notFound = s.m.http.WithLabelValues(kindNotFound, "404")
	return m
}

// Serve accepts connections on ln until Shutdown, which makes it return
// http.ErrServerClosed.
func (m *HTTPMirror) Serve(ln net.Listener) error {
	m.mu.Lock()
	if m.closing.Load() || m.ln != nil {
		m.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	m.ln = ln
	m.handoff.addr = ln.Addr()
	if m.useLoops {
		m.loops = m.startLoops()
	}
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		_ = m.fallback.Serve(m.handoff)
	}()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if m.closing.Load() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of descriptors and the like: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.s.log.Warn("http accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !m.track(c) {
			c.Close()
			return http.ErrServerClosed
		}
		go m.serveConn(newMirrorConn(m, c))
	}
}

func (m *HTTPMirror) track(c net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closing.Load() {
		return false
	}
	m.conns[c] = struct{}{}
	m.wg.Add(1)
	return true
}

func (m *HTTPMirror) untrack(c net.Conn) {
	m.mu.Lock()
	delete(m.conns, c)
	m.mu.Unlock()
	m.wg.Done()
}

// Shutdown stops accepting, lets every connection finish the answers it
// is writing and closes it, and waits until ctx ends for them and for the
// connections net/http serves.
func (m *HTTPMirror) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closing.Store(true)
	if m.ln != nil {
		m.ln.Close()
	}
	for c := range m.conns {
		// Wakes a connection waiting for a request; one writing an
		// answer finishes it, then sees closing.
		_ = c.SetReadDeadline(time.Now())
	}
	loops := m.loops
	m.mu.Unlock()
	if loops != nil {
		loops.wakeUp() // they close what is idle, and finish once nothing writes
	}
	m.handoff.Close()
	ferr := m.fallback.Shutdown(ctx)
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return ferr
	case <-ctx.Done():
		m.forced.Store(true)
		if loops != nil {
			loops.wakeUp()
		}
		m.mu.Lock()
		for c := range m.conns {
			c.Close()
		}
		m.mu.Unlock()
		return errors.Join(ferr, ctx.Err())
	}
}

// errAbsent: a trust or static file that is not there.
var errAbsent = fmt.Errorf("%w: no such file", ErrNotFound)

// readBufferSize holds a few pipelined requests; a request's header may
// grow it up to maxHeaderBytes.
const readBufferSize = 4 << 10

// flushAt bounds the answers gathered before they are written: a client
// that pipelines without reading cannot make the buffer grow further.
const flushAt = 64 << 10

// deadlineSlack: a deadline is moved only when it is this much older than
// wanted. Setting one costs a timer update; a connection that answers
// tens of thousands of requests a second would otherwise pay it twice per
// request for nothing. Timeouts then fire within this slack.
const deadlineSlack = time.Second

// mirrorConn is the state of one connection.
type mirrorConn struct {
	m  *HTTPMirror
	c  net.Conn
	in []byte // read, not yet answered
	// inMemory counts the last answers given without the store, up to
	// loopAfter (see mirror_loop_linux.go).
	inMemory int
	out      []byte // answers not yet written

	readDeadline  time.Time // as last set: idle
	writeDeadline time.Time
	now           time.Time
	dateSec       int64
	date          []byte // "Date: ...\r\n" of dateSec
}

// step is what a connection's driver does once process has answered
// what it could.
type step uint8

const (
	stepRead      step = iota // write what is gathered, read more
	stepFlush                 // write what is gathered, then process again
	stepClose                 // write what is gathered, then close
	stepNetHTTP               // write what is gathered, then hand mc.in to net/http
	stepGoroutine             // write what is gathered, then serve the rest on a goroutine
)

// process answers every complete request in mc.in, appending the answers
// to mc.out, and leaves in mc.in what it did not answer. An event loop,
// which must not wait for the store, passes mayBlock false.
func (mc *mirrorConn) process(mayBlock bool) step {
	st, start := stepRead, 0
	for start < len(mc.in) {
		req, n, err := readRequest(mc.in[start:])
		if err != nil {
			mc.refuse(err)
			st = stepClose
			break
		}
		if n == 0 {
			break
		}
		if req.netHTTP {
			st = stepNetHTTP
			break
		}
		// From memory first, to count the answers that needed no store;
		// a request that does is classified twice, which its store read
		// and render dwarf.
		o := mc.answer(req, false)
		if o == forGoroutine && mayBlock {
			mc.inMemory = 0
			o = mc.answer(req, true)
		} else if mc.inMemory < mc.m.loopAfter {
			mc.inMemory++
		}
		if o == forNetHTTP {
			st = stepNetHTTP
			break
		}
		if o == forGoroutine {
			st = stepGoroutine
			break
		}
		start += n
		if o == answeredLast {
			st = stepClose
			break
		}
		if len(mc.out) >= flushAt {
			st = stepFlush
			break
		}
	}
	if start > 0 {
		// Keep the unread rest at the front of the buffer.
		mc.in = mc.in[:copy(mc.in, mc.in[start:])]
	}
	return st
}

// roomToRead makes room in mc.in for more of a request, growing it for
// a long header; false when the header is over maxHeaderBytes (empty
// lines before a request count too), which has been answered.
func (mc *mirrorConn) roomToRead() bool {
	if len(mc.in) < cap(mc.in) {
		return true
	}
	if cap(mc.in) >= maxHeaderBytes+readBufferSize {
		mc.refuse(errHeaderTooLarge)
		return false
	}
	grown := make([]byte, len(mc.in), min(2*cap(mc.in), maxHeaderBytes+readBufferSize))
	copy(grown, mc.in)
	mc.in = grown
	return true
}

func newMirrorConn(m *HTTPMirror, c net.Conn) *mirrorConn {
	mc := &mirrorConn{m: m, c: c, in: make([]byte, 0, readBufferSize), out: make([]byte, 0, readBufferSize)}
	mc.setNow()
	return mc
}

// serveConn serves a connection on its own goroutine, from what mc.in
// already holds.
func (m *HTTPMirror) serveConn(mc *mirrorConn) {
	c := mc.c
	handed := false
	defer func() {
		if !handed {
			c.Close()
		}
		m.untrack(c)
	}()
	for {
		switch mc.process(true) {
		case stepFlush:
			if !mc.flush() {
				return
			}
			continue
		case stepClose:
			mc.flush()
			return
		case stepNetHTTP:
			if mc.flush() {
				handed = m.hand(c, mc.in)
			}
			return
		}
		if !mc.flush() || m.closing.Load() {
			return
		}
		if !mc.roomToRead() {
			mc.flush()
			return
		}
		if len(mc.in) == 0 && mc.inMemory >= m.loopAfter && m.loops != nil && m.loops.adopt(mc) {
			handed = true // the loop closed c after taking a duplicate
			return
		}
		if !mc.read() {
			return
		}
	}
}

// read reads more of the connection; false when it is over. The clock is
// read once per read, when bytes arrive: the answers to them, their Date
// and their write deadline take that time, a few microseconds off.
func (mc *mirrorConn) read() bool {
	want := mc.now.Add(mc.m.idleTimeout)
	if len(mc.in) > 0 {
		// A request has begun: the rest of its header must follow soon.
		want = mc.now.Add(mc.m.headerTimeout)
		if err := mc.c.SetReadDeadline(want); err != nil {
			return false
		}
		mc.readDeadline = time.Time{} // not idle: set again when it is
	} else if want.Sub(mc.readDeadline) > deadlineSlack {
		if err := mc.c.SetReadDeadline(want); err != nil {
			return false
		}
		mc.readDeadline = want
	}
	// After the deadline is set: Shutdown sets closing before it moves
	// every deadline to now.
	if mc.m.closing.Load() {
		return false
	}
	n, err := mc.c.Read(mc.in[len(mc.in):cap(mc.in)])
	mc.setNow()
	mc.in = mc.in[:len(mc.in)+n]
	return err == nil || n > 0 && err == io.EOF
}

// flush writes the gathered answers; false when the connection failed.
func (mc *mirrorConn) flush() bool {
	if len(mc.out) == 0 {
		return true
	}
	if want := mc.now.Add(mc.m.writeTimeout); want.Sub(mc.writeDeadline) > deadlineSlack {
		if err := mc.c.SetWriteDeadline(want); err != nil {
			return false
		}
		mc.writeDeadline = want
	}
	_, err := mc.c.Write(mc.out)
	mc.out = mc.out[:0]
	return err == nil
}

func (mc *mirrorConn) setNow() { mc.setClock(time.Now()) }

func (mc *mirrorConn) setClock(now time.Time) {
	mc.now = now
	if s := now.Unix(); s != mc.dateSec {
		mc.dateSec = s
		mc.date = append(append(append(mc.date[:0], "Date: "...), mc.now.UTC().Format(http.TimeFormat)...), "\r\n"...)
	}
}

// hand gives the connection to net/http with the bytes read and not yet
// answered; false when the server is shutting down.
func (m *HTTPMirror) hand(c net.Conn, unread []byte) bool {
	_ = c.SetDeadline(time.Time{}) // net/http sets its own
	m.handed.Add(1)
	pc := &prefixConn{Conn: c, prefix: bytes.Clone(unread)}
	if rf, ok := c.(io.ReaderFrom); ok {
		// net/http sends a file with the connection's ReadFrom, which
		// is sendfile on TCP: firmware images are tens of megabytes.
		return m.handoff.give(&prefixReaderFrom{pc, rf})
	}
	return m.handoff.give(pc)
}

// outcome is what answer did with a request.
type outcome uint8

const (
	answered     outcome = iota // answer appended; the connection stays
	answeredLast                // answer appended; the connection closes after it
	forNetHTTP                  // not answered: net/http must (files on disk, ranges)
	forGoroutine                // not answered: it needs a store read, which an event loop must not wait for
)

// answer appends the answer to req, unless the outcome says otherwise.
// With mayBlock false, a request that needs the store is left alone.
func (mc *mirrorConn) answer(req wireRequest, mayBlock bool) outcome {
	m := mc.m
	keep := !req.close
	done := answered
	if !keep {
		done = answeredLast
	}
	head := string(req.method) == http.MethodHead
	if !head && string(req.method) != http.MethodGet {
		m.s.m.http.WithLabelValues(kindRefused, "405").Inc()
		mc.plain(http.StatusMethodNotAllowed, "only GET and HEAD", head, keep, "Allow: GET, HEAD\r\n")
		return done
	}
	name, err := requestPath(req.target)
	if err != nil {
		m.s.m.http.WithLabelValues(kindRefused, "400").Inc()
		mc.plain(http.StatusBadRequest, "malformed request target", head, false, "")
		return answeredLast
	}
	creq, err := Classify(trimSlash(name))
	var f *file
	var hit *cached // a kept config: answered without allocating
	if err == nil {
		if creq.Kind == KindStatic || creq.Kind == KindTrust {
			if !m.s.content.missing(creq) {
				return forNetHTTP // files on disk: ServeContent, sendfile and ranges
			}
			// Every booting phone asks for trust lists a cluster without
			// security does not have: answered here, the connection stays.
			err = errAbsent
		} else if e, absent := m.s.content.cachedDevice(creq); e != nil {
			hit = e
		} else if absent {
			// An unknown phone asking again: no read, no allocation.
			err = errNoDevice
		} else if !mayBlock {
			return forGoroutine
		} else {
			f, err = m.s.openRequest(creq)
		}
	}
	switch {
	case errors.Is(err, ErrBadName):
		m.s.m.http.WithLabelValues(kindRefused, "400").Inc()
		mc.plain(http.StatusBadRequest, err.Error(), head, keep, "")
		return done
	case errors.Is(err, ErrNotFound):
		m.notFound.Inc()
		mc.plain(http.StatusNotFound, "not found", head, keep, "")
		return done
	case err != nil:
		m.s.log.Warn("http config request failed", "file", clip(name), "err", err)
		m.s.m.http.WithLabelValues("error", "500").Inc()
		mc.plain(http.StatusInternalServerError, "internal error", head, keep, "")
		return done
	}
	kind := KindDevice
	if hit == nil {
		defer f.Close()
		if f.data == nil {
			return forNetHTTP
		}
		hit, kind = &cached{fileName: f.name, data: f.data, length: f.length}, f.kind
	}
	m.ok[kind].Inc()
	o := append(mc.out, "HTTP/1.1 200 OK\r\nAccept-Ranges: bytes\r\nCache-Control: no-cache\r\nContent-Length: "...)
	o = append(o, hit.length[0]...)
	o = append(o, "\r\nContent-Type: "...)
	if hasSuffixFold(hit.fileName, ".xml") {
		o = append(o, xmlType[0]...)
	} else {
		o = append(o, octetType[0]...)
	}
	o = append(o, "\r\n"...)
	o = append(o, mc.date...)
	if !keep {
		o = append(o, "Connection: close\r\n"...)
	}
	o = append(o, "\r\n"...)
	if !head {
		o = append(o, hit.data...)
	}
	mc.out = o
	return done
}

// plain appends an error answer as http.Error writes it.
func (mc *mirrorConn) plain(code int, msg string, head, keep bool, extra string) {
	o := append(mc.out, "HTTP/1.1 "...)
	o = strconv.AppendInt(o, int64(code), 10)
	o = append(o, ' ')
	o = append(o, http.StatusText(code)...)
	o = append(o, "\r\n"...)
	o = append(o, extra...)
	o = append(o, "Content-Length: "...)
	o = strconv.AppendInt(o, int64(len(msg)+1), 10)
	o = append(o, "\r\nContent-Type: text/plain; charset=utf-8\r\n"...)
	o = append(o, mc.date...)
	o = append(o, "X-Content-Type-Options: nosniff\r\n"...)
	if !keep {
		o = append(o, "Connection: close\r\n"...)
	}
	o = append(o, "\r\n"...)
	if !head {
		o = append(append(o, msg...), '\n')
	}
	mc.out = o
}

// refuse answers a request that could not be read; the connection closes.
func (mc *mirrorConn) refuse(err error) {
	code := http.StatusBadRequest
	switch {
	case errors.Is(err, errHeaderTooLarge):
		code = http.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, errBadVersion):
		code = http.StatusHTTPVersionNotSupported
	}
	mc.m.s.m.http.WithLabelValues(kindRefused, strconv.Itoa(code)).Inc()
	mc.plain(code, err.Error(), false, false, "")
}

func trimSlash(p string) string {
	if len(p) > 0 && p[0] == '/' {
		return p[1:]
	}
	return p
}

// prefixConn is a connection whose first bytes were already read.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// prefixReaderFrom is a prefixConn that writes files as its connection
// does.
type prefixReaderFrom struct {
	*prefixConn
	rf io.ReaderFrom
}

func (p *prefixReaderFrom) ReadFrom(r io.Reader) (int64, error) { return p.rf.ReadFrom(r) }

// connListener hands connections to an http.Server.
type connListener struct {
	conns  chan net.Conn
	done   chan struct{}
	once   sync.Once
	addr   net.Addr
	closed atomic.Bool
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) give(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		c.Close()
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr {
	if l.addr == nil {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	}
	return l.addr
}
