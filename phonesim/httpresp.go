package phonesim

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// readResponse reads the response to a GET from br. What a phone is
// answered almost always (a config file, a screen, a 404) is HTTP/1.1
// with a Content-Length and a short header block: that is parsed here from
// br's buffer, with one string for the whole block. Anything else
// (chunked, no length, 1xx, another version, a block larger than the
// buffer, a header line net/textproto would judge) goes to
// http.ReadResponse, which reads it from the same buffer: nothing has
// been consumed. In a boot storm http.ReadResponse was a tenth of the
// simulator's CPU.
func readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	if head := peekHead(br); head != nil {
		if res, ok := parseHead(string(head), req); ok {
			_, _ = br.Discard(len(head))
			if res.ContentLength == 0 {
				res.Body = http.NoBody
			} else {
				res.Body = &lengthBody{r: br, n: res.ContentLength}
			}
			return res, nil
		}
	}
	return http.ReadResponse(br, req)
}

// peekHead waits until br holds a whole header block (up to the blank
// line) and returns it unread, or nil when it will not.
func peekHead(br *bufio.Reader) []byte {
	for n := max(br.Buffered(), 1); ; n = br.Buffered() + 1 {
		_, err := br.Peek(n) // waits for the n-th byte
		b, _ := br.Peek(br.Buffered())
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			return b[:i+4]
		}
		if err != nil || len(b) >= br.Size() {
			// Too long, or no more is coming: http.ReadResponse reads
			// what there is (a head ending in bare line feeds, say) or
			// meets the error again.
			return nil
		}
	}
}

// parseHead parses a simple response's header block; ok is false for
// anything it leaves to http.ReadResponse.
func parseHead(s string, req *http.Request) (res *http.Response, ok bool) {
	line, rest, _ := strings.Cut(s, "\r\n")
	if len(line) < 12 || line[:9] != "HTTP/1.1 " || (len(line) > 12 && line[12] != ' ') || !validHeaderValue(line) {
		return nil, false
	}
	code, err := strconv.Atoi(line[9:12])
	// 1xx, 204 and 304 have bodies of their own rules.
	if err != nil || code < 200 || code == http.StatusNoContent || code == http.StatusNotModified || line[9] == '+' || line[9] == '-' {
		return nil, false
	}
	res = &http.Response{
		Status: line[9:], StatusCode: code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header, 8), ContentLength: -1, Request: req,
	}
	for {
		line, rest, _ = strings.Cut(rest, "\r\n")
		if line == "" {
			break
		}
		name, value, found := strings.Cut(line, ":")
		if !found || !validHeaderName(name) || !validHeaderValue(value) {
			return nil, false
		}
		value = strings.Trim(value, " \t")
		key := http.CanonicalHeaderKey(name)
		switch key {
		case "Content-Length":
			if res.ContentLength >= 0 || value == "" || len(value) > 18 || strings.Trim(value, "0123456789") != "" {
				return nil, false // a second one, or not a plain number
			}
			res.ContentLength, _ = strconv.ParseInt(value, 10, 64)
		case "Transfer-Encoding", "Trailer":
			return nil, false
		case "Connection":
			for tok := range strings.SplitSeq(value, ",") {
				if strings.EqualFold(strings.Trim(tok, " \t"), "close") {
					res.Close = true
				}
			}
		}
		res.Header[key] = append(res.Header[key], value)
	}
	if res.ContentLength < 0 {
		return nil, false // its body runs to the connection's end
	}
	if res.Close {
		delete(res.Header, "Connection") // as net/http does
	}
	return res, true
}

// validHeaderName: a token (RFC 9110), as net/textproto requires.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validHeaderValue refuses control bytes but tab: the rare value holding
// one goes to net/textproto, which decides.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// lengthBody is a body of n bytes read from r.
type lengthBody struct {
	r *bufio.Reader
	n int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	if err == nil && b.n == 0 {
		err = io.EOF
	}
	return n, err
}

func (b *lengthBody) Close() error { return nil }
