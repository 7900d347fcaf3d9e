package phonesim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
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

// Get GETs path from addr (host:port) on a kept-alive connection, with
// header as name, value pairs, and reads up to limit+1 bytes of the body
// so that a caller can tell a body over the limit. It writes the request
// and reads the answer itself, without an http.Request or http.Response:
// in a boot storm these GETs are most of what a phone does, and net/http's
// general request writer and header maps cost more than the rest of the
// exchange outside the kernel. Redirects are not followed.
func (t *KeepAliveTransport) Get(ctx context.Context, addr, path string, header []string, limit int64) (Reply, error) {
	for {
		c, reused, err := t.conn(ctx, addr)
		if err != nil {
			return Reply{}, err
		}
		r, keep, err := t.get(ctx, c, addr, path, header, limit)
		if err == nil {
			if keep {
				// Its deadline stays: every exchange sets its own first.
				t.put(addr, c)
			} else {
				_ = c.Close()
			}
			return r, nil
		}
		_ = c.Close()
		if !reused || ctx.Err() != nil {
			return Reply{}, err
		}
	}
}

// Reply is a GET's answer.
type Reply struct {
	StatusCode int
	Status     string // "200 OK"
	Body       []byte // up to the limit+1 bytes
}

func (t *KeepAliveTransport) get(ctx context.Context, c *kaConn, addr, path string, header []string, limit int64) (r Reply, keep bool, err error) {
	deadline, ok := ctx.Deadline()
	if t.Timeout > 0 && (!ok || time.Until(deadline) > t.Timeout) {
		deadline = time.Now().Add(t.Timeout)
	}
	_ = c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(longAgo) })
	r, keep, err = exchangeGet(c.br, c.bw, addr, path, header, limit)
	keep = keep && c.br.Buffered() == 0 // more than the answer: out of step
	if !stop() {
		// The context ended during the exchange and may have spoilt
		// the deadline: the connection is not kept.
		keep = false
		if err != nil {
			err = ctx.Err()
		}
	}
	return r, keep, err
}

// exchangeGet writes a GET and reads its answer: status line, headers,
// and a body by Content-Length, chunked, or up to the end of the
// connection. keep reports whether the connection may carry another
// request.
func exchangeGet(br *bufio.Reader, bw *bufio.Writer, host, path string, header []string, limit int64) (r Reply, keep bool, err error) {
	bw.WriteString("GET ")
	bw.WriteString(path)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	for i := 0; i+1 < len(header); i += 2 {
		bw.WriteString(header[i])
		bw.WriteString(": ")
		bw.WriteString(header[i+1])
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		return Reply{}, false, err
	}
	for {
		r, keep, err = readReply(br, limit)
		// An interim answer (100 Continue and the like) precedes the real one.
		if err != nil || r.StatusCode >= 200 || r.StatusCode == http.StatusSwitchingProtocols {
			return r, keep, err
		}
	}
}

// errMalformedReply is an answer that is not HTTP/1.x.
var errMalformedReply = errors.New("phonesim: malformed HTTP answer")

func readReply(br *bufio.Reader, limit int64) (r Reply, keep bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return Reply{}, false, err
	}
	// HTTP/1.x NNN reason
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return Reply{}, false, fmt.Errorf("%w: status line %q", errMalformedReply, line)
	}
	http11 := line[7] == '1'
	code, ok := threeDigits(line[9:12])
	if !ok || len(line) > 12 && line[12] != ' ' {
		return Reply{}, false, fmt.Errorf("%w: status line %q", errMalformedReply, line)
	}
	r.StatusCode = code
	r.Status = strings.TrimSpace(string(line[9:]))
	keep = http11
	length, chunked := int64(-1), false
	for {
		line, err := readLine(br)
		if err != nil {
			return r, false, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return r, false, fmt.Errorf("%w: header line %q", errMalformedReply, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || length >= 0 && n != length {
				return r, false, fmt.Errorf("%w: Content-Length %q", errMalformedReply, value)
			}
			length = n
		case asciiEqualFold(name, "Transfer-Encoding"):
			if !asciiEqualFold(value, "chunked") {
				return r, false, fmt.Errorf("%w: Transfer-Encoding %q", errMalformedReply, value)
			}
			chunked = true
		case asciiEqualFold(name, "Connection"):
			for _, tok := range bytes.Split(value, []byte(",")) {
				tok = bytes.TrimSpace(tok)
				if asciiEqualFold(tok, "close") {
					keep = false
				} else if !http11 && asciiEqualFold(tok, "keep-alive") {
					keep = true
				}
			}
		}
	}
	switch {
	case code == http.StatusNoContent || code == http.StatusNotModified || code < 200:
		return r, keep, nil
	case chunked:
		r.Body, err = readChunked(br, limit)
	case length >= 0:
		r.Body, err = readLength(br, length, limit)
		keep = keep && length <= limit
	default:
		// Up to the end of the connection.
		keep = false
		r.Body, err = io.ReadAll(io.LimitReader(br, limit+1))
	}
	if err != nil {
		return r, false, err
	}
	return r, keep && int64(len(r.Body)) <= limit, nil
}

// readLength reads a body of n bytes, or limit+1 of them when n is over
// the limit.
func readLength(br *bufio.Reader, n, limit int64) ([]byte, error) {
	if n > limit {
		n = limit + 1
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// readChunked reads a chunked body up to limit+1 bytes and, when it ends
// within the limit, its trailer.
func readChunked(br *bufio.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(httputil.NewChunkedReader(br), limit+1))
	if err != nil || int64(len(b)) > limit {
		return b, err
	}
	for {
		line, err := readLine(br)
		if err != nil {
			return b, err
		}
		if len(line) == 0 {
			return b, nil
		}
	}
}

// maxReplyLine bounds a status or header line.
const maxReplyLine = 8 << 10

// readLine reads a line without its CRLF (or LF), valid until br's next
// read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > maxReplyLine {
		return nil, fmt.Errorf("%w: a line over %d bytes", errMalformedReply, maxReplyLine)
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func threeDigits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
