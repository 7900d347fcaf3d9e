package xmlsvc

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"selfprov/configs"
	"selfprov/provision"
)

// TestUDSMountNeedsOwnCredentials: every step under the UDS private path
// needs the user's own credentials over HTTP Basic: none gets 401 with a
// challenge, wrong ones 401 counted by the credential policy (an unknown
// user alike), whatever the authentication mode.
func TestUDSMountNeedsOwnCredentials(t *testing.T) {
	for _, mode := range []provision.AuthMode{provision.AuthUsers, provision.AuthNone} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, func(c *configs.Config) { c.Cluster.AuthMode = mode }, nil)
			d := e.autoRegister(t, 1, 36224)
			for _, path := range []string{udsFlow.idle, udsFlow.idle + "/idle", udsFlow.login, udsFlow.confirm, udsFlow.exit} {
				p := e.get(t, path+"?name="+d.Name+"&token=AAAAAAAAAAAAAAAAAAAAAA")
				if p.status != http.StatusUnauthorized || p.header.Get("WWW-Authenticate") != challenge || p.code() != codeAuthRequired {
					t.Errorf("%s without credentials: %d %q %s", path, p.status, p.header.Get("WWW-Authenticate"), p.body)
				}
			}
			run := func(id string) []string {
				var out []string
				for range 4 {
					p := e.get(t, udsFlow.idle+"?name="+d.Name, basicAuth(id, "0")...)
					if p.status != http.StatusUnauthorized || p.header.Get("WWW-Authenticate") == "" {
						t.Fatalf("%s with a wrong PIN: %d %s", id, p.status, p.body)
					}
					out = append(out, p.code())
				}
				return out
			}
			known, unknown := run("alice"), run("nobody")
			if want := []string{"AUTH_FAILED", "AUTH_FAILED", "ACCOUNT_LOCKED", "ACCOUNT_LOCKED"}; !slices.Equal(known, want) || !slices.Equal(unknown, want) {
				t.Fatalf("known %v, unknown %v; want %v", known, unknown, want)
			}
			if dev, _ := e.svc.Device(context.Background(), d.Name); dev.State != provision.StateAutoRegistered {
				t.Fatalf("device changed: %+v", dev)
			}
		})
	}
}

// TestUDSConfirmOnlyForTheConfirmedUser: the Continue of alice's
// confirmation carrying bob's right credentials is refused (403) and
// provisions nothing.
func TestUDSConfirmOnlyForTheConfirmedUser(t *testing.T) {
	e := newEnv(t, nil, nil)
	d := e.autoRegister(t, 1, 36224)
	conf := e.get(t, udsFlow.idle+"?name="+d.Name, basicAuth("alice", "12345")...).text(t)
	cont := softKey(t, conf.SoftKeys, "Continue").URL
	p := e.get(t, cont, basicAuth("bob", "12345")...)
	if p.status != http.StatusForbidden || p.code() != provision.CodeUserMismatch {
		t.Fatalf("bob continues alice's confirmation: %d %s", p.status, p.body)
	}
	if dev, _ := e.svc.Device(context.Background(), d.Name); dev.State != provision.StateAutoRegistered {
		t.Fatalf("device provisioned: %+v", dev)
	}
	e.notifier.none(t)
}

// TestUDSTooManyAttempts: over the per-source limit the UDS mount answers
// 429 with Retry-After.
func TestUDSTooManyAttempts(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) { c.SelfProvisioning.FailedLoginsPerSource = 2 }, nil)
	d := e.autoRegister(t, 1, 36224)
	e.get(t, udsFlow.idle+"?name="+d.Name, basicAuth("bob", "0")...)
	e.get(t, udsFlow.idle+"?name="+d.Name, basicAuth("carol", "0")...)
	e.clock.Advance(5 * time.Minute)
	p := e.get(t, udsFlow.idle+"?name="+d.Name, basicAuth("alice", "12345")...)
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != "600" || p.code() != provision.CodeTooManyAttempts {
		t.Fatalf("%d Retry-After %q %s", p.status, p.header.Get("Retry-After"), p.body)
	}
}
