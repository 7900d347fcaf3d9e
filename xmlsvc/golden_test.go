package xmlsvc

import (
	"bytes"
	"flag"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"selfprov/configs"
	"selfprov/internal/testkit"
	"selfprov/provision"
)

var update = flag.Bool("update", false, "rewrite testdata/*.xml")

var tokenRE = regexp.MustCompile(`token=[A-Za-z0-9_-]{22}`)

// golden compares a screen with testdata/<name>.xml after replacing what
// changes between runs: the test server's address and tokens.
func golden(t *testing.T, e *env, name string, body []byte) {
	t.Helper()
	got := bytes.ReplaceAll(body, []byte(e.base), []byte("http://192.0.2.10:8080"))
	got = tokenRE.ReplaceAll(got, []byte("token=TOKEN"))
	testkit.Golden(t, filepath.Join("testdata", name+".xml"), got, *update)
}

func goldenName(s string) string {
	return strings.NewReplacer(" ", "-", "/", "-").Replace(strings.ToLower(s))
}

func TestGoldenScreens(t *testing.T) {
	for _, mode := range []provision.AuthMode{provision.AuthUsers, provision.AuthUsersAndAdmin, provision.AuthNone} {
		e := newEnv(t, func(c *configs.Config) { c.Cluster.AuthMode = mode }, nil)
		d := e.autoRegister(t, 1, 36224)
		golden(t, e, "login-"+string(mode), e.get(t, PathIdle+"?name="+d.Name).body)
	}
	e := newEnv(t, nil, nil)
	d := e.autoRegister(t, 1, 36224)
	golden(t, e, "login-79xx", e.get(t, PathIdle+"?name="+d.Name, headerModelName, "CP-7970G").body)
	golden(t, e, "outcome-uds-auth-required", e.get(t, PathUDS+"?name="+d.Name).body)
	golden(t, e, "confirm-uds", e.get(t, PathUDS+"?name="+d.Name, basicAuth("alice", "12345")...).body)
	golden(t, e, "confirm", e.login(t, d.Name, "alice", "12345").body)
	golden(t, e, "confirm-79xx", e.login(t, d.Name, "alice", "12345", headerModelName, "CP-7970G").body)
	golden(t, e, "confirm-compact", e.login(t, d.Name, "alice", "12345", headerDisplay, "132, 64, 2, G").body)
	conf := e.login(t, d.Name, "alice", "12345").text(t)
	golden(t, e, "exit", e.get(t, softKey(t, conf.SoftKeys, "Exit").URL).body)
	golden(t, e, "success", e.get(t, e.confirmURL(t, d.Name, "alice", "12345")).body)
	e.notifier.next(t)
}
