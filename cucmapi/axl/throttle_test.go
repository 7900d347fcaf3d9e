package axl_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"selfprov/cucmapi/axl"
	"selfprov/internal/coretest"
)

// TestWriteThrottle: with CUCM's write limit emulated, writes over it are
// refused with 503 and a fault, and change nothing; reads go on.
func TestWriteThrottle(t *testing.T) {
	c := coretest.New(t, coretest.Options{})
	if err := c.Svc.SeedAppUser(context.Background(), appPassword); err != nil {
		t.Fatal(err)
	}
	h, err := axl.New(axl.Options{Service: c.Svc, MaxWritesPerMinute: 2, Now: c.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	r := &rig{t: t, url: srv.URL + "/axl/", core: c}
	r.call("addLine", `<line><pattern>2601</pattern></line>`)
	r.call("addLine", `<line><pattern>2602</pattern></line>`)
	status, body := r.do("addLine", envelope("14.0", `<ns:addLine><line><pattern>2603</pattern></line></ns:addLine>`))
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "MaxAXLWritesPerMinute") || !strings.Contains(body, "<axlcode>503</axlcode>") {
		t.Fatalf("third write: %d\n%s", status, body)
	}
	r.call("getLine", `<pattern>2601</pattern>`)
	r.fault("getLine", `<pattern>2603</pattern>`, "5007")
	c.Clock.(*coretest.Clock).Advance(61e9)
	r.call("addLine", `<line><pattern>2603</pattern></line>`)
}
