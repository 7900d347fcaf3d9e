package xmlsvc

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"selfprov/configs"
	"selfprov/internal/testkit"
	"selfprov/phonexml"
	"selfprov/provision"
)

// TestEndToEnd: a phone auto-registers, opens its idle URL, logs in and
// confirms; it ends up with the user's extension, its auto-registration DN
// is free again, and a reset follows the success screen.
func TestEndToEnd(t *testing.T) {
	for _, f := range []flow{xpsFlow, udsFlow} {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t, nil, nil)
			ctx := context.Background()
			e.notifier.gate = make(chan struct{})
			dev := e.autoRegister(t, 1, 36224)
			autoDN := dev.Lines[0].DN
			cnf := e.configServer(t)
			before := cnf(dev.Name)
			if before.IdleURL != dev.Settings.IdleURL || len(before.Lines) != 1 || before.Lines[0].DN != autoDN {
				t.Fatalf("auto-registered config: idle %q lines %+v", before.IdleURL, before.Lines)
			}
			// The idle URL of the auto-registration template points here.
			idle, err := url.Parse(dev.Settings.IdleURL)
			if err != nil || idle.Path != PathIdle || idle.Query().Get("name") != dev.Name {
				t.Fatalf("idle URL %q (%v)", dev.Settings.IdleURL, err)
			}
			start := f.idle + "?name=" + dev.Name
			var auth []string // the UDS mount: alice's own credentials on every request
			var conf *phonexml.Text
			if f.basic {
				auth = basicAuth("alice", "12345")
				conf = e.get(t, start, append(auth, headerModelName, "CP-8845")...).text(t)
			} else {
				in := e.get(t, start, headerModelName, "CP-8845").input(t)
				if !strings.HasPrefix(in.URL, e.base+f.login+"?") {
					t.Fatalf("login URL %q does not stay on %s", in.URL, f.login)
				}
				conf = e.get(t, phonexml.SubmitURL(in.URL, [2]string{"userid", "alice"}, [2]string{"pin", "12345"})).text(t)
			}
			if !strings.Contains(conf.Text, "extension 2001") {
				t.Fatalf("confirm screen %+v", conf)
			}
			cont := softKey(t, conf.SoftKeys, "Continue").URL
			if !strings.HasPrefix(cont, e.base+f.confirm+"?") {
				t.Fatalf("Continue URL %q", cont)
			}
			ok := e.get(t, cont, auth...)
			close(e.notifier.gate) // the screen is read: a reset may arrive now
			if x := ok.text(t); x.Prompt != "Provisioned" || !strings.Contains(x.Text, "2001") {
				t.Fatalf("success screen %s", ok.body)
			}
			if ok.header.Get("Expires") != "-1" {
				t.Errorf("success screen should leave the back stack: Expires %q", ok.header.Get("Expires"))
			}
			r := e.notifier.next(t)
			if r.device != dev.Name || r.action != provision.ActionReset || !r.afterResponse {
				t.Fatalf("reset %+v; want reset of %s after the response", r, dev.Name)
			}

			got, err := e.svc.Device(ctx, dev.Name)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != provision.StateProvisioned || got.Owner != "alice" || len(got.Lines) != 1 || got.Lines[0].DN != "2001" {
				t.Fatalf("device after provisioning: %+v", got)
			}
			if got.Settings.IdleURL != "" {
				t.Errorf("provisioned device keeps the self-provisioning idle URL %q", got.Settings.IdleURL)
			}
			if got.ConfigVersion == dev.ConfigVersion {
				t.Error("config version stamp did not change")
			}
			// The SEP file the phone fetches after the reset.
			after := cnf(dev.Name)
			if after.IdleURL != "" || len(after.Lines) != 1 || after.Lines[0].DN != "2001" || after.Lines[0].DisplayName != "Alice Adams" {
				t.Errorf("provisioned config: idle %q lines %+v", after.IdleURL, after.Lines)
			}
			if after.VersionStamp == before.VersionStamp {
				t.Error("SEP file version stamp did not change")
			}
			// The auto-registration DN is free: the next phone gets it.
			if next := e.autoRegister(t, 2, 36224); next.Lines[0].DN != autoDN {
				t.Errorf("next phone got %s, want the released %s", next.Lines[0].DN, autoDN)
			}
			// Coming back to the idle URL now says so.
			if p := e.get(t, start, auth...); p.code() != provision.CodeDeviceNotAutoReg {
				t.Errorf("idle after provisioning: %s", p.body)
			}
			// One log line per step with device and code.
			logs := e.logs.String()
			steps := []string{"login", "confirm"}
			if f.basic {
				steps[0] = "idle" // the idle URL logs in with the Basic credentials
			}
			for _, step := range steps {
				if !logHas(t, logs, map[string]string{"step": step, "device": dev.Name, "code": "OK", "flow": f.name}) {
					t.Errorf("no log line for step %s in\n%s", step, logs)
				}
			}
			if v := testutil.ToFloat64(e.srv.m.outcomes.WithLabelValues("confirm", "OK")); v != 1 {
				t.Errorf("outcomes{confirm,OK} = %v", v)
			}
			if v := testutil.ToFloat64(e.srv.m.logins.WithLabelValues("ok")); v != 1 {
				t.Errorf("logins{ok} = %v", v)
			}
			if v := testutil.ToFloat64(e.srv.m.screens.WithLabelValues("success", "78xx_88xx")); v != 1 {
				t.Errorf("screens{success} = %v", v)
			}
		})
	}
}

func logHas(t *testing.T, logs string, want map[string]string) bool {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		match := true
		for k, v := range want {
			if s, _ := m[k].(string); s != v {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// TestEveryOutcomeCode reaches each code through HTTP and checks the
// screen names it and the metric counts it.
func TestEveryOutcomeCode(t *testing.T) {
	ctx := context.Background()
	type tc struct {
		name   string
		code   string
		change func(*configs.Config)
		opt    func(*Options)
		run    func(t *testing.T, e *env) page
	}
	loginAs := func(model int, user, pin string) func(t *testing.T, e *env) page {
		return func(t *testing.T, e *env) page {
			d := e.autoRegister(t, 1, model)
			return e.login(t, d.Name, user, pin)
		}
	}
	cases := []tc{
		{"missing device", provision.CodeInvalid, nil, nil, func(t *testing.T, e *env) page { return e.get(t, PathIdle) }},
		{"unknown device", provision.CodeDeviceNotFound, nil, nil, func(t *testing.T, e *env) page { return e.get(t, PathIdle+"?name=SEP"+mac(9)) }},
		{"malformed device", provision.CodeDeviceNotFound, nil, nil, func(t *testing.T, e *env) page { return e.get(t, PathIdle+"?name=SEPnothex") }},
		{"already provisioned", provision.CodeDeviceNotAutoReg, nil, nil, func(t *testing.T, e *env) page {
			d := e.autoRegister(t, 1, 36224)
			if _, err := e.svc.SelfProvision(ctx, d.Name, "bob"); err != nil {
				t.Fatal(err)
			}
			return e.get(t, PathLogin+"?name="+d.Name+"&userid=alice&pin=12345")
		}},
		{"wrong PIN", provision.CodeAuthFailed, nil, nil, loginAs(36224, "alice", "999")},
		{"unknown user", provision.CodeAuthFailed, nil, nil, loginAs(36224, "nobody", "12345")},
		{"locked", provision.CodeAccountLocked, nil, nil, func(t *testing.T, e *env) page {
			d := e.autoRegister(t, 1, 36224)
			for _, pin := range []string{"1", "2", "3"} {
				e.login(t, d.Name, "alice", pin)
			}
			return e.login(t, d.Name, "alice", "12345")
		}},
		{"too many attempts", provision.CodeTooManyAttempts, func(c *configs.Config) { c.SelfProvisioning.FailedLoginsPerSource = 2 }, nil, func(t *testing.T, e *env) page {
			d := e.autoRegister(t, 1, 36224)
			e.login(t, d.Name, "bob", "1")
			e.login(t, d.Name, "nobody", "1")
			return e.login(t, d.Name, "alice", "12345")
		}},
		{"not allowed", provision.CodeNotAllowed, func(c *configs.Config) { c.UserProfiles[0].AllowSelfProvision = false }, nil, loginAs(36224, "alice", "12345")},
		{"no primary extension", provision.CodeNoPrimaryExtension, nil, nil, loginAs(36224, "dave", "12345")},
		{"device limit", provision.CodeDeviceLimit, func(c *configs.Config) { c.UserProfiles[0].DeviceLimit = 1 }, nil, func(t *testing.T, e *env) page {
			d0 := e.autoRegister(t, 2, 36224)
			if _, err := e.svc.SelfProvision(ctx, d0.Name, "alice"); err != nil {
				t.Fatal(err)
			}
			return loginAs(36224, "alice", "12345")(t, e)
		}},
		{"unknown model", provision.CodeInvalidModel, nil, nil, loginAs(99999, "alice", "12345")},
		{"unsupported model", provision.CodeInvalidModel, nil, nil, loginAs(7, "alice", "12345")},
		{"no desk phone template", provision.CodeTemplateNotFound, func(c *configs.Config) { c.UserProfiles[0].DeskPhoneUDT = "" }, nil, loginAs(36224, "alice", "12345")},
		// Users' lines in <None> beside the auto-registered ones: the
		// setting in which their DNs can clash.
		{"duplicate assign", provision.CodeDuplicate, func(c *configs.Config) { c.ULTs[1].RoutePartition = "" }, nil, func(t *testing.T, e *env) page {
			d := e.autoRegister(t, 1, 36224) // takes 1000
			d2 := e.autoRegister(t, 2, 36224)
			cont := e.confirmURL(t, d2.Name, "bob", "12345")
			// A clash stored before the core refused it
			// (DN_IN_AUTOREG_RANGE) still reaches the store's check.
			bob, _ := e.st.User(ctx, "bob")
			bob.PrimaryExtension = d.Lines[0].DN
			if err := e.st.UpdateUser(ctx, bob); err != nil {
				t.Fatal(err)
			}
			return e.get(t, cont)
		}},
		{"user deleted before confirm", provision.CodeUserNotFound, nil, nil, func(t *testing.T, e *env) page {
			d := e.autoRegister(t, 1, 36224)
			cont := e.confirmURL(t, d.Name, "bob", "12345")
			if err := e.st.DeleteUser(ctx, "bob", func(d provision.Device) provision.Device { d.Owner = ""; return d }); err != nil {
				t.Fatal(err)
			}
			return e.get(t, cont)
		}},
		{"forged token", codeTokenInvalid, nil, nil, func(t *testing.T, e *env) page {
			d := e.autoRegister(t, 1, 36224)
			return e.get(t, PathConfirm+"?name="+d.Name+"&token=AAAAAAAAAAAAAAAAAAAAAA")
		}},
		{"too many pending", provision.CodeUnavailable, nil, func(o *Options) { o.MaxPending = 1 }, func(t *testing.T, e *env) page {
			d1 := e.autoRegister(t, 1, 36224)
			d2 := e.autoRegister(t, 2, 36224)
			e.confirmURL(t, d1.Name, "alice", "12345")
			return e.login(t, d2.Name, "bob", "12345")
		}},
		{"POST", codeMethodNotAllowed, nil, nil, func(t *testing.T, e *env) page {
			d := e.autoRegister(t, 1, 36224)
			p := e.do(t, http.MethodPost, PathIdle+"?name="+d.Name)
			if p.status != http.StatusMethodNotAllowed || p.header.Get("Allow") != "GET, HEAD" {
				t.Errorf("POST: status %d Allow %q", p.status, p.header.Get("Allow"))
			}
			return p
		}},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.change, c.opt)
			p := c.run(t, e)
			if got := p.code(); got != c.code {
				t.Fatalf("screen names %q, want %q:\n%s", got, c.code, p.body)
			}
			golden(t, e, "outcome-"+goldenName(c.name), p.body)
			if p.header.Get("Content-Type") != phonexml.ContentType {
				t.Errorf("Content-Type %q", p.header.Get("Content-Type"))
			}
			n := 0.0
			for _, step := range []string{"idle", "login", "confirm"} {
				n += testutil.ToFloat64(e.srv.m.outcomes.WithLabelValues(step, c.code))
			}
			if n == 0 {
				t.Errorf("outcomes_total{code=%q} not counted", c.code)
			}
			e.notifier.none(t)
			seen[c.code] = true
		})
	}
	for _, code := range []string{provision.CodeAuthFailed, provision.CodeAccountLocked, provision.CodeNotAllowed,
		provision.CodeNoPrimaryExtension, provision.CodeDeviceLimit, provision.CodeInvalidModel, provision.CodeTemplateNotFound,
		provision.CodeDeviceNotFound, provision.CodeDeviceNotAutoReg, provision.CodeDuplicate, provision.CodeTooManyAttempts} {
		if !seen[code] {
			t.Errorf("outcome %s not reached", code)
		}
	}
}

// TestChecksInSpecOrder: when several checks fail, the first in SPEC §4
// order is the one shown.
func TestChecksInSpecOrder(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) {
		c.UserProfiles[0].AllowSelfProvision = false
		c.UserProfiles[0].DeskPhoneUDT = ""
	}, nil)
	d := e.autoRegister(t, 1, 99999) // unknown model too
	if p := e.login(t, d.Name, "alice", "999"); p.code() != provision.CodeAuthFailed {
		t.Errorf("credentials before permission: %s", p.body)
	}
	if p := e.login(t, d.Name, "dave", "12345"); p.code() != provision.CodeNotAllowed {
		t.Errorf("permission before extension: %s", p.body)
	}
	if p := e.get(t, PathLogin+"?name=SEP"+mac(9)+"&userid=alice&pin=999"); p.code() != provision.CodeDeviceNotFound {
		t.Errorf("device before credentials: %s", p.body)
	}
}

func TestLockout(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	d := e.autoRegister(t, 1, 36224)
	for i, pin := range []string{"1", "2"} {
		if p := e.login(t, d.Name, "alice", pin); p.code() != provision.CodeAuthFailed {
			t.Fatalf("attempt %d: %s", i+1, p.body)
		}
	}
	if p := e.login(t, d.Name, "alice", "3"); p.code() != provision.CodeAccountLocked {
		t.Fatalf("third failure should lock: %s", p.body)
	}
	// Locked: the right PIN and a wrong one get the same screen.
	right := e.login(t, d.Name, "alice", "12345")
	wrong := e.login(t, d.Name, "alice", "54321")
	if right.code() != provision.CodeAccountLocked || string(right.body) != string(wrong.body) {
		t.Fatalf("a locked account reveals the PIN:\nright: %s\nwrong: %s", right.body, wrong.body)
	}
	// So does the authenticationURL.
	if a, b := e.get(t, PathAuthenticate+"?UserID=alice&Password=12345&devicename="+d.Name), e.get(t, PathAuthenticate+"?UserID=alice&Password=0&devicename="+d.Name); string(a.body) != "UNAUTHORIZED" || string(b.body) != string(a.body) {
		t.Fatalf("authenticationURL while locked: %q / %q", a.body, b.body)
	}
	if v := testutil.ToFloat64(e.srv.m.lockouts); v != 5 {
		t.Errorf("lockouts_total = %v, want 5", v)
	}
	// The lockout runs out after its duration.
	e.clock.Advance(31 * time.Minute)
	if p := e.login(t, d.Name, "alice", "12345"); p.text(t).Prompt != "Confirm" {
		t.Fatalf("after the lockout duration: %s", p.body)
	}
	// An administrator unlocks at once.
	for _, pin := range []string{"1", "2", "3"} {
		e.login(t, d.Name, "alice", pin)
	}
	if p := e.login(t, d.Name, "alice", "12345"); p.code() != provision.CodeAccountLocked {
		t.Fatalf("relock: %s", p.body)
	}
	if err := e.svc.Unlock(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if p := e.login(t, d.Name, "alice", "12345"); p.text(t).Prompt != "Confirm" {
		t.Fatalf("after unlock: %s", p.body)
	}
}

func TestAuthModes(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		e := newEnv(t, func(c *configs.Config) { c.Cluster.AuthMode = provision.AuthNone }, nil)
		d := e.autoRegister(t, 1, 36224)
		in := e.get(t, PathIdle+"?name="+d.Name).input(t)
		if len(in.Items) != 1 || in.Items[0].QueryStringParam != "userid" {
			t.Fatalf("mode none asks for %+v", in.Items)
		}
		// The self-service ID works as well as the user ID.
		if p := e.login(t, d.Name, "2003", ""); !strings.Contains(p.text(t).Text, "(carol)") {
			t.Fatalf("self-service ID: %s", p.body)
		}
		// A PIN sent anyway is ignored, not checked.
		if p := e.get(t, PathLogin+"?name="+d.Name+"&userid=alice&pin=wrong"); p.text(t).Prompt != "Confirm" {
			t.Fatalf("PIN in mode none: %s", p.body)
		}
		// Pushes are never authorised without credential checks.
		if p := e.get(t, PathAuthenticate+"?UserID=alice&Password=12345&devicename="+d.Name); string(p.body) != "UNAUTHORIZED" {
			t.Fatalf("authenticationURL in mode none: %q", p.body)
		}
	})
	t.Run("users-and-admin", func(t *testing.T) {
		e := newEnv(t, func(c *configs.Config) {
			c.Cluster.AuthMode = provision.AuthUsersAndAdmin
			c.Cluster.AuthCode = "Adm1nCode"
		}, nil)
		d := e.autoRegister(t, 1, 36224)
		in := e.get(t, PathIdle+"?name="+d.Name).input(t)
		if len(in.Items) != 2 || in.Items[1].InputFlags != "AP" {
			t.Fatalf("users-and-admin asks for %+v", in.Items)
		}
		if p := e.login(t, d.Name, "bob", "Adm1nCode"); p.text(t).Prompt != "Confirm" {
			t.Fatalf("authentication code: %s", p.body)
		}
		if p := e.login(t, d.Name, "bob", "12345"); p.text(t).Prompt != "Confirm" {
			t.Fatalf("user PIN: %s", p.body)
		}
		if p := e.login(t, d.Name, "bob", "Adm1nCod"); p.code() != provision.CodeAuthFailed {
			t.Fatalf("wrong code: %s", p.body)
		}
		// Pushes to a user's phone need the user's own credentials, not the
		// system authentication code.
		if _, err := e.svc.SelfProvision(context.Background(), d.Name, "bob"); err != nil {
			t.Fatal(err)
		}
		for secret, want := range map[string]string{"Adm1nCode": "UNAUTHORIZED", "12345": "AUTHORIZED"} {
			if p := e.get(t, PathAuthenticate+"?UserID=bob&Password="+secret+"&devicename="+d.Name); string(p.body) != want {
				t.Errorf("authenticationURL with %s: %q, want %s", secret, p.body, want)
			}
		}
	})
	t.Run("users", func(t *testing.T) {
		e := newEnv(t, func(c *configs.Config) { c.Cluster.AuthCode = "Adm1nCode" }, nil)
		d := e.autoRegister(t, 1, 36224)
		if in := e.get(t, PathIdle+"?name="+d.Name).input(t); len(in.Items) != 2 || in.Items[1].InputFlags != "NP" {
			t.Fatalf("users mode asks for %+v", in.Items)
		}
		if p := e.login(t, d.Name, "bob", "Adm1nCode"); p.code() != provision.CodeAuthFailed {
			t.Fatalf("authentication code accepted in users mode: %s", p.body)
		}
		// A password works where a PIN does.
		if p := e.login(t, d.Name, "alice", "alice-password"); p.text(t).Prompt != "Confirm" {
			t.Fatalf("password: %s", p.body)
		}
	})
}

func TestAuthenticationURL(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	d := e.autoRegister(t, 1, 36224)
	if _, err := e.svc.SelfProvision(ctx, d.Name, "alice"); err != nil {
		t.Fatal(err)
	}
	q := func(v ...string) string {
		u := url.Values{}
		for i := 0; i+1 < len(v); i += 2 {
			u.Set(v[i], v[i+1])
		}
		return PathAuthenticate + "?" + u.Encode()
	}
	cases := []struct {
		name, target, want string
	}{
		{"owner", q("UserID", "alice", "Password", "12345", "devicename", d.Name), "AUTHORIZED"},
		{"owner password", q("UserID", "alice", "Password", "alice-password", "devicename", d.Name), "AUTHORIZED"},
		{"lower-case names", q("userid", "alice", "password", "12345", "DeviceName", strings.ToLower(d.Name)), "AUTHORIZED"},
		{"wrong password", q("UserID", "alice", "Password", "0", "devicename", d.Name), "UNAUTHORIZED"},
		{"not the owner", q("UserID", "bob", "Password", "12345", "devicename", d.Name), "UNAUTHORIZED"},
		{"unknown device", q("UserID", "alice", "Password", "12345", "devicename", "SEP"+mac(9)), "UNAUTHORIZED"},
		{"no device", q("UserID", "alice", "Password", "12345"), "ERROR"},
		{"no user", q("Password", "12345", "devicename", d.Name), "ERROR"},
		{"over-long", q("UserID", strings.Repeat("a", 65), "Password", "1", "devicename", d.Name), "ERROR"},
		{"bad escape", PathAuthenticate + "?UserID=%zz", "ERROR"},
	}
	for _, c := range cases {
		p := e.get(t, c.target)
		if string(p.body) != c.want || p.status != http.StatusOK {
			t.Errorf("%s: %d %q, want %q", c.name, p.status, p.body, c.want)
		}
		if ct := p.header.Get("Content-Type"); ct != "text/plain" {
			t.Errorf("%s: Content-Type %q", c.name, ct)
		}
	}
	if p := e.do(t, http.MethodPost, q("UserID", "alice", "Password", "12345", "devicename", d.Name)); p.status != http.StatusMethodNotAllowed || string(p.body) != "ERROR" {
		t.Errorf("POST: %d %q", p.status, p.body)
	}
	if v := testutil.ToFloat64(e.srv.m.authURL.WithLabelValues("AUTHORIZED")); v != 3 {
		t.Errorf("authentications_total{AUTHORIZED} = %v", v)
	}
}

// TestBadInput: each case gets a clear screen and nothing is half-written.
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil, nil)
	d := e.autoRegister(t, 1, 36224)
	other := e.autoRegister(t, 2, 36224)
	unchanged := func(t *testing.T, devs ...provision.Device) {
		t.Helper()
		for _, want := range devs {
			got, err := e.svc.Device(ctx, want.Name)
			if err != nil || got.State != provision.StateAutoRegistered || got.Lines[0].DN != want.Lines[0].DN {
				t.Fatalf("%s changed: %+v %v", want.Name, got, err)
			}
		}
		e.notifier.none(t)
	}
	failed := func(t *testing.T) int {
		u, err := e.st.User(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		return u.Credential.FailedAttempts
	}

	t.Run("over-long and non-ASCII input", func(t *testing.T) {
		for _, q := range []string{
			"userid=" + strings.Repeat("a", 65) + "&pin=12345",
			"userid=alice&pin=" + strings.Repeat("1", 65),
			"userid=%C3%A5lice&pin=12345",
			"userid=alice%00&pin=12345",
			"userid=alice&pin=12%0A345",
			"userid=" + strings.Repeat("a", 1100),
			"userid=%zz",
		} {
			p := e.get(t, PathLogin+"?name="+d.Name+"&"+q)
			if p.code() != provision.CodeInvalid {
				t.Errorf("%.40s: %s", q, p.body)
			}
		}
		if n := failed(t); n != 0 {
			t.Errorf("refused input counted as %d failed logons", n)
		}
		unchanged(t, d)
	})

	t.Run("parameters appended with ? or &", func(t *testing.T) {
		for _, target := range []string{
			PathLogin + "?name=" + d.Name + "&userid=alice&pin=12345",
			PathLogin + "?name=" + d.Name + "?userid=alice&pin=12345",
			PathLogin + "?name=" + d.Name + "?userid=alice?pin=12345",
			PathLogin + "&name=" + d.Name + "&userid=alice&pin=12345",
			PathLogin + "?userid=alice&pin=12345&name=" + strings.ToLower(d.Name),
		} {
			if p := e.get(t, target); p.text(t).Prompt != "Confirm" {
				t.Errorf("%s: %s", target, p.body)
			}
		}
		// A second, different device name is refused, not picked.
		if p := e.get(t, PathLogin+"?name="+d.Name+"?name="+other.Name+"&userid=alice&pin=12345"); p.code() != provision.CodeInvalid {
			t.Errorf("two device names: %s", p.body)
		}
	})

	t.Run("replayed, forged, other-device and expired tokens", func(t *testing.T) {
		cont := e.confirmURL(t, d.Name, "alice", "12345")
		u, _ := url.Parse(cont)
		tok := u.Query().Get("token")
		for _, target := range []string{
			PathConfirm + "?name=" + other.Name + "&token=" + tok, // another phone
			PathConfirm + "?name=" + d.Name + "&token=" + tok[:len(tok)-1] + "x",
			PathConfirm + "?name=" + d.Name,
			PathConfirm + "?name=" + d.Name + "&token=" + strings.Repeat("A", 200),
			PathConfirm + "?name=" + d.Name + "&token=%3Cscript%3E",
		} {
			if p := e.get(t, target); p.code() != codeTokenInvalid {
				t.Errorf("%s: %s", target, p.body)
			}
		}
		unchanged(t, d, other)
		// Logging in again replaces the pending confirmation.
		cont2 := e.confirmURL(t, d.Name, "alice", "12345")
		if p := e.get(t, cont); p.code() != codeTokenInvalid {
			t.Errorf("superseded token: %s", p.body)
		}
		// Expired.
		e.clock.Advance(DefaultTokenTTL)
		if p := e.get(t, cont2); p.code() != codeTokenInvalid {
			t.Errorf("expired token: %s", p.body)
		}
		unchanged(t, d, other)
		// Exit drops the token and changes nothing.
		cont3 := e.confirmURL(t, d.Name, "bob", "12345")
		conf := e.login(t, d.Name, "bob", "12345").text(t)
		exitURL := softKey(t, conf.SoftKeys, "Exit").URL
		if x := e.get(t, exitURL).text(t); x.Prompt != "Cancelled" {
			t.Errorf("exit: %+v", x)
		}
		cont4 := softKey(t, conf.SoftKeys, "Continue").URL
		for _, c := range []string{cont3, cont4} {
			if p := e.get(t, c); p.code() != codeTokenInvalid {
				t.Errorf("token after exit: %s", p.body)
			}
		}
		unchanged(t, d, other)
		// Used once, then replayed.
		cont5 := e.confirmURL(t, d.Name, "bob", "12345")
		if x := e.get(t, cont5).text(t); x.Prompt != "Provisioned" {
			t.Fatalf("%+v", x)
		}
		e.notifier.next(t)
		if p := e.get(t, cont5); p.code() != codeTokenInvalid {
			t.Errorf("replayed token: %s", p.body)
		}
		e.notifier.none(t)
	})
}

func TestXMLMetacharactersEscaped(t *testing.T) {
	const first, last, id = `<Ann & "Bo">`, `O'Brien]]>`, `a&b<c>"'`
	e := newEnv(t, func(c *configs.Config) {
		c.Users = append(c.Users, configs.UserConfig{ID: id, FirstName: first, LastName: last,
			PrimaryExtension: "2010", UserProfile: "Standard User Profile", PIN: "4242"})
	}, nil)
	d := e.autoRegister(t, 1, 36224)
	p := e.login(t, d.Name, id, "4242")
	x := p.text(t)
	want := "Provision this phone with extension 2010 for " + first + " " + last + " (" + id + ")?"
	if x.Text != want {
		t.Fatalf("Text %q, want %q", x.Text, want)
	}
	for _, raw := range []string{first, `a&b<c>`} {
		if strings.Contains(string(p.body), raw) {
			t.Errorf("raw %q in %s", raw, p.body)
		}
	}
	// The error screen echoes a device name from the URL: escaped too.
	p = e.get(t, PathIdle+"?name="+url.QueryEscape("<SEP&>"))
	if strings.Contains(string(p.body), "<SEP&>") || p.code() != provision.CodeDeviceNotFound {
		t.Errorf("device name echo: %s", p.body)
	}
}

// TestConcurrentContinueAtLimit: two phones press Continue at once for one
// user with one phone left under the limit; exactly one wins.
func TestConcurrentContinueAtLimit(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *configs.Config) { c.UserProfiles[0].DeviceLimit = 2 }, nil)
	d0 := e.autoRegister(t, 1, 36224)
	if _, err := e.svc.SelfProvision(ctx, d0.Name, "alice"); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		d1 := e.autoRegister(t, 10+2*round, 36224)
		d2 := e.autoRegister(t, 11+2*round, 36224)
		urls := []string{e.confirmURL(t, d1.Name, "alice", "12345"), e.confirmURL(t, d2.Name, "alice", "12345")}
		pages := make([]page, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range urls {
			wg.Go(func() {
				<-start
				pages[i] = e.get(t, urls[i])
			})
		}
		close(start)
		wg.Wait()
		won, lost := 0, 0
		for _, p := range pages {
			switch {
			case p.text(t).Prompt == "Provisioned":
				won++
			case p.code() == provision.CodeDeviceLimit:
				lost++
			default:
				t.Errorf("round %d: %s", round, p.body)
			}
		}
		if won != 1 || lost != 1 {
			t.Fatalf("round %d: %d provisioned, %d refused; want 1 and 1", round, won, lost)
		}
		e.notifier.next(t)
		n, err := e.st.CountOwnedDevices(ctx, "alice")
		if err != nil || n != 2 {
			t.Fatalf("alice owns %d devices (%v), want 2", n, err)
		}
		// The loser is untouched; free a slot for the next round.
		var winner, loser provision.Device
		for _, d := range []provision.Device{d1, d2} {
			got, _ := e.svc.Device(ctx, d.Name)
			if got.State == provision.StateProvisioned {
				winner = got
			} else {
				loser = got
				if got.Lines[0].DN != d.Lines[0].DN {
					t.Fatalf("loser lost its DN: %+v", got)
				}
			}
		}
		if winner.Name == "" || loser.Name == "" {
			t.Fatal("no winner or no loser")
		}
		if err := e.svc.DeleteDevice(ctx, winner.Name); err != nil {
			t.Fatal(err)
		}
	}
	// The same Continue pressed twice at once provisions once.
	d := e.autoRegister(t, 50, 36224)
	cont := e.confirmURL(t, d.Name, "alice", "12345")
	res := make(chan page, 2)
	for range 2 {
		go func() { res <- e.get(t, cont) }()
	}
	a, b := <-res, <-res
	if (a.code() == codeTokenInvalid) == (b.code() == codeTokenInvalid) {
		t.Fatalf("double press: %s / %s", a.body, b.body)
	}
	e.notifier.next(t)
	e.notifier.none(t)
}

func TestSoftKeyLayout(t *testing.T) {
	e := newEnv(t, nil, nil)
	d := e.autoRegister(t, 1, 36224)
	legacy := e.autoRegister(t, 2, 437) // Cisco 7975, sip79xx
	pos := func(keys []phonexml.SoftKeyItem) map[string]int {
		m := map[string]int{}
		for _, k := range keys {
			m[k.Name] = k.Position
		}
		return m
	}
	cases := []struct {
		name, device, model string
		submit, exit        int
	}{
		{"79xx header", d.Name, "CP-7970G", 1, 3},
		{"88xx header", d.Name, "CP-8845", 2, 1},
		{"78xx header", d.Name, "CP-7841", 2, 1},
		{"79xx from catalogue", legacy.Name, "", 1, 3},
		{"88xx from catalogue", d.Name, "", 2, 1},
	}
	for _, c := range cases {
		var hdr []string
		if c.model != "" {
			hdr = []string{headerModelName, c.model}
		}
		in := e.get(t, PathIdle+"?name="+c.device, hdr...).input(t)
		if p := pos(in.SoftKeys); p["Submit"] != c.submit || p["Exit"] != c.exit {
			t.Errorf("%s: login keys %v", c.name, p)
		}
		if c.device == legacy.Name {
			continue // 7975 self-provisions fine, but the login check is enough here
		}
		conf := e.login(t, c.device, "alice", "12345", hdr...).text(t)
		if p := pos(conf.SoftKeys); p["Continue"] != c.submit || p["Exit"] != c.exit {
			t.Errorf("%s: confirm keys %v", c.name, p)
		}
	}
	// A small display gets the short confirm text.
	conf := e.login(t, d.Name, "alice", "12345", headerDisplay, "132, 64, 2, G").text(t)
	if strings.Contains(conf.Text, "(alice)") {
		t.Errorf("compact confirm text %q", conf.Text)
	}
}

func TestRoutes(t *testing.T) {
	called := false
	e := newEnv(t, nil, func(o *Options) {
		o.Routes = map[string]http.Handler{
			"POST /devicemanagement/v1/clientAutoProv/createDevice": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{}`))
			}),
		}
	})
	if p := e.do(t, http.MethodPost, "/devicemanagement/v1/clientAutoProv/createDevice"); p.status != 200 || !called {
		t.Fatalf("extra route: %d called=%v", p.status, called)
	}
	_, err := New(Options{Service: e.svc, Routes: map[string]http.Handler{PathIdle: http.NotFoundHandler()}})
	if err == nil || !strings.Contains(err.Error(), PathIdle) {
		t.Fatalf("conflicting route: %v", err)
	}
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without a service")
	}
}

func TestMetricsLint(t *testing.T) {
	e := newEnv(t, nil, nil)
	d := e.autoRegister(t, 1, 36224)
	e.login(t, d.Name, "alice", "12345")
	problems, err := testutil.GatherAndLint(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if n, _ := testutil.GatherAndCount(e.reg, "selfprov_xmlsvc_pending_confirmations"); n != 1 {
		t.Errorf("pending_confirmations series: %d", n)
	}
	if v := testutil.ToFloat64(e.srv.m.pending); v != 1 {
		t.Errorf("pending_confirmations = %v, want 1", v)
	}
}

// TestCountedBeforeTheAnswerIsSent: a scrape made as soon as a phone has
// its answer includes that answer. The success screen is flushed before
// the reset is sent, so counting after writing would miss it.
func TestCountedBeforeTheAnswerIsSent(t *testing.T) {
	e := newEnv(t, nil, nil)
	d := e.autoRegister(t, 1, 36224)
	confirm := e.confirmURL(t, d.Name, "alice", "12345")
	w := &countingWriter{ResponseRecorder: httptest.NewRecorder(), count: func() []float64 {
		return []float64{
			testutil.ToFloat64(e.srv.m.outcomes.WithLabelValues("confirm", codeOK)),
			testutil.ToFloat64(e.srv.m.screens.WithLabelValues("success", "78xx_88xx")),
		}
	}}
	e.srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, confirm, nil))
	if w.Code != http.StatusOK || !w.flushed || len(w.atFirstWrite) != 2 || w.atFirstWrite[0] != 1 || w.atFirstWrite[1] != 1 {
		t.Errorf("success screen (status %d, flushed %v): outcomes{confirm,OK} and screens{success} were %v when it was written, want [1 1]",
			w.Code, w.flushed, w.atFirstWrite)
	}

	w = &countingWriter{ResponseRecorder: httptest.NewRecorder(), count: func() []float64 {
		return []float64{
			testutil.ToFloat64(e.srv.m.authURL.WithLabelValues("AUTHORIZED")),
			testutil.ToFloat64(e.srv.m.outcomes.WithLabelValues("authenticate", codeOK)),
		}
	}}
	e.srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, PathAuthenticate+"?UserID=alice&Password=12345&devicename="+d.Name, nil))
	if w.Body.String() != "AUTHORIZED" || len(w.atFirstWrite) != 2 || w.atFirstWrite[0] != 1 || w.atFirstWrite[1] != 1 {
		t.Errorf("authenticationURL %q: authentications{AUTHORIZED} and outcomes{authenticate,OK} were %v when it was written, want [1 1]",
			w.Body.String(), w.atFirstWrite)
	}
}

// countingWriter notes the counts when the first header or body byte is
// written, the earliest a client could see the answer.
type countingWriter struct {
	*httptest.ResponseRecorder
	count        func() []float64
	atFirstWrite []float64
	flushed      bool
}

func (w *countingWriter) note() {
	if w.atFirstWrite == nil {
		w.atFirstWrite = w.count()
	}
}

func (w *countingWriter) WriteHeader(code int) { w.note(); w.ResponseRecorder.WriteHeader(code) }

func (w *countingWriter) Write(b []byte) (int, error) { w.note(); return w.ResponseRecorder.Write(b) }

func (w *countingWriter) Flush() { w.note(); w.flushed = true; w.ResponseRecorder.Flush() }

// TestShutdownWaitsForReset: a reset due after a success screen is sent
// before Shutdown returns, and Shutdown gives up when its context ends.
func TestShutdownWaitsForReset(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.notifier.gate = make(chan struct{})
	d := e.autoRegister(t, 1, 36224)
	if x := e.get(t, e.confirmURL(t, d.Name, "alice", "12345")).text(t); x.Prompt != "Provisioned" {
		t.Fatalf("%+v", x)
	}
	// The reset is held by the gate: a short Shutdown reports it pending.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err == nil || !strings.Contains(err.Error(), "resets still pending") {
		t.Fatalf("Shutdown with a reset pending: %v", err)
	}
	close(e.notifier.gate)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := e.srv.Shutdown(ctx2); err != nil {
		t.Fatalf("Shutdown after the reset: %v", err)
	}
	if r := e.notifier.next(t); r.device != d.Name {
		t.Fatalf("reset %+v", r)
	}
}

// TestHeadAndFraming: screens carry Content-Length (no chunking, which
// older firmware handles badly) and HEAD answers the headers alone.
func TestHeadAndFraming(t *testing.T) {
	e := newEnv(t, nil, nil)
	d := e.autoRegister(t, 1, 36224)
	get := e.get(t, PathIdle+"?name="+d.Name)
	if cl := get.header.Get("Content-Length"); cl != strconv.Itoa(len(get.body)) {
		t.Fatalf("Content-Length %q for %d bytes", cl, len(get.body))
	}
	head := e.do(t, http.MethodHead, PathIdle+"?name="+d.Name)
	if head.status != http.StatusOK || len(head.body) != 0 || head.header.Get("Content-Length") != get.header.Get("Content-Length") {
		t.Fatalf("HEAD: %d, %d bytes, Content-Length %q", head.status, len(head.body), head.header.Get("Content-Length"))
	}
}

// TestStepLogLevel: a step's line is logged at its level only. With the
// daemon at warn, ordinary screens write nothing, while a confirmation the
// store fails to write still writes its line at ERROR with step and code.
func TestStepLogLevel(t *testing.T) {
	logs := &testkit.SyncBuffer{}
	e := newEnv(t, nil, func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	d := e.autoRegister(t, 1, 36224)
	if p := e.get(t, PathIdle+"?name="+d.Name); p.status != http.StatusOK {
		t.Fatalf("idle: %d %s", p.status, p.body)
	}
	conf := e.login(t, d.Name, "alice", "12345").text(t)
	if s := logs.String(); s != "" {
		t.Fatalf("ordinary steps logged at warn:\n%s", s)
	}
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	if p := e.get(t, softKey(t, conf.SoftKeys, "Continue").URL); p.code() != "INTERNAL" {
		t.Fatalf("confirm with the store closed: %s", p.body)
	}
	if !logHas(t, logs.String(), map[string]string{"level": "ERROR", "step": "confirm", "code": "INTERNAL", "device": d.Name}) {
		t.Errorf("no ERROR line for the failed confirmation:\n%s", logs.String())
	}
}
