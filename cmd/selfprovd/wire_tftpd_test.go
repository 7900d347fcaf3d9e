package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"selfprov/phonecfg"
)

// TestConfigDeliveryAgainstTheDaemon fetches XMLDefault.cnf.xml from a
// running selfprovd over TFTP and over the HTTP mirror: both are the same
// file and name this daemon's advertised address and SIP port.
func TestConfigDeliveryAgainstTheDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("starts selfprovd")
	}
	r := startDaemon(t, loopbackFlags(t.TempDir())...)

	c, err := tftp.NewClient(r.addrs.TFTP)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(2 * time.Second)
	wt, err := c.Receive("xmldefault.cnf.xml", "octet")
	if err != nil {
		t.Fatal(err)
	}
	var viaTFTP bytes.Buffer
	if _, err := wt.WriteTo(&viaTFTP); err != nil {
		t.Fatal(err)
	}

	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get("http://" + r.addrs.Config + "/XMLDefault.cnf.xml")
	if err != nil {
		t.Fatal(err)
	}
	viaHTTP, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(viaHTTP, viaTFTP.Bytes()) {
		t.Fatalf("HTTP %d; same bytes as TFTP: %v", resp.StatusCode, bytes.Equal(viaHTTP, viaTFTP.Bytes()))
	}

	cfg, err := phonecfg.Parse(viaTFTP.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := cfg.SIPServer()
	_, sipPort, _ := net.SplitHostPort(r.addrs.SIP)
	if err != nil || host != "127.0.0.1" || strconv.Itoa(port) != sipPort {
		t.Errorf("XMLDefault names %s:%d (%v), want 127.0.0.1:%s", host, port, err, sipPort)
	}
	if cfg.LoadFor(36224) == "" {
		t.Error("XMLDefault has no load for the 8845")
	}

	resp, err = hc.Get("http://" + r.addrs.Config + "/SEP0A1B00000001.cnf.xml")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown device over HTTP: %d, want 404", resp.StatusCode)
	}
}
