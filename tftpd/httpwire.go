package tftpd

import (
	"bytes"
	"errors"
	"net/url"
	"strconv"
)

// The HTTP/1.1 request reader of the mirror's fast path. It reads the
// request line and the header fields and decides nothing: what it cannot
// describe completely (a body, an absolute URI, HTTP/1.0) is marked for
// net/http, which then reads the same bytes again.

// maxHeaderBytes bounds a request line and its header fields together,
// as http.Server.MaxHeaderBytes did for the mirror.
const maxHeaderBytes = 8 << 10

// Errors of the request reader, each answered with its status before the
// connection is closed.
var (
	errHeaderTooLarge = errors.New("request header fields too large")   // 431
	errMalformed      = errors.New("malformed request")                 // 400
	errNoHost         = errors.New("missing required Host header")      // 400
	errBadVersion     = errors.New("unsupported HTTP version")          // 505
	errBadMethod      = errors.New("invalid method")                    // 400
	errBadTarget      = errors.New("invalid request target")            // 400
	errBadField       = errors.New("invalid header field")              // 400
	errDupLength      = errors.New("conflicting Content-Length values") // 400
)

// wireRequest is one request as read off the connection. Its byte slices
// point into the connection's buffer and are valid until the next read.
type wireRequest struct {
	method []byte
	target []byte // as sent, escapes and query included
	minor  byte   // HTTP/1.<minor>
	host   bool
	close  bool // Connection: close
	// netHTTP: the fast path does not answer this request (a body, a
	// range, Expect, HTTP/1.0, a target other than an absolute path).
	netHTTP bool
}

// readRequest reads the request at the start of b. n is the number of
// bytes it takes; n == 0 with a nil error means b holds only a beginning
// of one, and more must be read. Empty lines before a request are skipped
// (RFC 9112, 2.2), and counted in n.
func readRequest(b []byte) (r wireRequest, n int, err error) {
	for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
		n++
	}
	if n == len(b) {
		if n > maxHeaderBytes {
			return r, 0, errHeaderTooLarge
		}
		return r, 0, nil
	}
	start := n
	end := bytes.Index(b[start:], []byte("\n\r\n"))
	lf := bytes.Index(b[start:], []byte("\n\n"))
	if end < 0 || (lf >= 0 && lf < end) {
		end = lf
		if end >= 0 {
			end += start + 2 // past "\n\n"
		}
	} else {
		end += start + 3 // past "\n\r\n"
	}
	if end < 0 {
		// The request line itself may end without a header field.
		if i := bytes.IndexByte(b[start:], '\n'); i >= 0 {
			if err := checkRequestLine(b[start : start+i+1]); err != nil {
				return r, 0, err
			}
		}
		if len(b)-start > maxHeaderBytes {
			return r, 0, errHeaderTooLarge
		}
		return r, 0, nil
	}
	if end-start > maxHeaderBytes {
		return r, 0, errHeaderTooLarge
	}
	head := b[start:end]
	i := bytes.IndexByte(head, '\n')
	line := trimCR(head[:i])
	if err := parseRequestLine(line, &r); err != nil {
		return r, 0, err
	}
	contentLength := -1
	for rest := head[i+1:]; len(rest) > 0; {
		j := bytes.IndexByte(rest, '\n')
		field := trimCR(rest[:j])
		rest = rest[j+1:]
		if len(field) == 0 {
			break
		}
		name, value, err := splitField(field)
		if err != nil {
			return r, 0, err
		}
		switch {
		case fieldIs(name, "host"):
			if r.host {
				return r, 0, errBadField // net/http refuses two Host fields too
			}
			r.host = true
		case fieldIs(name, "connection"):
			if hasToken(value, "close") {
				r.close = true
			}
		case fieldIs(name, "content-length"):
			v, err := strconv.ParseUint(string(value), 10, 63)
			if err != nil || len(value) == 0 || value[0] == '+' {
				return r, 0, errBadField
			}
			if contentLength >= 0 && int(v) != contentLength {
				return r, 0, errDupLength
			}
			contentLength = int(v)
			if v > 0 {
				r.netHTTP = true
			}
		case fieldIs(name, "transfer-encoding"), fieldIs(name, "range"), fieldIs(name, "expect"),
			fieldIs(name, "upgrade"), fieldIs(name, "if-range"):
			r.netHTTP = true
		}
	}
	if r.minor == 0 {
		r.netHTTP = true // keep-alive by request, no Host required: net/http knows 1.0
	} else if !r.host {
		return r, 0, errNoHost
	}
	return r, end, nil
}

// checkRequestLine refuses a request line early, before its header fields
// have all arrived: a client sending garbage is answered at once.
func checkRequestLine(line []byte) error {
	var r wireRequest
	return parseRequestLine(trimCR(line[:len(line)-1]), &r)
}

func parseRequestLine(line []byte, r *wireRequest) error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errMalformed
	}
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp2 <= sp1+1 {
		return errMalformed
	}
	r.method, r.target = line[:sp1], line[sp1+1:sp2]
	for _, c := range r.method {
		if !isTokenChar(c) {
			return errBadMethod
		}
	}
	for _, c := range r.target {
		if c <= ' ' || c == 0x7f {
			return errBadTarget
		}
	}
	proto := line[sp2+1:]
	switch {
	case string(proto) == "HTTP/1.1":
		r.minor = 1
	case string(proto) == "HTTP/1.0":
		r.minor = 0
	case len(proto) > 5 && string(proto[:5]) == "HTTP/":
		return errBadVersion
	default:
		return errMalformed
	}
	if r.target[0] != '/' {
		r.netHTTP = true // absolute-form, authority-form or "*"
	}
	return nil
}

// splitField splits "name: value" and trims the value's white space.
func splitField(f []byte) (name, value []byte, err error) {
	c := bytes.IndexByte(f, ':')
	if c <= 0 {
		return nil, nil, errBadField
	}
	name = f[:c]
	for _, ch := range name {
		if !isTokenChar(ch) {
			return nil, nil, errBadField // also a space before the colon
		}
	}
	value = bytes.Trim(f[c+1:], " \t")
	for _, ch := range value {
		if ch < ' ' && ch != '\t' || ch == 0x7f {
			return nil, nil, errBadField
		}
	}
	return name, value, nil
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// fieldIs compares a field name with a lower-case one.
func fieldIs(name []byte, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// hasToken reports a comma-separated token, case-insensitively.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var part []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			part, v = v[:i], v[i+1:]
		} else {
			part, v = v, nil
		}
		if fieldIs(bytes.Trim(part, " \t"), token) {
			return true
		}
	}
	return false
}

// isTokenChar: RFC 9110 tchar.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// requestPath is the decoded path of an origin-form target, without its
// query, as net/http's URL.Path.
func requestPath(target []byte) (string, error) {
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	if i := bytes.IndexByte(target, '#'); i >= 0 {
		return "", errBadTarget
	}
	if bytes.IndexByte(target, '%') < 0 {
		return string(target), nil
	}
	p, err := url.PathUnescape(string(target))
	if err != nil {
		return "", errBadTarget
	}
	return p, nil
}
