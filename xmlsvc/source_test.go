package xmlsvc

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"selfprov/configs"
	"selfprov/provision"
)

// from returns a copy of e whose requests come from the loopback address
// ip, so tests can be several sources at once.
func (e *env) from(t *testing.T, ip string) *env {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	c := *e
	c.client = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	return &c
}

// TestFailedLoginsPerSource: the screens and the authenticationURL hand
// the phone's address to the core. Failed logins from one address, over
// any user IDs, use up its share; it then gets TOO_MANY_ATTEMPTS, the
// right PIN too, without a user being charged, while another address
// logs in.
func TestFailedLoginsPerSource(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) { c.SelfProvisioning.FailedLoginsPerSource = 3 }, nil)
	d := e.autoRegister(t, 1, 36224)
	owned := e.autoRegister(t, 2, 36224)
	if _, err := e.svc.SelfProvision(context.Background(), owned.Name, "alice"); err != nil {
		t.Fatal(err)
	}
	bad := e.from(t, "127.0.0.2")
	bad.login(t, d.Name, "bob", "1")
	bad.login(t, d.Name, "nobody", "1")
	if p := bad.get(t, PathAuthenticate+"?UserID=carol&Password=1&devicename="+owned.Name); string(p.body) != "UNAUTHORIZED" {
		t.Fatalf("authenticate: %q", p.body)
	}
	if p := bad.login(t, d.Name, "alice", "12345"); p.code() != provision.CodeTooManyAttempts {
		t.Fatalf("over the limit: %s", p.body)
	}
	if p := bad.get(t, PathAuthenticate+"?UserID=alice&Password=12345&devicename="+owned.Name); string(p.body) != "UNAUTHORIZED" {
		t.Fatalf("authenticate over the limit: %q", p.body)
	}
	if !logHas(t, e.logs.String(), map[string]string{"step": "login", "code": provision.CodeTooManyAttempts, "user": "alice"}) {
		t.Errorf("no log line of the refusal:\n%s", e.logs.String())
	}
	// Nobody was charged by the refused attempts; another address logs in.
	for _, id := range []string{"alice", "bob"} {
		u, err := e.st.User(context.Background(), id)
		if err != nil || u.Credential.FailedAttempts > 1 {
			t.Fatalf("%s: %+v %v", id, u.Credential, err)
		}
	}
	if p := e.from(t, "127.0.0.3").login(t, d.Name, "alice", "12345"); p.text(t).Prompt != "Confirm" {
		t.Fatalf("another address: %s", p.body)
	}
}

// TestUnknownUserScreensLikeKnown: an unknown user ID gets the same
// screens, lockout included, as a real user with a wrong PIN.
func TestUnknownUserScreensLikeKnown(t *testing.T) {
	e := newEnv(t, nil, nil)
	d := e.autoRegister(t, 1, 36224)
	run := func(id string) []string {
		var out []string
		for range 4 {
			out = append(out, string(e.login(t, d.Name, id, "1").body))
		}
		return out
	}
	known, unknown := run("bob"), run("nobody")
	if !slices.Equal(known, unknown) {
		t.Fatalf("known:\n%q\nunknown:\n%q", known, unknown)
	}
}

// basicAuth is the header of HTTP Basic credentials, for env.get.
func basicAuth(user, secret string) []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+secret))}
}
