package tftpd

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

// FuzzReadRequest: the reader never reads past the end of what it was
// given; a request it takes is one net/http reads the same (method, target,
// path, close); every shorter beginning of it is "incomplete", never an
// error; and it takes the same request with more bytes after it.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		"GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /XMLDefault.cnf.xml?a=b HTTP/1.1\nHost: x\nConnection: keep-alive, close\n\n",
		"\r\nGET /a%2Fb HTTP/1.1\r\nhost: x\r\nUser-Agent: wrk\r\n\r\n",
		"GET /x HTTP/1.0\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"GET http://x/y HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n",
		"GET /x HTTP/9.9\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost : x\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := readRequest(b)
		if n < 0 || n > len(b) {
			t.Fatalf("n = %d of %d bytes", n, len(b))
		}
		if err != nil || n == 0 {
			return
		}
		skip := 0
		for b[skip] == '\r' || b[skip] == '\n' {
			skip++
		}
		for k := skip; k < n; k++ {
			if _, m, err := readRequest(b[:k]); m != 0 || err != nil {
				t.Fatalf("a beginning of %d of the %d bytes read as %d, %v", k, n, m, err)
			}
		}
		r2, n2, err := readRequest(append(bytes.Clone(b[:n]), "GET / HTTP/1.1\r\n"...))
		if err != nil || n2 != n || string(r2.target) != string(r.target) {
			t.Fatalf("with more bytes after it: %d, %v", n2, err)
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[skip:n])))
		if err != nil {
			if r.netHTTP {
				return // net/http answers it, with its own error
			}
			if _, perr := requestPath(r.target); perr != nil {
				return // refused with 400 when its path is decoded, as net/http refuses it
			}
			t.Fatalf("net/http refuses a request read as %q %q: %v", r.method, r.target, err)
		}
		if req.Method != string(r.method) || req.RequestURI != string(r.target) || req.Close != r.close && r.minor == 1 {
			t.Fatalf("net/http reads %q %q close %v; the reader %q %q close %v", req.Method, req.RequestURI, req.Close, r.method, r.target, r.close)
		}
		if r.netHTTP {
			return
		}
		if p, err := requestPath(r.target); err == nil && p != req.URL.Path {
			t.Fatalf("path %q, net/http %q", p, req.URL.Path)
		}
	})
}
