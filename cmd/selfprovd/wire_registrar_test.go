package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sip.autoRegPerSource reaches the registrar: with a burst of one, a second
// new phone from the same address is refused (503), a known one is not.
func TestDaemonLimitsNewDevicesPerSource(t *testing.T) {
	if testing.Short() {
		t.Skip("starts selfprovd")
	}
	demo, err := os.ReadFile("../../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(demo), "    perMinute: 60\n    burst: 200\n", "    perMinute: 1\n    burst: 1\n", 1)
	if cfg == string(demo) {
		t.Fatal("configs/demo.yaml has no sip.autoRegPerSource of 60 a minute, burst 200")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "selfprovd.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startDaemon(t, append(loopbackFlags(dir), "-config", path)...)
	if got := registerOnce(t, r.addrs.SIP, "SEP0A00000A0001", "36224", "1000"); got != "200" {
		t.Fatalf("first new phone: %s", got)
	}
	if got := registerOnce(t, r.addrs.SIP, "SEP0A00000A0002", "36224", "1000"); got != "503" {
		t.Fatalf("second new phone: %s, want 503", got)
	}
	if got := registerOnce(t, r.addrs.SIP, "SEP0A00000A0001", "36224", "1000"); got != "200" {
		t.Fatalf("the known phone again: %s", got)
	}
}
