package phonesim

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// KeepAliveTransport is an http.RoundTripper for the GETs a phone makes:
// one HTTP/1.1 request at a time on a kept-alive connection, written and
// read on the caller's goroutine. net/http's Transport hands each request
// to two goroutines of its connection and back, which in a boot storm
// took more of the simulator's CPU than the requests' own system calls.
// Other requests (a body, another method or scheme) go to Fallback,
// within the same Timeout.
//
// Use it in an http.Client without a Timeout (the client would then start
// a timer goroutine per request); Timeout here bounds each request.
type KeepAliveTransport struct {
	// Fallback takes what this transport does not; nil means
	// http.DefaultTransport.
	Fallback http.RoundTripper
	// Dial opens connections; nil means a net.Dialer with a 5 s timeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds a request from its write to the end of its body,
	// unless the request's context ends sooner; 0 means no bound.
	Timeout time.Duration
	// MaxIdlePerHost bounds the idle connections kept per host:port
	// (default 1000).
	MaxIdlePerHost int

	mu   sync.Mutex
	idle map[string][]*kaConn
}

type kaConn struct {
	net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// longAgo is a deadline that makes a blocked read or write return.
var longAgo = time.Unix(1, 0)

// RoundTrip implements http.RoundTripper.
func (t *KeepAliveTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.URL.Scheme != "http" || req.Body != nil && req.Body != http.NoBody {
		return t.fallback(req)
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	ctx := req.Context()
	for {
		c, reused, err := t.conn(ctx, addr)
		if err != nil {
			return nil, err
		}
		res, err := t.exchange(ctx, c, addr, req)
		if err == nil {
			return res, nil
		}
		_ = c.Close()
		if !reused || ctx.Err() != nil {
			return nil, err
		}
		// A kept-alive connection the server had closed: a GET may be
		// sent again, on the next idle connection or a new one.
	}
}

// fallback passes req on, bounded by Timeout as well until its body is
// closed.
func (t *KeepAliveTransport) fallback(req *http.Request) (*http.Response, error) {
	rt := t.Fallback
	if rt == nil {
		rt = http.DefaultTransport
	}
	if t.Timeout <= 0 {
		return rt.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.Timeout)
	res, err := rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	res.Body = &cancelBody{ReadCloser: res.Body, cancel: cancel}
	return res, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func (t *KeepAliveTransport) conn(ctx context.Context, addr string) (c *kaConn, reused bool, err error) {
	t.mu.Lock()
	if l := t.idle[addr]; len(l) > 0 {
		c = l[len(l)-1]
		t.idle[addr] = l[:len(l)-1]
		t.mu.Unlock()
		return c, true, nil
	}
	t.mu.Unlock()
	dial := t.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	return &kaConn{Conn: nc, br: bufio.NewReaderSize(nc, 8<<10), bw: bufio.NewWriterSize(nc, 1<<10)}, false, nil
}

func (t *KeepAliveTransport) put(addr string, c *kaConn) {
	max := t.MaxIdlePerHost
	if max <= 0 {
		max = 1000
	}
	t.mu.Lock()
	if t.idle == nil {
		t.idle = make(map[string][]*kaConn)
	}
	if len(t.idle[addr]) < max {
		t.idle[addr] = append(t.idle[addr], c)
		c = nil
	}
	t.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// CloseIdleConnections closes the connections kept for later requests.
func (t *KeepAliveTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, l := range idle {
		for _, c := range l {
			_ = c.Close()
		}
	}
}

func (t *KeepAliveTransport) exchange(ctx context.Context, c *kaConn, addr string, req *http.Request) (*http.Response, error) {
	deadline, ok := ctx.Deadline()
	if t.Timeout > 0 && (!ok || time.Until(deadline) > t.Timeout) {
		deadline = time.Now().Add(t.Timeout)
	}
	_ = c.SetDeadline(deadline) // zero: none
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(longAgo) })
	err := req.Write(c.bw)
	if err == nil {
		err = c.bw.Flush()
	}
	var res *http.Response
	if err == nil {
		res, err = http.ReadResponse(c.br, req)
	}
	if err != nil {
		stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	b := &kaBody{body: res.Body, t: t, c: c, addr: addr, stop: stop, keep: !res.Close}
	if res.Body == http.NoBody {
		b.finish(true)
		return res, nil
	}
	res.Body = b
	return res, nil
}

// kaBody gives the connection back once its response has been read to
// the end, and closes it if the body is closed before.
type kaBody struct {
	body io.ReadCloser
	t    *KeepAliveTransport
	c    *kaConn
	addr string
	stop func() bool
	keep bool
	done bool
}

func (b *kaBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

func (b *kaBody) Close() error {
	b.finish(false)
	return nil
}

func (b *kaBody) finish(atEnd bool) {
	if b.done {
		return
	}
	b.done = true
	// stop false: the context ended and may have spoilt the deadline.
	if b.stop() && atEnd && b.keep && b.c.br.Buffered() == 0 {
		_ = b.c.SetDeadline(time.Time{})
		b.t.put(b.addr, b.c)
		return
	}
	_ = b.c.Close()
}
