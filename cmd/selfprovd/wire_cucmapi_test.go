package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"selfprov/cucmapi"
)

// axlPost sends one AXL request to the daemon's HTTPS listener.
func axlPost(t *testing.T, addr, user, password, op, inner string) (int, string) {
	t.Helper()
	body := `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns="http://www.cisco.com/AXL/API/14.0"><soapenv:Body><ns:` + op + `>` + inner + `</ns:` + op + `></soapenv:Body></soapenv:Envelope>`
	req, err := http.NewRequest(http.MethodPost, "https://"+addr+"/axl/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("SOAPAction", `"CUCM:DB ver=14.0 `+op+`"`)
	req.SetBasicAuth(user, password)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDaemonServesAXL: the daemon generates the administrator's password
// and a certificate at first start, serves AXL with them over HTTPS, and
// keeps both across a restart.
func TestDaemonServesAXL(t *testing.T) {
	dir := t.TempDir()
	r := startDaemon(t, loopbackFlags(dir)...)
	pw, err := os.ReadFile(filepath.Join(dir, cucmapi.PasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(pw))
	status, body := axlPost(t, r.addrs.HTTPS, "administrator", password, "getCCMVersion", "")
	if status != 200 || !strings.Contains(body, "<version>14.0.") {
		t.Fatalf("getCCMVersion: %d\n%s", status, body)
	}
	if status, _ := axlPost(t, r.addrs.HTTPS, "administrator", "wrong-password", "getCCMVersion", ""); status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", status)
	}
	// UDS on the same listener: public resources, and a user's own
	// devices with the user's credentials.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for path, want := range map[string]string{
		"/cucm-uds/version":                    "<versionInformation",
		"/cucm-uds/clusterUser?username=alice": `<result found="true">`,
		"/cucm-uds/user/alice/devices":         "<devices",
	} {
		req, _ := http.NewRequest(http.MethodGet, "https://"+r.addrs.HTTPS+path, nil)
		req.SetBasicAuth("alice", "alice-password")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d\n%s", path, resp.StatusCode, b)
		}
	}
	// A phone added through AXL is served to the phone at once, and an
	// update shows in its next config fetch.
	if status, body := axlPost(t, r.addrs.HTTPS, "administrator", password, "addPhone",
		`<phone><name>SEP00AA00BB00CC</name><product>Cisco 8845</product><protocol>SIP</protocol><lines><line><index>1</index><label>Lab</label><dirn><pattern>2701</pattern></dirn></line></lines></phone>`); status != 200 {
		t.Fatalf("addPhone: %d\n%s", status, body)
	}
	cnf := func() string {
		resp, err := http.Get("http://" + r.addrs.Config + "/SEP00AA00BB00CC.cnf.xml")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("config file: %d", resp.StatusCode)
		}
		return string(b)
	}
	if got := cnf(); !strings.Contains(got, "2701") {
		t.Fatalf("config file lacks line 2701:\n%s", got)
	}
	if status, body := axlPost(t, r.addrs.HTTPS, "administrator", password, "updatePhone",
		`<name>SEP00AA00BB00CC</name><addLines><line><index>2</index><dirn><pattern>2702</pattern></dirn></line></addLines>`); status != 200 {
		t.Fatalf("updatePhone: %d\n%s", status, body)
	}
	if got := cnf(); !strings.Contains(got, "2702") {
		t.Fatalf("config file lacks line 2702 after updatePhone:\n%s", got)
	}
	cert, err := os.ReadFile(filepath.Join(dir, cucmapi.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	r = startDaemon(t, loopbackFlags(dir)...)
	if status, body := axlPost(t, r.addrs.HTTPS, "administrator", password, "getCCMVersion", ""); status != 200 {
		t.Fatalf("after restart: %d\n%s", status, body)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, cucmapi.CertFile)); string(again) != string(cert) {
		t.Fatal("the certificate changed across a restart")
	}
}
