package clientprov_test

import (
	"encoding/json"
	"strings"
	"testing"

	"selfprov/xmlsvc/clientprov"
)

// FuzzDecodeCreateRequest: any body either decodes to a request that
// re-encodes and decodes to itself, or is refused with a coded error;
// nothing panics and nothing over the bound is read.
func FuzzDecodeCreateRequest(f *testing.F) {
	for _, s := range []string{
		`{"userId":"alice","platform":"windows","appVersion":"41.12"}`,             // the usual request
		`{"userId":"a@b.c","email":"a@b.c","platform":"iphone","appVersion":"41"}`, // email form
		`{"userId":"alice",`,        // truncated
		`{"userId":1}`,              // wrong type
		`{} {}`,                     // trailing object
		`null`,                      // no object
		`{"userId":"\u65e5\u672c"}`, // unicode escapes
		"{\"userId\":\"\xff\"}",     // invalid UTF-8
		``,                          // empty
		`{"extra":{"deep":[1,2,3]},"platform":"mac"}`, // unknown fields are ignored
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		const max = 1024
		req, err := clientprov.DecodeCreateRequest(strings.NewReader(body), max)
		if err != nil {
			if !strings.Contains(err.Error(), ": ") {
				t.Fatalf("error without code: %v", err)
			}
			return
		}
		if len(body) > max {
			t.Fatalf("decoded %d bytes over the bound of %d", len(body), max)
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := clientprov.DecodeCreateRequest(strings.NewReader(string(b)), int64(len(b)))
		if err != nil || again != req {
			t.Fatalf("round trip %+v → %s → %+v, %v", req, b, again, err)
		}
	})
}
