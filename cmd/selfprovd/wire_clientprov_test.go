package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The client auto-provisioning endpoints are served on the services
// listener of a whole daemon; the device they create is listed by UDS and
// its <NAME>.cnf.xml is served by the config listener (HTTP 6970).
func TestDaemonServesClientAutoProvisioning(t *testing.T) {
	r := startDaemon(t, loopbackFlags(t.TempDir())...)
	c := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + r.addrs.Services

	resp, err := c.Post(base+"/devicemanagement/v1/clientAutoProv/createDevice", "application/json",
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
}
