package registrar

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// conns tracks the TCP and TLS connections of both listeners: the global
// and per-source caps, and which connections carry a binding. Each sipgo
// connection holds a reader goroutine and a 32 KiB buffer, so their
// number is bounded; the per-source cap keeps one host from taking them
// all, and the idle timeout returns the slots of connections that never
// register.
type conns struct {
	max, perSource int
	idle           time.Duration
	// evictAfter: at the global cap, a connection without a binding that
	// has sent nothing for this long is closed to make room.
	evictAfter time.Duration
	now        func() time.Time // of lastRead and evictAfter (the server's clock)
	m          *metrics

	mu       sync.Mutex
	total    int
	bySource map[netip.Addr]int
	// byRemote holds the open connections by remote ip:port, as a
	// binding's Source; read on every 200 to a REGISTER over TCP or TLS,
	// so without a lock.
	byRemote sync.Map // string → *limitConn
}

func newConns(max, perSource int, idle time.Duration, now func() time.Time, m *metrics) *conns {
	return &conns{max: max, perSource: perSource, idle: idle, evictAfter: min(idle, 5*time.Second), now: now, m: m,
		bySource: map[netip.Addr]int{}}
}

// evictBatch is how many silent connections one eviction closes at most:
// one scan of the table makes room for the next few arrivals too.
const evictBatch = 8

// evict closes up to evictBatch connections that carry no binding and
// have sent nothing for evictAfter, the longest silent first, and returns
// how many. It runs only when every slot is taken: many hosts each at
// their per-source cap would otherwise keep new phones out until the
// idle timeout.
func (t *conns) evict() int {
	type cand struct {
		c    *limitConn
		last int64
	}
	var victims []cand
	limit := t.now().Add(-t.evictAfter).UnixNano()
	now := time.Now()
	t.byRemote.Range(func(_, v any) bool {
		c := v.(*limitConn)
		last := c.lastRead.Load()
		if c.boundUntil.Load() > now.UnixNano() || last > limit {
			return true
		}
		if len(victims) < evictBatch {
			victims = append(victims, cand{c, last})
			return true
		}
		// Keep the longest silent: replace the newest kept one if older.
		newest := 0
		for i := range victims {
			if victims[i].last > victims[newest].last {
				newest = i
			}
		}
		if last < victims[newest].last {
			victims[newest] = cand{c, last}
		}
		return true
	})
	for _, v := range victims {
		_ = v.c.Close()
		t.m.connClosed(connClosedEvicted)
	}
	return len(victims)
}

// admit takes a slot for a connection from ap, or says why not.
func (t *conns) admit(ap netip.AddrPort) (refused string) {
	a := ap.Addr().Unmap()
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.total >= t.max:
		return connClosedCap
	case t.bySource[a] >= t.perSource:
		return connClosedSourceCap
	}
	t.total++
	t.bySource[a]++
	return ""
}

func (t *conns) add(c *limitConn) { t.byRemote.Store(c.remote, c) }

func (t *conns) release(c *limitConn) {
	a := c.source.Addr().Unmap()
	t.mu.Lock()
	t.total--
	if t.bySource[a]--; t.bySource[a] <= 0 {
		delete(t.bySource, a)
	}
	t.mu.Unlock()
	t.byRemote.CompareAndDelete(c.remote, c)
}

// open is the number of open connections.
func (t *conns) open() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// lookup returns the open connection from remote over tr (TCP or TLS),
// or nil.
func (t *conns) lookup(tr Transport, remote string) *limitConn {
	v, ok := t.byRemote.Load(remote)
	if !ok {
		return nil
	}
	if c := v.(*limitConn); c.transport == tr {
		return c
	}
	return nil
}

// bind keeps the connection from remote over tr open until at least
// until: it carries a binding, and the NOTIFY of a reset must find it.
func (t *conns) bind(tr Transport, remote string, until time.Time) {
	c := t.lookup(tr, remote)
	if c == nil {
		return
	}
	n := until.UnixNano()
	for {
		old := c.boundUntil.Load()
		if old >= n || c.boundUntil.CompareAndSwap(old, n) {
			return
		}
	}
}

// limitListener admits connections through conns. It never blocks on a
// cap: a connection over one is accepted and closed at once, so the
// phones of other sources are still accepted while one source is at its
// cap.
type limitListener struct {
	net.Listener
	transport Transport // TCP or TLS
	conns     *conns
	init      sync.Once
	closeOnce sync.Once
	done      chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.init.Do(func() { l.done = make(chan struct{}) })
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case <-l.done:
				return nil, net.ErrClosed
			default:
			}
			if !temporaryAccept(err) {
				return nil, err
			}
			// Out of descriptors or an aborted handshake: wait a little,
			// as net/http does, rather than end the accept loop (which
			// would stop the daemon).
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-l.done:
				return nil, net.ErrClosed
			}
			continue
		}
		backoff = 0
		var ap netip.AddrPort
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			ap = ta.AddrPort()
		} else {
			ap, _ = netip.ParseAddrPort(c.RemoteAddr().String())
		}
		why := l.conns.admit(ap)
		if why == connClosedCap && l.conns.evict() > 0 {
			why = l.conns.admit(ap)
		}
		if why != "" {
			// Counted first: whoever sees the close sees it counted.
			l.conns.m.connClosed(why)
			_ = c.Close()
			continue
		}
		lc := &limitConn{Conn: c, conns: l.conns, transport: l.transport, source: ap, remote: c.RemoteAddr().String()}
		lc.lastRead.Store(l.conns.now().UnixNano())
		l.conns.add(lc)
		return lc, nil
	}
}

// temporaryAccept reports an Accept error after which accepting goes on.
func temporaryAccept(err error) bool {
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (l *limitListener) Close() error {
	l.init.Do(func() { l.done = make(chan struct{}) })
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn is an accepted stream connection. Besides freeing its slot
// on Close, it gathers the answers written while its reader works through
// what one Read returned, and sends them in one write just before the
// next Read. A phone sends one REGISTER at a time and sees no change; a
// proxy or SIPp sending many at once gets their answers in one segment
// instead of one write each, and on loopback each write also carries the
// receiver's TCP work. An answer is never held while the reader waits in
// Read: it is written at once then.
//
// Its reads carry the idle timeout: a connection that has sent nothing for
// Options.IdleTimeout and carries no binding is closed; one that carries
// a binding lives until the binding expires.
type limitConn struct {
	net.Conn
	conns      *conns
	transport  Transport
	source     netip.AddrPort
	remote     string
	boundUntil atomic.Int64 // unix ns until which a binding keeps it open
	lastRead   atomic.Int64 // unix ns of the last bytes read, or of the accept
	once       sync.Once

	mu      sync.Mutex
	reading bool   // the reader waits in Read
	pending []byte // gathered answers
}

// maxGathered bounds the answers gathered before they are written anyway.
const maxGathered = 64 << 10

// testHookGatheredWrite, when a test sets it, sees every write of gathered
// answers.
var testHookGatheredWrite atomic.Pointer[func(data []byte)]

func (c *limitConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if err := c.flushLocked(streamWriteTimeout); err != nil {
		c.mu.Unlock()
		_ = c.Close()
		return 0, err
	}
	c.reading = true
	c.mu.Unlock()
	n, err := c.readIdle(p)
	c.mu.Lock()
	c.reading = false
	c.mu.Unlock()
	return n, err
}

// readIdle reads with the idle deadline, extended while a binding keeps
// the connection: the REGISTER that made it may have been answered after
// this read began.
func (c *limitConn) readIdle(p []byte) (int, error) {
	for {
		now := time.Now()
		_ = c.Conn.SetReadDeadline(c.deadline(now))
		n, err := c.Conn.Read(p)
		if n > 0 {
			c.lastRead.Store(c.conns.now().UnixNano())
		}
		if n > 0 || err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if time.Now().UnixNano() < c.boundUntil.Load() {
			continue
		}
		c.conns.m.connClosed(connClosedIdle)
		return 0, err
	}
}

// deadline is when the connection goes if nothing more comes.
func (c *limitConn) deadline(now time.Time) time.Time {
	d := now.Add(c.conns.idle)
	if b := c.boundUntil.Load(); b > d.UnixNano() {
		d = time.Unix(0, b)
	}
	return d
}

// gather writes data before the reader's next Read, or now if the reader
// is waiting in Read.
func (c *limitConn) gather(data []byte, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = append(c.pending, data...)
	if c.reading || len(c.pending) >= maxGathered {
		return c.flushLocked(timeout)
	}
	return nil
}

// Write writes p now, after any gathered answers, within the stream
// write timeout. sipgo writes its keep-alive pong through it.
func (c *limitConn) Write(p []byte) (int, error) {
	if err := c.writeNow(p, streamWriteTimeout); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeNow writes the gathered answers and data in one write, waiting at
// most timeout.
func (c *limitConn) writeNow(data []byte, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = append(c.pending, data...)
	return c.flushLocked(timeout)
}

// SetWriteDeadline is ignored: every write sets its own deadline, so one
// left by an earlier write (or by a caller) cannot fail a later one, such
// as the pong to a keep-alive long after the last answer.
func (c *limitConn) SetWriteDeadline(time.Time) error { return nil }

// flushLocked writes the gathered answers; the deadline covers this write
// only and is cleared after it.
func (c *limitConn) flushLocked(timeout time.Duration) error {
	if len(c.pending) == 0 {
		return nil
	}
	if h := testHookGatheredWrite.Load(); h != nil {
		(*h)(c.pending)
	}
	_, err := writeWithin(c.Conn, c.pending, timeout)
	_ = c.Conn.SetWriteDeadline(time.Time{})
	c.pending = c.pending[:0]
	if cap(c.pending) > 4<<10 {
		c.pending = nil // a burst's buffer is not kept for a phone's single answers
	}
	return err
}

// deadlineWriter is a connection whose writes can be bounded in time.
type deadlineWriter interface {
	io.Writer
	SetWriteDeadline(time.Time) error
}

// writeWithin writes data, waiting at most timeout for room in the send
// buffer. A deadline that passed before the write began (the process
// waited that long for a CPU between setting it and writing, as on a
// loaded machine) fails the write with nothing written, though there was
// room: that write is tried once more with a fresh deadline, so only a
// connection that stays full for the timeout fails.
func writeWithin(w deadlineWriter, data []byte, timeout time.Duration) (int, error) {
	_ = w.SetWriteDeadline(time.Now().Add(timeout))
	n, err := w.Write(data)
	if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		_ = w.SetWriteDeadline(time.Now().Add(timeout))
		n, err = w.Write(data)
	}
	return n, err
}

// Close frees the connection's slot, then closes it: whoever sees it
// closed finds the slot free already, so a phone that reconnects at once,
// at its source's cap, is not refused for the slot it just left. (A TLS
// close writes its alert first, which the phone may read well before
// Close returns.)
func (c *limitConn) Close() error {
	c.once.Do(func() { c.conns.release(c) })
	return c.Conn.Close()
}
