package uds_test

import (
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"selfprov/cucmapi/uds"
	"selfprov/internal/coretest"
	"selfprov/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func newServer(t *testing.T) string {
	c := coretest.New(t, coretest.Options{})
	h, err := uds.New(uds.Options{Service: c.Svc, Host: "cucm.example.com", Version: "14.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, url string, auth ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestUDS(t *testing.T) {
	base := newServer(t)
	for _, c := range []struct{ path, golden string }{
		{"/cucm-uds/version", "version.xml"},
		{"/cucm-uds/servers", "servers.xml"},
		{"/cucm-uds/clusterUser?username=alice", "clusterUser.xml"},
		{"/cucm-uds/users?last=ba", "users.xml"},
	} {
		status, body := get(t, base+c.path)
		if status != 200 {
			t.Fatalf("%s: %d\n%s", c.path, status, body)
		}
		testkit.Golden(t, filepath.Join("testdata", c.golden), []byte(body), *update)
	}
	if _, body := get(t, base+"/cucm-uds/clusterUser?username=nobody"); !strings.Contains(body, `<result found="false">`) {
		t.Fatalf("clusterUser of nobody:\n%s", body)
	}
	if _, body := get(t, base+"/cucm-uds/users?max=2&start=1"); !strings.Contains(body, `returnedCount="2"`) || !strings.Contains(body, `totalCount="4"`) || !strings.Contains(body, "<userName>bob</userName>") || strings.Contains(body, "<userName>alice</userName>") {
		t.Fatalf("users max=2 start=1:\n%s", body)
	}
	if status, body := get(t, base+"/cucm-uds/users?start=x"); status != 400 || !strings.Contains(body, "<error>") {
		t.Fatalf("bad start: %d %s", status, body)
	}

	// A user's own record needs the user's own credentials.
	status, body := get(t, base+"/cucm-uds/user/alice", "alice", "alice-password")
	if status != 200 || !strings.Contains(body, "<userName>alice</userName>") || !strings.Contains(body, `<devices uri="https://cucm.example.com:8443/cucm-uds/user/alice/devices">`) {
		t.Fatalf("alice's own record: %d\n%s", status, body)
	}
	if status, _ := get(t, base+"/cucm-uds/user/alice"); status != 401 {
		t.Fatalf("without credentials: %d", status)
	}
	if status, _ := get(t, base+"/cucm-uds/user/alice", "alice", "wrong"); status != 401 {
		t.Fatalf("wrong password: %d", status)
	}
	if status, _ := get(t, base+"/cucm-uds/user/alice", "bob", "12345"); status != 403 {
		t.Fatalf("bob asking for alice: %d", status)
	}
}
