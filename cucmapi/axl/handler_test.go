package axl_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"selfprov/cucmapi/axl"
	"selfprov/internal/coretest"
	"selfprov/provision"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const appPassword = "axl-test-password"

type rig struct {
	t    *testing.T
	url  string
	core *coretest.Core
}

func newRig(t *testing.T) *rig {
	t.Helper()
	c := coretest.New(t, coretest.Options{})
	if err := c.Svc.SeedAppUser(context.Background(), appPassword); err != nil {
		t.Fatal(err)
	}
	h, err := axl.New(axl.Options{Service: c.Svc, Limits: axl.Limits{MaxBytes: 64 << 10, MaxDepth: 32, MaxElements: 2000}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &rig{t: t, url: srv.URL + "/axl/", core: c}
}

// envelope wraps a request element of AXL version v.
func envelope(v, inner string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns="http://www.cisco.com/AXL/API/` + v + `">
<soapenv:Header/><soapenv:Body>` + inner + `</soapenv:Body></soapenv:Envelope>`
}

// do posts body with SOAPAction for op (none when op is "") as the
// administrator unless auth is given.
func (r *rig) do(op, body string, auth ...string) (int, string) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if op != "" {
		req.Header.Set("SOAPAction", `"CUCM:DB ver=14.0 `+op+`"`)
	}
	switch len(auth) {
	case 0:
		req.SetBasicAuth(provision.DefaultAppUser, appPassword)
	case 1:
		req.Header.Set("Authorization", auth[0])
	default:
		req.SetBasicAuth(auth[0], auth[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// call runs op with inner as its request element's content and wants 200.
func (r *rig) call(op, inner string) string {
	r.t.Helper()
	status, body := r.do(op, envelope("14.0", "<ns:"+op+">"+inner+"</ns:"+op+">"))
	if status != http.StatusOK {
		r.t.Fatalf("%s: HTTP %d\n%s", op, status, body)
	}
	return body
}

// fault runs op and wants a fault with axlcode code.
func (r *rig) fault(op, inner string, code string) string {
	r.t.Helper()
	status, body := r.do(op, envelope("14.0", "<ns:"+op+">"+inner+"</ns:"+op+">"))
	if status != http.StatusInternalServerError || !strings.Contains(body, "<axlcode>"+code+"</axlcode>") {
		r.t.Fatalf("%s: HTTP %d, want 500 with axlcode %s\n%s", op, status, code, body)
	}
	return body
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(want, []byte(got)) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

func TestGetCCMVersion(t *testing.T) {
	r := newRig(t)
	golden(t, "getCCMVersion.xml", r.call("getCCMVersion", ""))
	// The version follows the request's namespace.
	status, body := r.do("getCCMVersion", envelope("12.5", `<ns:getCCMVersion sequence="7"/>`))
	if status != 200 || !strings.Contains(body, `xmlns:ns="http://www.cisco.com/AXL/API/12.5"`) || !strings.Contains(body, "<version>12.5.") || !strings.Contains(body, `sequence="7"`) {
		t.Fatalf("12.5: HTTP %d\n%s", status, body)
	}
}

// TestBadRequests: every bad request gets its status and a SOAP fault
// body, and none is served.
func TestBadRequests(t *testing.T) {
	r := newRig(t)
	if _, err := r.core.Svc.CreateUser(context.Background(), provision.User{ID: "erin", LastName: "Evans"}, provision.Secrets{Password: "erin-password"}); err != nil {
		t.Fatal(err)
	}
	version := envelope("14.0", "<ns:getCCMVersion/>")
	deep := envelope("14.0", "<ns:getCCMVersion>"+strings.Repeat("<a>", 40)+strings.Repeat("</a>", 40)+"</ns:getCCMVersion>")
	bomb := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>` +
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns="http://www.cisco.com/AXL/API/14.0"><soapenv:Body><ns:getCCMVersion>&lol2;</ns:getCCMVersion></soapenv:Body></soapenv:Envelope>`
	entity := envelope("14.0", "<ns:getCCMVersion>&ext;</ns:getCCMVersion>")
	huge := envelope("14.0", "<ns:getCCMVersion>"+strings.Repeat("x", 70<<10)+"</ns:getCCMVersion>")
	for _, tc := range []struct {
		name, op, body string
		auth           []string
		status         int
		want           string
	}{
		{"unknown operation", "getSipTrunk", envelope("14.0", "<ns:getSipTrunk><name>t</name></ns:getSipTrunk>"), nil, 500, "operation getSipTrunk is not supported"},
		{"wrong namespace", "getCCMVersion", envelope("9.1", "<ns:getCCMVersion/>"), nil, 500, "not an AXL namespace"},
		{"no namespace", "getCCMVersion", strings.Replace(version, "ns:getCCMVersion", "getCCMVersion", 1), nil, 500, "not an AXL namespace"},
		{"SOAP 1.2 envelope", "getCCMVersion", strings.Replace(version, "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope", 1), nil, 500, "not a SOAP 1.1 envelope"},
		{"missing SOAPAction", "", version, nil, 500, "SOAPAction header is required"},
		{"SOAPAction of another operation", "listPhone", version, nil, 500, "does not name the operation getCCMVersion"},
		{"malformed Basic", "getCCMVersion", version, []string{"Basic !!!not-base64"}, 401, "Authentication required"},
		{"Basic without colon", "getCCMVersion", version, []string{"Basic YWRtaW5pc3RyYXRvcg=="}, 401, "Authentication required"},
		{"bearer", "getCCMVersion", version, []string{"Bearer abc"}, 401, "Authentication required"},
		{"wrong password", "getCCMVersion", version, []string{provision.DefaultAppUser, "nope"}, 401, "Authentication failed"},
		{"end user", "getCCMVersion", version, []string{"erin", "erin-password"}, 401, "Authentication failed"},
		{"oversized", "getCCMVersion", huge, nil, 413, "larger than"},
		{"entity expansion", "getCCMVersion", bomb, nil, 500, "DTD"},
		{"undeclared entity", "getCCMVersion", entity, nil, 500, "malformed XML"},
		{"deep nesting", "getCCMVersion", deep, nil, 500, "nested deeper"},
		{"not XML", "getCCMVersion", "hello", nil, 500, "malformed XML"},
		{"empty body", "getCCMVersion", "", nil, 500, "malformed XML"},
		{"mismatched tags", "getCCMVersion", envelope("14.0", "<ns:getCCMVersion></ns:getPhone>"), nil, 500, "malformed XML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := r.do(tc.op, tc.body, tc.auth...)
			if status != tc.status || !strings.Contains(body, tc.want) || !strings.Contains(body, "<soapenv:Fault>") || !strings.Contains(body, "<axlError>") {
				t.Fatalf("HTTP %d, want %d with %q in a SOAP fault\n%s", status, tc.status, tc.want, body)
			}
		})
	}
	status, body := r.do("getSipTrunk", envelope("14.0", "<ns:getSipTrunk><name>t</name></ns:getSipTrunk>"))
	if status != 500 {
		t.Fatal(status)
	}
	golden(t, "fault-unsupported.xml", body)
}

// TestGET: a GET with an application user's credentials gets CUCM's
// "working" page, without them 401; other methods 405.
func TestGET(t *testing.T) {
	r := newRig(t)
	get := func(auth bool) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, r.url, nil)
		if auth {
			req.SetBasicAuth(provision.DefaultAppUser, appPassword)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := get(true); status != 200 || !strings.Contains(body, "The AXL Web Service is working and accepting requests") {
		t.Fatalf("GET: %d\n%s", status, body)
	}
	if status, _ := get(false); status != http.StatusUnauthorized {
		t.Fatalf("GET without credentials: %d", status)
	}
	req, _ := http.NewRequest(http.MethodPut, r.url, nil)
	req.SetBasicAuth(provision.DefaultAppUser, appPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
}
