package main

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTFTPPerSourceBoundFromConfig: tftp.maxTransfersPerSource of the
// configuration file reaches the TFTP server.
func TestTFTPPerSourceBoundFromConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("starts selfprovd")
	}
	demo, err := os.ReadFile("../../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := bytes.Replace(demo, []byte("maxTransfersPerSource: 128"), []byte("maxTransfersPerSource: 1"), 1)
	if bytes.Equal(cfg, demo) {
		t.Fatal("demo.yaml has no maxTransfersPerSource: 128 to change")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "selfprov.yaml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	r := startDaemon(t, append(loopbackFlags(filepath.Join(dir, "data")), "-config", path)...)
	server, err := net.ResolveUDPAddr("udp", r.addrs.TFTP)
	if err != nil {
		t.Fatal(err)
	}
	// Two requests from 127.0.0.1 that are never acknowledged: the first
	// holds the only slot this address has, the second is refused.
	var answers []string
	for range 2 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.WriteTo([]byte("\x00\x01XMLDefault.cnf.xml\x00octet\x00"), server); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 600)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := c.ReadFrom(buf)
		if err != nil || n < 4 {
			t.Fatalf("no answer: %v", err)
		}
		answers = append(answers, strings.TrimRight(string(buf[4:n]), "\x00"))
		if op := binary.BigEndian.Uint16(buf); op == 3 {
			answers[len(answers)-1] = "DATA"
		}
	}
	if answers[0] != "DATA" || !strings.Contains(answers[1], "your address") {
		t.Errorf("answers %q, want DATA then a refusal naming the address", answers)
	}
}
