package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"selfprov/admin"
	"selfprov/provision"
)

func TestLoadToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // not there yet: created
	tok, generated, err := admin.LoadToken("", dir)
	if err != nil || !generated || len(tok) < 32 {
		t.Fatalf("first start: %q generated=%v err=%v", tok, generated, err)
	}
	path := filepath.Join(dir, admin.TokenFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("token file mode %04o, want 0600", perm)
	}
	again, generated, err := admin.LoadToken("", dir)
	if err != nil || generated || again != tok {
		t.Fatalf("restart: %q generated=%v err=%v; want the same token", again, generated, err)
	}
	other, _, err := admin.LoadToken("", t.TempDir())
	if err != nil || other == tok {
		t.Fatalf("another data directory got %q (err %v); want a new token", other, err)
	}

	// A configured token wins and writes nothing.
	cdir := t.TempDir()
	if got, gen, err := admin.LoadToken("configured-token-0123456789", cdir); err != nil || gen || got != "configured-token-0123456789" {
		t.Fatalf("configured: %q %v %v", got, gen, err)
	}
	if _, err := os.Stat(filepath.Join(cdir, admin.TokenFile)); !os.IsNotExist(err) {
		t.Fatalf("a configured token wrote a file: %v", err)
	}
	if _, _, err := admin.LoadToken("short", cdir); err == nil || !strings.Contains(err.Error(), "shorter than 16") {
		t.Fatalf("short configured token: %v", err)
	}

	// A token file others can read, or one too short, is refused with a fix.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := admin.LoadToken("", dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable token file: %v", err)
	}
	if err := os.WriteFile(path, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := admin.LoadToken("", dir); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Fatalf("short token file: %v", err)
	}
}

func TestNewRefusesAMissingToken(t *testing.T) {
	e := newEnv(t, envOpt{})
	if _, err := admin.New(admin.Options{Service: e.svc}); err == nil {
		t.Fatal("New without a token succeeded")
	}
	if _, err := admin.New(admin.Options{Token: e.token}); err == nil {
		t.Fatal("New without a service succeeded")
	}
}

func TestTokenIsRequiredUnderAPI(t *testing.T) {
	e := newEnv(t, envOpt{})
	cases := []struct {
		name, header, wantMsg string
	}{
		{"missing", "", "missing Authorization"},
		{"wrong", "Bearer " + strings.Repeat("x", len(e.token)), "not valid"},
		{"prefix of the right one", "Bearer " + e.token[:len(e.token)-1], "not valid"},
		{"right one longer", "Bearer " + e.token + "x", "not valid"},
		{"basic scheme", "Basic " + e.token, "must be Bearer"},
		{"no scheme", e.token, "must be Bearer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/cluster", "/api/v1/no-such-thing", "/api/v2/"} {
				req, _ := http.NewRequest("GET", e.base+path, nil)
				if c.header != "" {
					req.Header.Set("Authorization", c.header)
				}
				resp, err := e.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body := readAll(t, resp)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("%s: status %d, want 401\n%s", path, resp.StatusCode, body)
				}
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("%s: WWW-Authenticate %q", path, resp.Header.Get("WWW-Authenticate"))
				}
				r := response{status: resp.StatusCode, header: resp.Header, body: body}
				code, msg := r.errorBody(t)
				if code != "UNAUTHENTICATED" || !strings.Contains(msg, c.wantMsg) {
					t.Fatalf("%s: %s %q", path, code, msg)
				}
			}
		})
	}
	// The right token, also with a lower-case scheme.
	e.call("GET", "/api/v1/cluster", nil, 200, nil)
	req, _ := http.NewRequest("GET", e.base+"/api/v1/cluster", nil)
	req.Header.Set("Authorization", "bearer "+e.token)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("lower-case scheme: %d", resp.StatusCode)
	}
	// A refused request changes nothing.
	r := e.raw("PATCH", "/api/v1/cluster", "wrong-token-wrong-token", map[string]any{"authMode": "none"})
	if r.status != 401 {
		t.Fatalf("PATCH with a wrong token: %d", r.status)
	}
	if c, _ := e.svc.Cluster(context.Background()); c.AuthMode != provision.AuthUsers {
		t.Fatalf("auth mode changed to %s by a refused request", c.AuthMode)
	}
	// Probes and metrics need no token.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if r := e.raw("GET", p, "", nil); r.status != 200 {
			t.Fatalf("%s without a token: %d", p, r.status)
		}
	}
	if !strings.Contains(string(e.raw("GET", "/metrics", "", nil).body), "selfprov_admin_auth_failures_total 19") {
		t.Fatal("auth failures are not counted: want 19 (6 cases × 3 paths + the PATCH)")
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return []byte(b.String())
}

type clusterView struct {
	AutoRegistration struct {
		Enabled, Active           bool
		UDT, ULT                  string
		StartDN, EndDN, Partition string
	}
	AuthMode         string
	AuthCodeSet      bool
	CredentialPolicy struct {
		FailedLogonThreshold               int
		ResetCounterAfter, LockoutDuration string
	}
	WebexPolicy, WebexCoolDown string
}

func TestClusterSettings(t *testing.T) {
	e := newEnv(t, envOpt{})
	ctx := context.Background()
	var c clusterView
	e.call("GET", "/api/v1/cluster", nil, 200, &c)
	if !c.AutoRegistration.Active || c.AutoRegistration.StartDN != "1000" || c.AuthMode != "users" || c.AuthCodeSet || c.CredentialPolicy.LockoutDuration != "30m0s" {
		t.Fatalf("cluster: %+v", c)
	}

	// Auto-registration off takes effect for the next phone, no restart.
	e.call("PATCH", "/api/v1/cluster", `{"autoRegistration":{"enabled":false}}`, 200, &c)
	if c.AutoRegistration.Enabled || c.AutoRegistration.UDT != "Auto-registration Template" {
		t.Fatalf("after disabling: %+v", c.AutoRegistration)
	}
	if _, _, err := e.svc.AutoRegister(ctx, "SEP0A0000000001", 36224); provision.CodeOf(err) != provision.CodeAutoRegDisabled {
		t.Fatalf("auto-registration after disabling: %v", err)
	}
	// On again with a new range; the next phone takes its first DN.
	e.call("PATCH", "/api/v1/cluster", `{"autoRegistration":{"enabled":true,"startDN":"5000","endDN":"5099"}}`, 200, &c)
	d, _, err := e.svc.AutoRegister(ctx, "SEP0A0000000001", 36224)
	if err != nil || d.Lines[0].DN != "5000" {
		t.Fatalf("auto-registration in the new range: %v %v", d.Lines, err)
	}

	// Organisation Webex policy, credential policy, mode, in one change.
	e.call("PATCH", "/api/v1/cluster", `{"authMode":"users-and-admin","webexPolicy":"mobile-only","webexCoolDown":"90s",
		"credentialPolicy":{"failedLogonThreshold":5,"lockoutDuration":"0"}}`, 200, &c)
	if c.AuthMode != "users-and-admin" || c.WebexPolicy != "mobile-only" || c.WebexCoolDown != "1m30s" ||
		c.CredentialPolicy.FailedLogonThreshold != 5 || c.CredentialPolicy.LockoutDuration != "0s" || c.CredentialPolicy.ResetCounterAfter != "30m0s" {
		t.Fatalf("after patch: %+v", c)
	}
	got, _ := e.svc.Cluster(ctx)
	if got.WebexPolicy != provision.WebexMobileOnly || got.WebexCoolDown != 90*time.Second {
		t.Fatalf("core sees %+v", got)
	}

	// The system authentication code: set, then usable in place of a PIN.
	e.call("PUT", "/api/v1/cluster/auth-code", `{"authCode":"7788-lab"}`, 204, nil)
	e.call("GET", "/api/v1/cluster", nil, 200, &c)
	if !c.AuthCodeSet {
		t.Fatal("authCodeSet is false after setting the code")
	}
	if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "bob", Secret: "7788-lab"}); err != nil {
		t.Fatalf("authentication code not accepted: %v", err)
	}
	if !strings.Contains(e.fails("PUT", "/api/v1/cluster/auth-code", `{"authCode":"12"}`, 400, provision.CodeInvalid), "4 to 64") {
		t.Fatal("short auth code message")
	}
	e.fails("PUT", "/api/v1/cluster/auth-code", `{}`, 400, provision.CodeInvalid)
	e.call("PUT", "/api/v1/cluster/auth-code", `{"authCode":""}`, 204, nil)
	if e.call("GET", "/api/v1/cluster", nil, 200, &c); c.AuthCodeSet {
		t.Fatal("authCodeSet after clearing")
	}
}

func TestClusterBadInputChangesNothing(t *testing.T) {
	e := newEnv(t, envOpt{change: usersInNone})
	before := e.call("GET", "/api/v1/cluster", nil, 200, nil).body
	cases := []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"start after end", `{"autoRegistration":{"startDN":"1999","endDN":"1000"}}`, 400, provision.CodeInvalid, "after end"},
		{"overlaps a user's extension", `{"autoRegistration":{"startDN":"2000","endDN":"2099"}}`, 409, provision.CodeDNInAutoRegRange, "primary extension 2001 of user alice"},
		{"letters", `{"autoRegistration":{"startDN":"10a0","endDN":"1999"}}`, 400, provision.CodeInvalid, "digits"},
		{"widths differ", `{"autoRegistration":{"startDN":"100","endDN":"1999"}}`, 400, provision.CodeInvalid, "same number of digits"},
		{"unknown template", `{"autoRegistration":{"udt":"Nope"}}`, 404, provision.CodeNotFound, `"Nope"`},
		{"auth mode", `{"authMode":"everyone"}`, 400, provision.CodeInvalid, "users, users-and-admin or none"},
		{"webex policy", `{"webexPolicy":"tablets"}`, 400, provision.CodeInvalid, "desktop-and-mobile"},
		{"duration", `{"webexCoolDown":"ten minutes"}`, 400, provision.CodeInvalid, "duration"},
		{"duration type", `{"webexCoolDown":600}`, 400, provision.CodeInvalid, "duration"},
		{"negative threshold", `{"credentialPolicy":{"failedLogonThreshold":-1}}`, 400, provision.CodeInvalid, "threshold"},
		{"unknown field", `{"autoRegistration":{"enabled":true,"startNumber":"1000"}}`, 400, provision.CodeInvalid, `unknown field "startNumber"`},
		{"field in the wrong case", `{"autoRegistration":{"startDn":"1000","endDN":"1999"}}`, 400, provision.CodeInvalid, `"startDn" in autoRegistration; did you mean "startDN"`},
		{"top-level field in the wrong case", `{"AuthMode":"none"}`, 400, provision.CodeInvalid, `did you mean "authMode"`},
		{"unknown top-level field", `{"authCode":"1234"}`, 400, provision.CodeInvalid, `unknown field "authCode"`},
		{"malformed", `{"authMode":`, 400, provision.CodeInvalid, "not valid JSON"},
		{"syntax", `{"authMode" "none"}`, 400, provision.CodeInvalid, "not valid JSON"},
		{"wrong type", `{"autoRegistration":{"enabled":"yes"}}`, 400, provision.CodeInvalid, "true or false"},
		{"two values", `{"authMode":"none"} {"authMode":"none"}`, 400, provision.CodeInvalid, "single JSON value"},
		{"not an object", `["authMode"]`, 400, provision.CodeInvalid, "JSON object"},
		{"empty", ``, 400, provision.CodeInvalid, "empty"},
		{"several problems", `{"authMode":"x","webexPolicy":"y"}`, 400, provision.CodeInvalid, "webex policy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := e.with(t)
			msg := e.fails("PATCH", "/api/v1/cluster", c.body, c.status, c.code)
			if !strings.Contains(msg, c.msg) {
				t.Fatalf("message %q does not mention %q", msg, c.msg)
			}
			if after := e.call("GET", "/api/v1/cluster", nil, 200, nil).body; string(after) != string(before) {
				t.Fatalf("settings changed:\n%s\n%s", before, after)
			}
		})
	}
}

func TestChangesSurviveARestart(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.call("PATCH", "/api/v1/cluster", `{"autoRegistration":{"startDN":"3000","endDN":"3999"},"webexPolicy":"desktop-only"}`, 200, nil)
	e.call("PUT", "/api/v1/udts/Lab", `{"idleTimeout":30}`, 201, nil)
	e.call("POST", "/api/v1/users", `{"userId":"zoe","lastName":"Z","pin":"2468","webexPolicy":"mobile-only"}`, 201, nil)
	dir, token := e.dir, e.token
	e.stop()

	e2 := newEnv(t, envOpt{dir: dir})
	if e2.token != token {
		t.Fatal("the token changed across a restart")
	}
	var c clusterView
	e2.call("GET", "/api/v1/cluster", nil, 200, &c)
	if c.AutoRegistration.StartDN != "3000" || c.WebexPolicy != "desktop-only" {
		t.Fatalf("cluster after restart: %+v", c)
	}
	var u provision.User
	e2.call("GET", "/api/v1/users/zoe", nil, 200, &u)
	if u.WebexPolicy != provision.WebexMobileOnly {
		t.Fatalf("user after restart: %+v", u)
	}
	if _, err := e2.svc.Authenticate(context.Background(), provision.Credentials{UserID: "zoe", Secret: "2468"}); err != nil {
		t.Fatalf("PIN after restart: %v", err)
	}
	var udt provision.UDT
	e2.call("GET", "/api/v1/udts/Lab", nil, 200, &udt)
	if udt.IdleTimeout != 30 {
		t.Fatalf("template after restart: %+v", udt)
	}
}

func TestTemplatesAndProfiles(t *testing.T) {
	e := newEnv(t, envOpt{})
	p := func(base, name string) string { return base + "/" + url.PathEscape(name) }
	cases := []struct {
		base, inUse, inUseBy string
		create, replace      string
		field                string
	}{
		{"/api/v1/udts", "Desk Phone Template", "user profile", `{"idleURL":"http://x/idle","transport":"udp"}`, `{"name":"New","idleTimeout":9}`, `"idleTimeout": 9`},
		{"/api/v1/ults", "Auto-registration Line Template", "auto-registration", `{"maxCalls":3}`, `{"maxCalls":6}`, `"maxCalls": 6`},
		{"/api/v1/user-profiles", "Standard User Profile", "feature group template", `{"deskPhoneUDT":"Desk Phone Template","deviceLimit":2,"allowSelfProvision":true}`, `{"deviceLimit":4,"webexPolicy":"desktop-only"}`, `"webexPolicy": "desktop-only"`},
		{"/api/v1/feature-group-templates", "", "", `{"userProfile":"Standard User Profile"}`, `{"userProfile":"Standard User Profile","description":"lab"}`, `"description": "lab"`},
		{"/api/v1/partitions", "Internal", "calling search space", `{"description":"lab"}`, `{"description":"lab phones"}`, `"description": "lab phones"`},
		{"/api/v1/css", "Internal", "universal line template", `{"partitions":["Internal"]}`, `{"description":"none"}`, `"partitions": []`},
	}
	for _, c := range cases {
		t.Run(c.base, func(t *testing.T) {
			e := e.with(t)
			var list struct{ Items []map[string]any }
			e.call("GET", c.base, nil, 200, &list)
			if len(list.Items) == 0 {
				t.Fatal("empty listing of a seeded collection")
			}
			r := e.call("PUT", p(c.base, "New"), c.create, 201, nil)
			if loc := r.header.Get("Location"); loc != c.base+"/New" {
				t.Fatalf("Location %q", loc)
			}
			r = e.call("PUT", p(c.base, "New"), c.replace, 200, nil)
			got := e.call("GET", p(c.base, "New"), nil, 200, nil)
			if !strings.Contains(string(got.body), c.field) || !strings.Contains(string(r.body), c.field) {
				t.Fatalf("after replace: %s", got.body)
			}
			e.fails("PUT", p(c.base, "New"), `{"name":"Other"}`, 400, provision.CodeInvalid)
			e.fails("PUT", p(c.base, "New"), `{"name":"New","bogus":1}`, 400, provision.CodeInvalid)
			e.call("DELETE", p(c.base, "New"), nil, 204, nil)
			e.fails("GET", p(c.base, "New"), nil, 404, provision.CodeNotFound)
			e.fails("DELETE", p(c.base, "New"), nil, 404, provision.CodeNotFound)
			if c.inUse != "" {
				msg := e.fails("DELETE", p(c.base, c.inUse), nil, 409, provision.CodeInUse)
				if !strings.Contains(msg, c.inUseBy) {
					t.Fatalf("IN_USE message %q does not say what uses it", msg)
				}
				e.call("GET", p(c.base, c.inUse), nil, 200, nil)
			}
		})
	}
	// A profile must name templates that exist.
	msg := e.fails("PUT", "/api/v1/user-profiles/Bad", `{"deskPhoneUDT":"Missing"}`, 404, provision.CodeNotFound)
	if !strings.Contains(msg, `"Missing"`) {
		t.Fatalf("message %q", msg)
	}
	e.fails("PUT", "/api/v1/udts/Bad", `{"transport":"sctp"}`, 400, provision.CodeInvalid)
	// A name with a slash travels escaped.
	e.call("PUT", "/api/v1/ults/"+url.PathEscape("Lab/Line"), `{}`, 201, nil)
	e.call("GET", "/api/v1/ults/"+url.PathEscape("Lab/Line"), nil, 200, nil)
}

func TestUsers(t *testing.T) {
	e := newEnv(t, envOpt{})
	ctx := context.Background()
	var u provision.User
	r := e.call("POST", "/api/v1/users", `{"userId":"erin","lastName":"Evans","firstName":"Erin","email":"erin@example.com",
		"selfServiceId":"4005","primaryExtension":"4005","userProfile":"Standard User Profile","groups":["lab"],
		"webexPolicy":"desktop-only","pin":"1357","password":"erin-pass"}`, 201, &u)
	if r.header.Get("Location") != "/api/v1/users/erin" || u.WebexPolicy != provision.WebexDesktopOnly || u.PrimaryExtension != "4005" {
		t.Fatalf("created %+v, Location %q", u, r.header.Get("Location"))
	}
	if strings.Contains(string(r.body), "pbkdf2") || strings.Contains(string(r.body), "1357") {
		t.Fatalf("answer leaks a secret: %s", r.body)
	}
	if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "erin", Secret: "erin-pass"}); err != nil {
		t.Fatal(err)
	}
	e.fails("POST", "/api/v1/users", `{"userId":"erin","lastName":"Again"}`, 409, provision.CodeDuplicate)
	e.fails("POST", "/api/v1/users", `{"userId":"x y","lastName":""}`, 400, provision.CodeInvalid)
	e.fails("POST", "/api/v1/users", `{"userId":"fay","lastName":"F","webexPolicy":"all"}`, 400, provision.CodeInvalid)
	e.fails("POST", "/api/v1/users", `{"userId":"fay","lastName":"F","pin":"12ab"}`, 400, provision.CodeInvalid)
	e.fails("POST", "/api/v1/users", `{"userId":"fay","lastName":"F","userProfile":"Nope"}`, 404, provision.CodeNotFound)
	e.fails("POST", "/api/v1/users", `{"userId":"fay","lastName":"F","credential":{"failedAttempts":0}}`, 400, provision.CodeInvalid)

	// Paging: alice, bob, carol, dave, erin.
	var pg struct {
		Items []provision.User
		Next  string
	}
	e.call("GET", "/api/v1/users?limit=2", nil, 200, &pg)
	if len(pg.Items) != 2 || pg.Next != "bob" {
		t.Fatalf("page 1: %d items, next %q", len(pg.Items), pg.Next)
	}
	var ids []string
	for after := ""; ; {
		pg.Next = ""
		e.call("GET", "/api/v1/users?limit=2&after="+after, nil, 200, &pg)
		for _, u := range pg.Items {
			ids = append(ids, u.ID)
		}
		if pg.Next == "" {
			break
		}
		after = pg.Next
	}
	if strings.Join(ids, ",") != "alice,bob,carol,dave,erin" {
		t.Fatalf("paged through %v", ids)
	}
	e.fails("GET", "/api/v1/users?limit=0", nil, 400, provision.CodeInvalid)
	e.fails("GET", "/api/v1/users?limit=1001", nil, 400, provision.CodeInvalid)
	e.fails("GET", "/api/v1/users?sort=id", nil, 400, provision.CodeInvalid)

	// Lock erin out, then unlock.
	for range 3 {
		e.svc.Authenticate(ctx, provision.Credentials{UserID: "erin", Secret: "0000"})
	}
	if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "erin", Secret: "1357"}); provision.CodeOf(err) != provision.CodeAccountLocked {
		t.Fatalf("not locked: %v", err)
	}
	e.call("GET", "/api/v1/users/erin", nil, 200, &u)
	if u.Credential.LockedAt.IsZero() || u.Credential.FailedAttempts != 3 {
		t.Fatalf("credential state %+v", u.Credential)
	}
	// An update keeps the lockout and the secrets.
	u = provision.User{}
	e.call("PUT", "/api/v1/users/erin", `{"lastName":"Evans-Smith","primaryExtension":"4005","userProfile":"Standard User Profile"}`, 200, &u)
	if u.LastName != "Evans-Smith" || u.Credential.LockedAt.IsZero() || u.WebexPolicy != "" {
		t.Fatalf("after update: %+v", u)
	}
	e.call("POST", "/api/v1/users/erin/unlock", nil, 204, nil)
	if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "erin", Secret: "1357"}); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	// New PIN; the password stays.
	e.call("PUT", "/api/v1/users/erin/credentials", `{"pin":"9999"}`, 204, nil)
	if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "erin", Secret: "9999"}); err != nil {
		t.Fatalf("new PIN: %v", err)
	}
	if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "erin", Secret: "1357"}); provision.CodeOf(err) != provision.CodeAuthFailed {
		t.Fatalf("old PIN: %v", err)
	}
	if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "erin", Secret: "erin-pass"}); err != nil {
		t.Fatalf("password after a PIN change: %v", err)
	}
	e.call("PUT", "/api/v1/users/erin/credentials", `{"password":"new-pass"}`, 204, nil)
	if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "erin", Secret: "new-pass"}); err != nil {
		t.Fatalf("new password: %v", err)
	}
	e.fails("PUT", "/api/v1/users/erin/credentials", `{}`, 400, provision.CodeInvalid)
	e.fails("PUT", "/api/v1/users/erin/credentials", `{"pin":"abc"}`, 400, provision.CodeInvalid)
	e.fails("PUT", "/api/v1/users/nobody/credentials", `{"pin":"1234"}`, 404, provision.CodeUserNotFound)
	e.fails("POST", "/api/v1/users/nobody/unlock", nil, 404, provision.CodeUserNotFound)
	e.fails("PUT", "/api/v1/users/erin", `{"userId":"bob","lastName":"B"}`, 400, provision.CodeInvalid)
	e.fails("PUT", "/api/v1/users/nobody", `{"lastName":"N"}`, 404, provision.CodeUserNotFound)

	// A self-service ID does not address a user in a path.
	e.fails("GET", "/api/v1/users/4005", nil, 404, provision.CodeUserNotFound)
	e.fails("DELETE", "/api/v1/users/4005", nil, 404, provision.CodeUserNotFound)

	e.call("DELETE", "/api/v1/users/erin", nil, 204, nil)
	e.fails("GET", "/api/v1/users/erin", nil, 404, provision.CodeUserNotFound)
	e.fails("DELETE", "/api/v1/users/erin", nil, 404, provision.CodeUserNotFound)
}

func TestQuickAdd(t *testing.T) {
	e := newEnv(t, envOpt{})
	var res struct {
		User   provision.User
		Device *provision.Device
	}
	e.call("POST", "/api/v1/quick-add", `{"user":{"userId":"gus","lastName":"Green","firstName":"Gus","primaryExtension":"4100","pin":"2580"},
		"featureGroupTemplate":"Standard Users","deviceMAC":"00:1a:2b:3c:4d:5e","deviceModel":36224}`, 201, &res)
	if res.User.UserProfile != "Standard User Profile" || res.Device == nil || res.Device.Name != "SEP001A2B3C4D5E" ||
		res.Device.Owner != "gus" || res.Device.Lines[0].DN != "4100" || res.Device.State != provision.StateProvisioned {
		t.Fatalf("quick add: %+v %+v", res.User, res.Device)
	}
	e.call("GET", "/api/v1/devices/sep001a2b3c4d5e", nil, 200, nil)

	res.Device = nil
	e.call("POST", "/api/v1/quick-add", `{"user":{"userId":"hal","lastName":"Hill"},"featureGroupTemplate":"Standard Users"}`, 201, &res)
	if res.Device != nil || res.User.ID != "hal" {
		t.Fatalf("user only: %+v %+v", res.User, res.Device)
	}
	e.fails("POST", "/api/v1/quick-add", `{"user":{"userId":"ivy","lastName":"I"},"featureGroupTemplate":"Nope"}`, 404, provision.CodeNotFound)
	e.fails("POST", "/api/v1/quick-add", `{"user":{"userId":"ivy","lastName":"I"}}`, 400, provision.CodeInvalid)
	e.fails("POST", "/api/v1/quick-add", `{"user":{"userId":"ivy","lastName":"I","userProfile":"Standard User Profile"},"featureGroupTemplate":"Standard Users"}`, 400, provision.CodeInvalid)
	e.fails("POST", "/api/v1/quick-add", `{"user":{"userId":"ivy","lastName":"I"},"featureGroupTemplate":"Standard Users","deviceMAC":"001A2B3C4D5F","deviceModel":36224}`, 422, provision.CodeNoPrimaryExtension)
	e.fails("POST", "/api/v1/quick-add", `{"user":{"userId":"ivy","lastName":"I","primaryExtension":"4101"},"featureGroupTemplate":"Standard Users","deviceMAC":"not-a-mac","deviceModel":36224}`, 400, provision.CodeInvalid)
	e.fails("POST", "/api/v1/quick-add", `{"user":{"userId":"ivy","lastName":"I","primaryExtension":"4101"},"featureGroupTemplate":"Standard Users","deviceMAC":"001A2B3C4D5F","deviceModel":99999}`, 400, provision.CodeInvalidModel)
	e.fails("POST", "/api/v1/quick-add", `{"user":{"userId":"ivy","lastName":"I","primaryExtension":"4101"},"featureGroupTemplate":"Standard Users","deviceMAC":"001A2B3C4D5E","deviceModel":36224}`, 409, provision.CodeDuplicate)
	e.fails("POST", "/api/v1/quick-add", `{"user":{"userId":"ivy","lastName":"I"},"featureGroupTemplate":"Standard Users","deviceModel":36224}`, 400, provision.CodeInvalid)
	// Nothing of the refused adds was kept.
	e.fails("GET", "/api/v1/users/ivy", nil, 404, provision.CodeUserNotFound)
}

func TestDevices(t *testing.T) {
	e := newEnv(t, envOpt{})
	ctx := context.Background()
	for i := range 5 {
		model := 36224
		if i%2 == 1 {
			model = 36225
		}
		if _, _, err := e.svc.AutoRegister(ctx, fmt.Sprintf("SEP0A00000000%02X", i), model); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := e.svc.QuickAdd(ctx, provision.QuickAdd{User: provision.User{ID: "kim", LastName: "K", PrimaryExtension: "4200"},
		FeatureGroupTemplate: "Standard Users", DeviceMAC: "0B0000000001", DeviceModel: 36224}); err != nil {
		t.Fatal(err)
	}
	type devPage struct {
		Items []provision.Device
		Next  string
	}
	names := func(p devPage) string {
		var s []string
		for _, d := range p.Items {
			s = append(s, d.Name)
		}
		return strings.Join(s, ",")
	}
	var pg devPage
	e.call("GET", "/api/v1/devices", nil, 200, &pg)
	if len(pg.Items) != 6 || pg.Next != "" {
		t.Fatalf("all devices: %s next %q", names(pg), pg.Next)
	}
	e.call("GET", "/api/v1/devices?state=provisioned", nil, 200, &pg)
	if names(pg) != "SEP0B0000000001" {
		t.Fatalf("provisioned: %s", names(pg))
	}
	e.call("GET", "/api/v1/devices?owner=kim", nil, 200, &pg)
	if names(pg) != "SEP0B0000000001" {
		t.Fatalf("owner: %s", names(pg))
	}
	e.call("GET", "/api/v1/devices?model=36225&state=auto-registered", nil, 200, &pg)
	if names(pg) != "SEP0A0000000001,SEP0A0000000003" {
		t.Fatalf("model: %s", names(pg))
	}
	e.call("GET", "/api/v1/devices?prefix=sep0a&limit=2", nil, 200, &pg)
	if names(pg) != "SEP0A0000000000,SEP0A0000000001" || pg.Next != "SEP0A0000000001" {
		t.Fatalf("page 1: %s next %q", names(pg), pg.Next)
	}
	pg.Next = ""
	e.call("GET", "/api/v1/devices?prefix=sep0a&limit=2&after=SEP0A0000000003", nil, 200, &pg)
	if names(pg) != "SEP0A0000000004" || pg.Next != "" {
		t.Fatalf("last page: %s next %q", names(pg), pg.Next)
	}
	for _, q := range []string{"state=registered", "model=abc", "model=-1", "limit=x", "limit=5000", "mac=1", "state=provisioned&state=auto-registered", "owner=%zz"} {
		e.fails("GET", "/api/v1/devices?"+q, nil, 400, provision.CodeInvalid)
	}

	var d provision.Device
	e.call("GET", "/api/v1/devices/sep0a0000000002", nil, 200, &d)
	if d.Name != "SEP0A0000000002" || d.Lines[0].DN != "1002" || d.ConfigVersion == "" {
		t.Fatalf("device: %+v", d)
	}
	e.fails("GET", "/api/v1/devices/SEP0A00000000FF", nil, 404, provision.CodeDeviceNotFound)
	e.fails("GET", "/api/v1/devices/not-a-device", nil, 404, provision.CodeDeviceNotFound)

	var ack map[string]string
	e.call("POST", "/api/v1/devices/sep0a0000000002/reset", nil, 202, &ack)
	if ack["device"] != "SEP0A0000000002" || ack["action"] != "reset" {
		t.Fatalf("reset answer %v", ack)
	}
	e.call("POST", "/api/v1/devices/SEP0B0000000001/restart", nil, 202, nil)
	e.fails("POST", "/api/v1/devices/SEP0A00000000FF/restart", nil, 404, provision.CodeDeviceNotFound)
	if got := e.notifier.got(); !slices.Equal(got, []string{"reset SEP0A0000000002", "restart SEP0B0000000001"}) {
		t.Fatalf("notifications %v", got)
	}
	// A NOTIFY that never left is not accepted.
	e.notifier.failWith(fmt.Errorf("%w: SEP0A0000000002 has no live registration", provision.ErrNotRegistered))
	e.fails("POST", "/api/v1/devices/SEP0A0000000002/reset", nil, 409, provision.CodeNotRegistered)
	e.notifier.failWith(fmt.Errorf("%w: connection closed", provision.ErrNotifyFailed))
	e.fails("POST", "/api/v1/devices/SEP0A0000000002/restart", nil, 502, provision.CodeNotifyFailed)
	e.notifier.failWith(nil)

	// Deleting releases the DN for the next phone.
	e.call("DELETE", "/api/v1/devices/SEP0A0000000002", nil, 204, nil)
	e.fails("GET", "/api/v1/devices/SEP0A0000000002", nil, 404, provision.CodeDeviceNotFound)
	e.fails("DELETE", "/api/v1/devices/SEP0A0000000002", nil, 404, provision.CodeDeviceNotFound)
	n, _, err := e.svc.AutoRegister(ctx, "SEP0C0000000001", 36224)
	if err != nil || n.Lines[0].DN != "1002" {
		t.Fatalf("released DN not reused: %v %v", n.Lines, err)
	}

	var models struct{ Items []provision.Model }
	e.call("GET", "/api/v1/models", nil, 200, &models)
	if len(models.Items) == 0 || !slices.IsSortedFunc(models.Items, func(a, b provision.Model) int { return a.ID - b.ID }) {
		t.Fatalf("models: %v", models.Items)
	}
}

func TestRegistrations(t *testing.T) {
	e := newEnv(t, envOpt{})
	var got struct{ Items []admin.Registration }
	e.call("GET", "/api/v1/registrations", nil, 200, &got)
	if got.Items == nil || len(got.Items) != 0 {
		t.Fatalf("no bindings: %v", got.Items)
	}
	exp := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	e.setRegistrations([]admin.Registration{
		{DeviceName: "SEP0A0000000002", Contact: "sip:b@192.0.2.2:5060", Transport: "udp", Source: "192.0.2.2:5060", CallID: "c2", Expires: exp},
		{DeviceName: "CSFKIM", Contact: "sip:k@192.0.2.3:5060;transport=tcp", Transport: "tcp", Source: "192.0.2.3:40000", CallID: "c3", UserAgent: "Webex", Expires: exp},
		{DeviceName: "SEP0A0000000001", Contact: "sip:a@192.0.2.1:5060", Transport: "udp", Source: "192.0.2.1:5060", CallID: "c1", UserAgent: "Cisco-CP8845/14.2.1", Expires: exp},
	})
	raw := e.call("GET", "/api/v1/registrations", nil, 200, &got)
	if len(got.Items) != 3 || got.Items[0].DeviceName != "CSFKIM" || got.Items[2].DeviceName != "SEP0A0000000002" || !got.Items[1].Expires.Equal(exp) {
		t.Fatalf("bindings: %+v", got.Items)
	}
	for _, key := range []string{`"deviceName"`, `"contact"`, `"transport"`, `"source"`, `"callId"`, `"userAgent"`, `"expires": "2026-03-04T05:06:07Z"`} {
		if !strings.Contains(string(raw.body), key) {
			t.Fatalf("answer lacks %s:\n%s", key, raw.body)
		}
	}
	e.call("GET", "/api/v1/registrations?prefix=sep", nil, 200, &got)
	if len(got.Items) != 2 {
		t.Fatalf("prefix: %+v", got.Items)
	}
	e.fails("GET", "/api/v1/registrations?device=x", nil, 400, provision.CodeInvalid)

	// Without a registrar the list is empty, not an error.
	e2 := newEnv(t, envOpt{noRegs: true})
	e2.call("GET", "/api/v1/registrations", nil, 200, &got)
	if got.Items == nil || len(got.Items) != 0 {
		t.Fatalf("nil registrar: %v", got.Items)
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, envOpt{maxBody: 256})
	big := `{"userId":"big","lastName":"` + strings.Repeat("x", 300) + `"}`
	msg := e.fails("POST", "/api/v1/users", big, 413, "REQUEST_TOO_LARGE")
	if !strings.Contains(msg, "256 bytes") {
		t.Fatalf("message %q", msg)
	}
	// Just over the bound after a complete value still counts as too large.
	e.fails("POST", "/api/v1/users", `{"userId":"big","lastName":"B"}`+strings.Repeat(" ", 300), 413, "REQUEST_TOO_LARGE")
	e.fails("GET", "/api/v1/users/big", nil, 404, provision.CodeUserNotFound)

	// Field names are matched exactly, also in embedded and nested objects.
	for _, c := range []struct{ path, body, want string }{
		{"/api/v1/udts/Case", `{"idleUrl":"http://x"}`, `did you mean "idleURL"`},
		{"/api/v1/user-profiles/Case", `{"deskPhoneUdt":"Desk Phone Template"}`, `did you mean "deskPhoneUDT"`},
	} {
		if msg := e.fails("PUT", c.path, c.body, 400, provision.CodeInvalid); !strings.Contains(msg, c.want) {
			t.Fatalf("%s: %q", c.path, msg)
		}
	}
	if msg := e.fails("POST", "/api/v1/quick-add", `{"user":{"userID":"q","lastName":"Q"},"featureGroupTemplate":"Standard Users"}`, 400, provision.CodeInvalid); !strings.Contains(msg, `"userID" in user; did you mean "userId"`) {
		t.Fatalf("quick add: %q", msg)
	}
	e.fails("GET", "/api/v1/udts/Case", nil, 404, provision.CodeNotFound)
	e.fails("GET", "/api/v1/users/q", nil, 404, provision.CodeUserNotFound)

	r := e.raw("DELETE", "/api/v1/cluster", e.token, nil)
	if code, _ := r.errorBody(t); r.status != 405 || code != "METHOD_NOT_ALLOWED" || !strings.Contains(r.header.Get("Allow"), "PATCH") {
		t.Fatalf("DELETE cluster: %d %s Allow=%q", r.status, code, r.header.Get("Allow"))
	}
	e.fails("GET", "/api/v1/nothing-here", nil, 404, provision.CodeNotFound)
	e.fails("GET", "/api/v1/devices/SEP0A0000000001/unknown", nil, 404, provision.CodeNotFound)
	if r := e.raw("GET", "/nothing", "", nil); r.status != 404 {
		t.Fatalf("unknown path outside the API: %d", r.status)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t, envOpt{})
	if r := e.raw("GET", "/healthz", "", nil); r.status != 200 || !strings.Contains(string(r.body), "ok") {
		t.Fatalf("healthz: %d %s", r.status, r.body)
	}
	if r := e.raw("GET", "/readyz", "", nil); r.status != 200 {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	// A store that no longer answers makes the daemon unready, not dead.
	e.store.broken.Store(true)
	if r := e.raw("GET", "/readyz", "", nil); r.status != 503 || !strings.Contains(string(r.body), "store") {
		t.Fatalf("readyz with a closed store: %d %s", r.status, r.body)
	}
	if r := e.raw("GET", "/healthz", "", nil); r.status != 200 {
		t.Fatalf("healthz with a closed store: %d", r.status)
	}
	// A store error reaches the client as INTERNAL without its text.
	r := e.raw("GET", "/api/v1/udts", e.token, nil)
	if code, msg := r.errorBody(t); r.status != 500 || code != "INTERNAL" || strings.Contains(msg, "sql") {
		t.Fatalf("store error: %d %s %q", r.status, code, msg)
	}
}

func TestReadinessIsOffDuringShutdown(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.stop()
	// The listener is gone; ask the handler itself.
	rec := &recorder{h: http.Header{}}
	req, _ := http.NewRequest("GET", "/readyz", nil)
	e.srv.ServeHTTP(rec, req)
	if rec.code != 503 || !strings.Contains(rec.body.String(), "shutting down") {
		t.Fatalf("readyz while draining: %d %s", rec.code, rec.body.String())
	}
}

type recorder struct {
	h    http.Header
	code int
	body strings.Builder
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)        { r.code = code }
