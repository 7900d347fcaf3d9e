package registrar

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// limitListener bounds concurrent connections: each sipgo connection
// holds a reader goroutine and a 32 KiB buffer.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	init      sync.Once
	closeOnce sync.Once
	done      chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.init.Do(func() { l.done = make(chan struct{}) })
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
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
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()

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
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.reading = false
	c.mu.Unlock()
	return n, err
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

func (c *limitConn) flushLocked(timeout time.Duration) error {
	if len(c.pending) == 0 {
		return nil
	}
	if h := testHookGatheredWrite.Load(); h != nil {
		(*h)(c.pending)
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.Conn.Write(c.pending)
	c.pending = c.pending[:0]
	if cap(c.pending) > 4<<10 {
		c.pending = nil // a burst's buffer is not kept for a phone's single answers
	}
	return err
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
