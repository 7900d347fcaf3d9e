package clientprov_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"selfprov/configs"
	"selfprov/provision"
)

const createPath = "/devicemanagement/v1/clientAutoProv/createDevice"

// errorCode reads the code of a JSON or XML error answer.
func errorCode(t *testing.T, b []byte) string {
	t.Helper()
	var eb struct {
		Error struct{ Code string } `json:"error"`
	}
	if json.Unmarshal(b, &eb) == nil {
		return eb.Error.Code
	}
	if _, rest, ok := bytes.Cut(b, []byte("<code>")); ok {
		code, _, _ := bytes.Cut(rest, []byte("</code>"))
		return string(code)
	}
	t.Fatalf("no error code in %s", b)
	return ""
}

// requests are the user-facing endpoints, each about alice.
var requests = []struct {
	name, method, path, contentType, accept, body string
}{
	{"createDevice", http.MethodPost, createPath, "application/json", "", body("alice", "windows", "41.12")},
	{"devices XML", http.MethodGet, "/cucm-uds/user/alice/devices", "", "", ""},
	{"devices JSON", http.MethodGet, "/cucm-uds/user/alice/devices", "", "application/json", ""},
}

// TestCredentialsRequired: without HTTP Basic credentials, or with
// unreadable ones, each endpoint answers 401 with a Basic challenge, and
// nothing is created.
func TestCredentialsRequired(t *testing.T) {
	e := newEnv(t, nil)
	for _, rq := range requests {
		for _, auth := range []string{"", "Basic !!!", "Basic " + "YWxpY2U=", "Bearer x"} { // "alice" has no colon
			req, _ := http.NewRequest(rq.method, e.srv.URL+rq.path, strings.NewReader(rq.body))
			if rq.contentType != "" {
				req.Header.Set("Content-Type", rq.contentType)
			}
			if rq.accept != "" {
				req.Header.Set("Accept", rq.accept)
			}
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="selfprov", charset="UTF-8"` ||
				errorCode(t, buf.Bytes()) != "AUTH_REQUIRED" {
				t.Errorf("%s with %q: %s %q %s", rq.name, auth, resp.Status, resp.Header.Get("WWW-Authenticate"), buf.Bytes())
			}
		}
	}
	if n := e.deviceCount(t); n != 0 {
		t.Fatalf("%d devices created without credentials", n)
	}
	// A missing header is not a failed login: alice is not charged.
	if u, _ := e.st.User(context.Background(), "alice"); u.Credential.FailedAttempts != 0 {
		t.Fatalf("alice charged %d failures", u.Credential.FailedAttempts)
	}
}

// TestWrongCredentialsCountTowardPolicy: a wrong PIN gets 401 and counts
// toward the credential policy; the third locks the account, after which
// even the right PIN is refused.
func TestWrongCredentialsCountTowardPolicy(t *testing.T) {
	for _, rq := range requests {
		t.Run(rq.name, func(t *testing.T) {
			e := newEnv(t, nil)
			var got []string
			for _, pin := range []string{"1", "2", "3", "12345"} {
				e.as("alice", pin)
				resp, b := e.do(t, rq.method, rq.path, rq.contentType, rq.accept, strings.NewReader(rq.body))
				if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
					t.Fatalf("PIN %s: %s %s", pin, resp.Status, b)
				}
				got = append(got, errorCode(t, b))
			}
			if want := []string{"AUTH_FAILED", "AUTH_FAILED", "ACCOUNT_LOCKED", "ACCOUNT_LOCKED"}; !slices.Equal(got, want) {
				t.Fatalf("codes %v, want %v", got, want)
			}
			if n := e.deviceCount(t); n != 0 {
				t.Fatalf("%d devices", n)
			}
		})
	}
}

// TestOwnCredentialsOnly: carol's right credentials do not act for alice
// (403), whether the request names alice by ID or by email; the user's
// email and password work as the Basic user and secret.
func TestOwnCredentialsOnly(t *testing.T) {
	e := newEnv(t, nil)
	e.as("carol", "12345")
	for _, b := range []string{body("alice", "windows", "41.12"), body("alice@example.com", "android", "41.12")} {
		resp, out := e.create(t, b)
		if resp.StatusCode != http.StatusForbidden || errorCode(t, out) != provision.CodeUserMismatch {
			t.Fatalf("%s %s", resp.Status, out)
		}
	}
	resp, out := e.do(t, http.MethodGet, "/cucm-uds/user/alice/devices", "", "", nil)
	if resp.StatusCode != http.StatusForbidden || errorCode(t, out) != provision.CodeUserMismatch {
		t.Fatalf("devices: %s %s", resp.Status, out)
	}
	if n := e.deviceCount(t); n != 0 {
		t.Fatalf("%d devices created for another user", n)
	}
	// The self-service ID in the body names carol herself.
	if resp, out := e.create(t, body("2003", "windows", "41.12")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("self-service ID: %s %s", resp.Status, out)
	}
	e.as("ALICE@example.com", "alice-password")
	if resp, out := e.create(t, `{"platform":"mac","appVersion":"41.12"}`); resp.StatusCode != http.StatusCreated || !bytes.Contains(out, []byte(`"deviceName": "CSFalice"`)) {
		t.Fatalf("email and password, no userId in the body: %s %s", resp.Status, out)
	}
	if resp, out := e.do(t, http.MethodGet, "/cucm-uds/user/alice/devices", "", "", nil); resp.StatusCode != http.StatusOK || !bytes.Contains(out, []byte("CSFalice")) {
		t.Fatalf("devices: %s %s", resp.Status, out)
	}
}

// TestUnknownUserAnswersLikeKnownOverHTTP: the answers for a user ID that
// names nobody are those for a real user with a wrong PIN.
func TestUnknownUserAnswersLikeKnownOverHTTP(t *testing.T) {
	e := newEnv(t, nil)
	run := func(id string) []string {
		e.as(id, "0")
		var out []string
		for range 4 {
			resp, b := e.create(t, body(id, "windows", "41.12"))
			out = append(out, resp.Status+" "+errorCode(t, b)+" "+resp.Header.Get("WWW-Authenticate"))
		}
		return out
	}
	known, unknown := run("bob"), run("nobody")
	if !slices.Equal(known, unknown) || !strings.Contains(known[3], "ACCOUNT_LOCKED") {
		t.Fatalf("known %q\nunknown %q", known, unknown)
	}
}

// TestTooManyAttemptsFromOneSource: over the per-source limit every
// endpoint answers 429 with Retry-After, the right credentials too, and
// the refused attempt is not counted against the user.
func TestTooManyAttemptsFromOneSource(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) {
		c.SelfProvisioning.FailedLoginsPerSource = 3
		c.SelfProvisioning.FailedLoginWindow = 5 * time.Minute
	})
	for _, id := range []string{"bob", "carol", "nobody"} {
		e.as(id, "0")
		if resp, b := e.create(t, body(id, "windows", "41.12")); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: %s %s", id, resp.Status, b)
		}
	}
	e.clock.Advance(time.Minute)
	for _, pin := range []string{"0", "12345"} {
		e.as("alice", pin)
		for _, rq := range requests {
			resp, b := e.do(t, rq.method, rq.path, rq.contentType, rq.accept, strings.NewReader(rq.body))
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "240" || errorCode(t, b) != provision.CodeTooManyAttempts {
				t.Fatalf("%s PIN %s: %s Retry-After %q %s", rq.name, pin, resp.Status, resp.Header.Get("Retry-After"), b)
			}
		}
	}
	if u, _ := e.st.User(context.Background(), "alice"); u.Credential.FailedAttempts != 0 {
		t.Fatalf("refused attempts charged to alice: %+v", u.Credential)
	}
	if n := e.deviceCount(t); n != 0 {
		t.Fatalf("%d devices", n)
	}
	// The limit is the address's: alice signs in from another one.
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+createPath, strings.NewReader(body("alice", "windows", "41.12")))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("alice", "12345")
	resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("from another address: %s", resp.Status)
	}
}
