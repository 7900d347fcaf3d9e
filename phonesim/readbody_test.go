package phonesim

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// readBody must give every byte of a body up to the limit, and one more
// than the limit of a longer body, whether its length is announced or not.
func TestReadBody(t *testing.T) {
	const limit = 100
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		body := bytes.Repeat([]byte("x"), n)
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		} else if f, ok := w.(http.Flusher); ok {
			f.Flush() // the header goes out without a length
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		n       int
		chunked bool
		want    int
	}{
		{0, false, 0}, {1, false, 1}, {99, false, 99}, {100, false, 100}, {101, false, 101}, {5000, false, 101},
		{0, true, 0}, {100, true, 100}, {5000, true, 101},
	} {
		url := srv.URL + "/?n=" + strconv.Itoa(tc.n)
		if tc.chunked {
			url += "&chunked=1"
		}
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		if tc.chunked != (res.ContentLength < 0) {
			t.Fatalf("n=%d chunked=%v: Content-Length %d", tc.n, tc.chunked, res.ContentLength)
		}
		b, err := readBody(res, limit)
		res.Body.Close()
		if err != nil {
			t.Fatalf("n=%d chunked=%v: %v", tc.n, tc.chunked, err)
		}
		if len(b) != tc.want || !bytes.Equal(b, bytes.Repeat([]byte("x"), tc.want)) {
			t.Errorf("n=%d chunked=%v: read %d bytes, want %d", tc.n, tc.chunked, len(b), tc.want)
		}
	}
}
