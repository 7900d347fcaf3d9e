package clientprov_test

import (
	"os/exec"
	"strings"
	"testing"

	"selfprov/internal/testkit"
)

// TestInteropCurl: curl's HTTP Basic (-u) signs in as the README shows,
// with a user ID and with an email address, and a wrong or missing
// credential is refused.
func TestInteropCurl(t *testing.T) {
	bin := testkit.Peer(t, "curl", "curl")
	e := newEnv(t, nil)
	curl := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"-sS", "-o", "/dev/null", "-w", "%{http_code}"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	create := []string{"-H", "Content-Type: application/json", "-d", `{"userId":"bob","platform":"android","appVersion":"45.6"}`, e.srv.URL + createPath}
	if got := curl(create...); got != "401" {
		t.Errorf("no credentials: %s, want 401", got)
	}
	if got := curl(append([]string{"-u", "bob:0"}, create...)...); got != "401" {
		t.Errorf("wrong PIN: %s, want 401", got)
	}
	if got := curl(append([]string{"-u", "bob:12345"}, create...)...); got != "201" {
		t.Errorf("bob's PIN: %s, want 201", got)
	}
	if got := curl("-u", "bob@example.com:12345", e.srv.URL+"/cucm-uds/user/bob/devices"); got != "200" {
		t.Errorf("device list by email: %s, want 200", got)
	}
	if got := curl("-u", "alice:alice-password", e.srv.URL+"/cucm-uds/user/bob/devices"); got != "403" {
		t.Errorf("alice asks for bob's devices: %s, want 403", got)
	}
}
