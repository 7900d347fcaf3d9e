package phonesim_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"selfprov/internal/testkit"
	"selfprov/phonesim"
)

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestInteropSippRegistrar: sipp as the registrar accepts phonesim's Cisco
// REGISTER and sends service-control NOTIFYs; phonesim answers the one
// naming its registration 200 and the foreign one 400.
func TestInteropSippRegistrar(t *testing.T) {
	sipp := testkit.Peer(t, "sipp", "sip-tester")
	port := freeUDPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, sipp, "-sf", "testdata/sipp-registrar.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-m", "1", "-timeout", "20s", "-timeout_error", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"))
	cmd.Dir, _ = os.Getwd()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	ua := phonesim.NewUA()
	defer ua.Close()
	env := &phonesim.Env{UA: ua, SIP: "127.0.0.1:" + strconv.Itoa(port), Transport: "udp"}
	p := phonesim.NewPhone(env, phonesim.FleetMAC(0x1e7, 1), phonesim.Models["8845"], phonesim.ModeRegister, nil)
	// sipp may not be listening yet; the UDP retransmissions cover it.
	if res := p.Run(ctx, ctx); res.Err != nil {
		t.Fatalf("REGISTER to sipp: %s %v\n%s", res.Outcome, res.Err, out.String())
	}
	select {
	case err := <-done:
		if err != nil {
			errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
			t.Fatalf("sipp: %v\n%s\n%s", err, out.String(), errs)
		}
	case <-ctx.Done():
		t.Fatalf("sipp did not finish\n%s", out.String())
	}
}
