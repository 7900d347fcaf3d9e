package phonesim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"selfprov/phonecfg"
)

// maxFile bounds a downloaded file; configs are a few kilobytes.
const maxFile = 1 << 20

// ErrNotFound is returned when neither HTTP nor TFTP has the file.
var ErrNotFound = errors.New("phonesim: file not found")

// notFound is ErrNotFound for one file over one protocol. Its message is
// made only when asked for: a phone meets several a boot (no CTL, no
// ITL, no config yet) and drops them unread.
type notFound struct{ proto, name, detail string }

func (e *notFound) Error() string {
	return ErrNotFound.Error() + ": " + e.proto + " " + e.name + ": " + e.detail
}

func (e *notFound) Is(target error) bool { return target == ErrNotFound }

// Fetcher downloads boot files the way phones do: HTTP on port 6970
// first, then TFTP.
type Fetcher struct {
	// TFTP is the TFTP server host:port; "" disables TFTP.
	TFTP string
	// HTTP is the host:port of the HTTP config mirror (6970); "" means TFTP only.
	HTTP string
	// Client is used for HTTP; nil means a default with a 5 s timeout.
	Client *http.Client
	// Timeout is the TFTP retransmission timeout (default 1 s, 5 retries).
	Timeout time.Duration
	// Retries is how often a download that failed for another reason than
	// "not found" (a busy server, a timeout) is tried again, after 0.5 s,
	// 1 s, ...; default 0.
	Retries int
	// TrustHTTPNotFound takes an HTTP 404 as the answer instead of asking
	// TFTP too; by default any HTTP failure falls back to TFTP.
	TrustHTTPNotFound bool
}

// Via names the protocol a file came over.
type Via string

const (
	ViaHTTP Via = "HTTP"
	ViaTFTP Via = "TFTP"
)

// Fetch returns the file, and the protocol that delivered it. A file that
// neither protocol has is ErrNotFound; other failures are returned as they
// are so a phone can tell "unknown" from "server down".
// trace, if set, is called before each request (dir "->") and after its
// answer (dir "<-").
func (f *Fetcher) Fetch(ctx context.Context, name string, trace func(proto Via, dir, line string)) ([]byte, Via, error) {
	for attempt := 0; ; attempt++ {
		b, via, err := f.fetchOnce(ctx, name, trace)
		if err == nil || errors.Is(err, ErrNotFound) || attempt >= f.Retries || ctx.Err() != nil {
			return b, via, err
		}
		t := time.NewTimer(time.Duration(attempt+1) * 500 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, via, ctx.Err()
		}
	}
}

func (f *Fetcher) fetchOnce(ctx context.Context, name string, trace func(proto Via, dir, line string)) ([]byte, Via, error) {
	var httpErr error
	if f.HTTP != "" {
		if trace != nil {
			trace(ViaHTTP, "->", "GET http://"+f.HTTP+"/"+name)
		}
		b, err := f.fetchHTTP(ctx, name)
		if trace != nil {
			trace(ViaHTTP, "<-", outcome(b, err))
		}
		if err == nil {
			return b, ViaHTTP, nil
		}
		httpErr = err
		if f.TrustHTTPNotFound && errors.Is(err, ErrNotFound) {
			return nil, ViaHTTP, err
		}
	}
	if f.TFTP == "" {
		return nil, ViaHTTP, httpErr
	}
	if trace != nil {
		trace(ViaTFTP, "->", "RRQ "+name+" octet to "+f.TFTP)
	}
	b, err := f.fetchTFTP(ctx, name)
	if trace != nil {
		trace(ViaTFTP, "<-", outcome(b, err))
	}
	if err != nil {
		return nil, ViaTFTP, err
	}
	return b, ViaTFTP, nil
}

func outcome(b []byte, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d bytes", len(b))
}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return defaultHTTP
}

var defaultHTTP = &http.Client{Timeout: 5 * time.Second}

// httpClient is the client for the XML service and client provisioning.
func (e *Env) httpClient() *http.Client {
	if e.HTTP != nil {
		return e.HTTP
	}
	return defaultHTTP
}

func (f *Fetcher) fetchHTTP(ctx context.Context, name string) ([]byte, error) {
	r, err := httpGet(ctx, f.client(), "http://"+f.HTTP+"/"+name, nil, maxFile)
	if err != nil {
		return nil, fmt.Errorf("phonesim: HTTP %s: %w", name, err)
	}
	switch {
	case r.StatusCode == http.StatusNotFound:
		return nil, &notFound{proto: "HTTP", name: name, detail: "404"}
	case r.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("phonesim: HTTP %s: status %d", name, r.StatusCode)
	case len(r.Body) > maxFile:
		return nil, fmt.Errorf("phonesim: HTTP %s: larger than %d bytes", name, maxFile)
	}
	return r.Body, nil
}

// errBadURL is a URL that cannot be requested.
var errBadURL = errors.New("phonesim: bad URL")

// httpGet GETs url with header (name, value pairs) through c and reads up
// to limit+1 bytes of the body. A plain http URL on a KeepAliveTransport
// takes its Get; a redirect, another URL or another client goes through
// c.Do.
func httpGet(ctx context.Context, c *http.Client, url string, header []string, limit int64) (Reply, error) {
	if ka, ok := c.Transport.(*KeepAliveTransport); ok && c.Jar == nil {
		if host, path, ok := plainHTTP(url); ok {
			if c.Timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.Timeout)
				defer cancel()
			}
			r, err := ka.Get(ctx, host, path, header, limit)
			if err != nil || r.StatusCode/100 != 3 {
				return r, err
			}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Reply{}, fmt.Errorf("%w: %w", errBadURL, err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer res.Body.Close()
	b, err := readBody(res, limit)
	if err != nil {
		return Reply{}, err
	}
	return Reply{StatusCode: res.StatusCode, Status: res.Status, Body: b}, nil
}

// plainHTTP splits an http URL with a port into host:port and the path
// with its query, when it can be sent as it is: nothing to escape, no
// fragment, no user info.
func plainHTTP(url string) (host, path string, ok bool) {
	rest, ok := strings.CutPrefix(url, "http://")
	if !ok {
		return "", "", false
	}
	host, path = rest, "/"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		host, path = rest[:i], rest[i:]
	}
	if _, port, err := net.SplitHostPort(host); err != nil || port == "" || strings.ContainsAny(host, "@?#") {
		return "", "", false
	}
	for i := range len(path) {
		if c := path[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return "", "", false
		}
	}
	return host, path, true
}

func (f *Fetcher) fetchTFTP(ctx context.Context, name string) ([]byte, error) {
	t := f.Timeout
	if t <= 0 {
		t = time.Second
	}
	return fetchTFTP(ctx, f.TFTP, name, t, 5)
}

// lastDefault is the XMLDefault.cnf.xml parsed last. Every unknown phone
// of a fleet fetches the same bytes, so they are parsed once and the
// config, which phones only read, is shared. Device configs differ per
// phone and are always parsed.
var lastDefault atomic.Pointer[parsedDefault]

type parsedDefault struct {
	data []byte
	cfg  *phonecfg.Config
}

func parseConfig(b []byte) (*phonecfg.Config, error) {
	if p := lastDefault.Load(); p != nil && bytes.Equal(p.data, b) {
		return p.cfg, nil
	}
	cfg, err := phonecfg.Parse(b)
	if err == nil && cfg.Default != nil {
		lastDefault.Store(&parsedDefault{data: bytes.Clone(b), cfg: cfg})
	}
	return cfg, err
}

// readBody reads up to limit+1 bytes of res's body, so that a caller can
// tell a body over the limit. A body whose length is announced is read
// into one buffer of that size instead of one grown from 512 bytes.
func readBody(res *http.Response, limit int64) ([]byte, error) {
	r := io.LimitReader(res.Body, limit+1)
	if n := res.ContentLength; n >= 0 && n <= limit {
		b := make([]byte, 0, n+1) // +1: room to see the end, or a longer body
		for {
			m, err := r.Read(b[len(b):cap(b)])
			b = b[:len(b)+m]
			if err == io.EOF {
				return b, nil
			}
			if err != nil {
				return b, err
			}
			if len(b) == cap(b) {
				rest, err := io.ReadAll(r)
				return append(b, rest...), err
			}
		}
	}
	return io.ReadAll(r)
}
