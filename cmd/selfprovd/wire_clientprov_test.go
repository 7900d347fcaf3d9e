package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"selfprov/admin"
)

// The client auto-provisioning endpoints are served on the services
// listener of a whole daemon; the device they create is listed by UDS and
// its <NAME>.cnf.xml is served by the config listener (HTTP 6970) and it
// registers over SIP.
func TestDaemonServesClientAutoProvisioning(t *testing.T) {
	dataDir := t.TempDir()
	r := startDaemon(t, loopbackFlags(dataDir)...)
	base := "http://" + r.addrs.Services

	// Without the user's credentials nothing is created.
	resp, err := http.Post(base+"/devicemanagement/v1/clientAutoProv/createDevice", "application/json",
		strings.NewReader(`{"userId":"alice","platform":"android","appVersion":"41.12.0.1234"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("createDevice without credentials: %s %q", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}

	c := &http.Client{Timeout: 10 * time.Second, Transport: basicAuth{"alice", "12345"}}
	resp, err = c.Post(base+"/devicemanagement/v1/clientAutoProv/createDevice", "application/json",
		strings.NewReader(`{"userId":"alice","platform":"android","appVersion":"41.12.0.1234"}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		DeviceName string `json:"deviceName"`
		Created    bool   `json:"created"`
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated || got.DeviceName != "BOTALICE" || !got.Created {
		t.Fatalf("createDevice: %s %+v %v", resp.Status, got, err)
	}

	for _, path := range []string{"/ucmservices/v1/supportedServices", "/cucm-uds/user/alice/devices"} {
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s %s", path, resp.Status, b)
		}
		if path == "/cucm-uds/user/alice/devices" && !strings.Contains(string(b), "<name>BOTALICE</name>") {
			t.Fatalf("%s: %s", path, b)
		}
	}

	resp, err = c.Get("http://" + r.addrs.Config + "/BOTALICE.cnf.xml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "<name>2001</name>") {
		t.Fatalf("BOTALICE.cnf.xml: %s %s", resp.Status, b)
	}

	if status := registerOnce(t, r.addrs.SIP, "BOTALICE", "575", "2001"); status != "200" {
		t.Fatalf("REGISTER of BOTALICE answered %s", status)
	}

	// The organisation policy changed through the admin API applies to the
	// next sign-in.
	token, err := os.ReadFile(filepath.Join(dataDir, admin.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPatch, "http://"+r.addrs.Admin+"/api/v1/cluster", strings.NewReader(`{"webexPolicy":"desktop-only"}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Content-Type", "application/json")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH cluster: %s %s", resp.Status, b)
	}
	resp, err = c.Post(base+"/devicemanagement/v1/clientAutoProv/createDevice", "application/json",
		strings.NewReader(`{"userId":"alice","platform":"iphone","appVersion":"41.12.0.1234"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "AUTOPROV_POLICY_DENIED") {
		t.Fatalf("iphone under desktop-only: %s %s", resp.Status, b)
	}
}

// basicAuth adds HTTP Basic credentials to requests that carry no
// Authorization of their own.
type basicAuth struct{ user, secret string }

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.SetBasicAuth(b.user, b.secret)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// registerOnce sends one REGISTER over UDP as a Webex client and returns
// the final status code.
func registerOnce(t *testing.T, sipAddr, device, model, dn string) string {
	t.Helper()
	conn, err := net.Dial("udp", sipAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	msg := "REGISTER sip:" + sipAddr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + device + "1;rport\r\n" +
		"From: <sip:" + dn + "@" + sipAddr + ">;tag=" + device + "\r\n" +
		"To: <sip:" + dn + "@" + sipAddr + ">\r\n" +
		"Call-ID: " + device + "-1@" + local + "\r\n" +
		"CSeq: 101 REGISTER\r\n" +
		"Max-Forwards: 70\r\n" +
		"User-Agent: Cisco-CSF\r\n" +
		"Contact: <sip:" + dn + "@" + local + ";transport=udp>;+u.sip!devicename.ccm.cisco.com=\"" + device + "\";+u.sip!model.ccm.cisco.com=\"" + model + "\"\r\n" +
		"Expires: 3600\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no final answer to REGISTER: %v", err)
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "SIP/2.0" && !strings.HasPrefix(f[1], "1") {
			return f[1]
		}
	}
}
