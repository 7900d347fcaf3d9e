package phonesim

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// parsed is what a caller sees of a response: its fields, its body and
// the bytes left for the next response.
type parsed struct {
	Status        string
	StatusCode    int
	ContentLength int64
	Close         bool
	Header        http.Header
	Body          string
	BodyErr       bool
	Rest          string
}

func parseWith(read func(*bufio.Reader, *http.Request) (*http.Response, error), raw string, oneByte bool) (parsed, error) {
	var r io.Reader = strings.NewReader(raw)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	br := bufio.NewReaderSize(r, 512)
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:6970/SEP001122334455.cnf.xml", nil)
	res, err := read(br, req)
	if err != nil {
		return parsed{}, err
	}
	body, err := io.ReadAll(res.Body)
	rest, _ := io.ReadAll(br)
	return parsed{res.Status, res.StatusCode, res.ContentLength, res.Close, res.Header, string(body), err != nil, string(rest)}, nil
}

// TestReadResponse: the responses phones are sent are read as
// http.ReadResponse reads them, whether parsed here or left to it, and
// whether they arrive at once or a byte at a time.
func TestReadResponse(t *testing.T) {
	long := "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 600) + "\r\nContent-Length: 2\r\n\r\nok"
	for _, raw := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nconnection: keep-alive, Close\r\ncontent-length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length:  7 \r\nX-Empty:\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nto the end",
		"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
		"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 20x OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
		"garbage\r\n\r\n",
		long,
	} {
		for _, oneByte := range []bool{false, true} {
			want, wantErr := parseWith(http.ReadResponse, raw, oneByte)
			got, gotErr := parseWith(readResponse, raw, oneByte)
			if (wantErr != nil) != (gotErr != nil) || !reflect.DeepEqual(got, want) {
				t.Errorf("%q (a byte at a time: %v):\n got %+v, %v\nwant %+v, %v", raw, oneByte, got, gotErr, want, wantErr)
			}
		}
	}
}

// TestReadResponseParsesTheCommonCase: the common answers do not reach
// http.ReadResponse (which would make the fast path dead code).
func TestReadResponseParsesTheCommonCase(t *testing.T) {
	for _, raw := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 404 Not Found\r\nDate: Wed, 02 Dec 2026 20:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
	} {
		res, ok := parseHead(raw[:strings.Index(raw, "\r\n\r\n")+4], nil)
		if !ok || res.StatusCode == 0 {
			t.Errorf("%q left to http.ReadResponse", raw)
		}
	}
}

// TestReadResponseShortBody: a connection that ends inside the body is an
// error, not a shorter body.
func TestReadResponseShortBody(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))
	res, err := readResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(res.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short body: %v", err)
	}
}

// TestWriteGET: the request bytes are req.Write's.
func TestWriteGET(t *testing.T) {
	for _, tc := range []struct {
		url    string
		header map[string][]string
		close  bool
	}{
		{url: "http://127.0.0.1:6970/SEP001122334455.cnf.xml"},
		{url: "http://127.0.0.1:8080/selfprov/idle?name=SEP001122334455&x=%20y", header: map[string][]string{
			"X-Ciscoipphonemodelname": {"CP-8845"}, "Accept": {"x-CiscoIPPhone/*;version=3.3.3"}, "Accept-Language": {"en_US"},
		}},
		{url: "http://host/a", header: map[string][]string{"User-Agent": {" Allegro\r\nX: y "}}},
		{url: "http://host/a", header: map[string][]string{"User-Agent": {""}}},
		{url: "http://host/a", header: map[string][]string{"User-Agent": {}}},
		{url: "http://host/a", header: map[string][]string{"X-Multi": {"1", "2"}, "X-Bad": {"a\r\nInjected: 1"}}},
		{url: "http://[fe80::1%25eth0]:80/a"},
		{url: "http://host/a", close: true},
	} {
		req, err := http.NewRequest(http.MethodGet, tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tc.header {
			req.Header[k] = v
		}
		req.Close = tc.close
		var want, got bytes.Buffer
		if err := req.Write(&want); err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(&got)
		if err := writeGET(w, req); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if got.String() != want.String() {
			t.Errorf("%s %v:\n got %q\nwant %q", tc.url, tc.header, got.String(), want.String())
		}
	}
}

// FuzzReadResponse: whatever arrives, readResponse reads what
// http.ReadResponse reads.
func FuzzReadResponse(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n\r\nhello", false)
	f.Add("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", true)
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false)
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n", false)
	f.Fuzz(func(t *testing.T, raw string, oneByte bool) {
		want, wantErr := parseWith(http.ReadResponse, raw, oneByte)
		got, gotErr := parseWith(readResponse, raw, oneByte)
		if (wantErr != nil) != (gotErr != nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v, %v\nwant %+v, %v", raw, got, gotErr, want, wantErr)
		}
	})
}
