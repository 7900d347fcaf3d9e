package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"selfprov/internal/testkit"
	"selfprov/phonecfg"
	"selfprov/phonesim"
)

// loopbackFlags puts every listener on 127.0.0.1 with a kernel-chosen port.
func loopbackFlags(dataDir string) []string {
	return []string{
		"-data-dir", dataDir, "-advertise", "127.0.0.1",
		"-listen.tftp", "127.0.0.1:0", "-listen.config", "127.0.0.1:0",
		"-listen.sip", "127.0.0.1:0", "-listen.services", "127.0.0.1:0",
		"-listen.admin", "127.0.0.1:0", "-listen.https", "127.0.0.1:0", "-log.level", "warn",
	}
}

// daemonRun is a selfprovd started in-process.
type daemonRun struct {
	addrs  Addrs
	stderr *testkit.SyncBuffer
	cancel context.CancelFunc
	exit   chan int
}

func startDaemon(t *testing.T, args ...string) *daemonRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &daemonRun{stderr: &testkit.SyncBuffer{}, cancel: cancel, exit: make(chan int, 1)}
	ready := make(chan Addrs, 1)
	go func() { r.exit <- run(ctx, args, &bytes.Buffer{}, r.stderr, ready) }()
	select {
	case r.addrs = <-ready:
	case code := <-r.exit:
		cancel()
		t.Fatalf("selfprovd exited with %d before serving:\n%s", code, r.stderr.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("selfprovd did not start within 30s:\n%s", r.stderr.String())
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the daemon and returns its exit code; later calls return -1.
func (r *daemonRun) stop(t *testing.T) int {
	t.Helper()
	if r.cancel == nil {
		return -1
	}
	r.cancel()
	r.cancel = nil
	select {
	case code := <-r.exit:
		return code
	case <-time.After(15 * time.Second):
		t.Fatalf("selfprovd did not stop within 15s:\n%s", r.stderr.String())
		return -1
	}
}

func TestDaemonServesEveryPortAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	r := startDaemon(t, loopbackFlags(dir)...)
	for name, addr := range map[string]string{
		"config": r.addrs.Config, "sip": r.addrs.SIP, "services": r.addrs.Services, "admin": r.addrs.Admin,
	} {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Errorf("%s %s: %v", name, addr, err)
			continue
		}
		c.Close()
	}
	if r.addrs.TFTP == "" || strings.HasSuffix(r.addrs.TFTP, ":0") {
		t.Errorf("TFTP address %q was not bound", r.addrs.TFTP)
	}
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit code %d after a clean stop:\n%s", code, r.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "selfprov.db")); err != nil {
		t.Fatalf("database file: %v", err)
	}
	// The ports are free again and the store unlocked: a second start works.
	r2 := startDaemon(t, loopbackFlags(dir)...)
	if code := r2.stop(t); code != 0 {
		t.Fatalf("restart exit code %d:\n%s", code, r2.stderr.String())
	}
}

func TestDaemonNamesTheFlagOfAPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	args := append(loopbackFlags(t.TempDir()), "-listen.services", busy.Addr().String())
	var stderr testkit.SyncBuffer
	code := run(context.Background(), args, &bytes.Buffer{}, &stderr, nil)
	if code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if msg := stderr.String(); !strings.Contains(msg, "-listen.services "+busy.Addr().String()) || !strings.Contains(msg, "another process holds this port") {
		t.Fatalf("error does not name the flag and cause:\n%s", msg)
	}
}

func TestDaemonRefusesASecondDaemonOnTheSameDataDir(t *testing.T) {
	dir := t.TempDir()
	startDaemon(t, loopbackFlags(dir)...)
	var stderr testkit.SyncBuffer
	if code := run(context.Background(), loopbackFlags(dir), &bytes.Buffer{}, &stderr, nil); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "locked by another process") {
		t.Fatalf("error does not say the database is locked:\n%s", stderr.String())
	}
}

func TestConfigCheck(t *testing.T) {
	var stdout, stderr testkit.SyncBuffer
	if code := run(context.Background(), []string{"-config.check"}, &stdout, &stderr, nil); code != 0 {
		t.Fatalf("demo config: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "configuration is valid") {
		t.Fatalf("stdout %q", stdout.String())
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	// Two independent mistakes: both must be reported at once.
	if err := os.WriteFile(bad, []byte("cluster:\n  autoRegistration:\n    startDN: \"2000\"\n    endDN: \"1000\"\nsip:\n  defaultExpires: -5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr = testkit.SyncBuffer{}
	if code := run(context.Background(), []string{"-config", bad, "-config.check"}, &bytes.Buffer{}, &stderr, nil); code != 1 {
		t.Fatalf("bad config: exit %d, want 1", code)
	}
	msg := stderr.String()
	if !strings.Contains(msg, "defaultExpires") || !strings.Contains(msg, "1000") {
		t.Fatalf("not every error reported:\n%s", msg)
	}

	unknown := filepath.Join(t.TempDir(), "unknown.yaml")
	if err := os.WriteFile(unknown, []byte("clusterr: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr = testkit.SyncBuffer{}
	if code := run(context.Background(), []string{"-config", unknown, "-config.check"}, &bytes.Buffer{}, &stderr, nil); code != 1 {
		t.Fatalf("unknown key: exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "clusterr") {
		t.Fatalf("unknown key not named:\n%s", stderr.String())
	}
}

func TestBadFlagExitsTwo(t *testing.T) {
	if code := run(context.Background(), []string{"-no-such-flag"}, &bytes.Buffer{}, &bytes.Buffer{}, nil); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
}

// TestIdleURLCarriesTheBoundServicesPort starts the daemon on port 0: the
// idle URL of an auto-registered phone must name the port the services
// listener got, not 0.
func TestIdleURLCarriesTheBoundServicesPort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts selfprovd")
	}
	r := startDaemon(t, loopbackFlags(t.TempDir())...)
	hc := &http.Client{Timeout: 10 * time.Second}
	ua := phonesim.NewUA()
	t.Cleanup(func() { ua.Close() })
	env := &phonesim.Env{
		Fetcher: phonesim.Fetcher{TFTP: r.addrs.TFTP, HTTP: r.addrs.Config, Client: hc},
		UA:      ua, SIP: r.addrs.SIP, HTTP: hc, NotifyTimeout: 15 * time.Second,
	}
	mac := phonesim.FleetMAC(0xad02, 1)
	p := phonesim.NewPhone(env, mac, phonesim.Models["8845"], phonesim.ModeRegister, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if res := p.Run(ctx, nil); res.Err != nil {
		t.Fatalf("phone: %s: %v", res.Outcome, res.Err)
	}
	defer p.Stop(ctx, true)

	resp, err := hc.Get("http://" + r.addrs.Config + "/" + mac.DeviceName() + ".cnf.xml")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cfg, err := phonecfg.Parse(body)
	if err != nil {
		t.Fatalf("HTTP %d: %v", resp.StatusCode, err)
	}
	want := "http://" + r.addrs.Services + "/xps/idle?name=" + mac.DeviceName()
	if cfg.IdleURL != want {
		t.Fatalf("idle URL %q, want %q", cfg.IdleURL, want)
	}
}

// At start the log says how unknown phones and logins are treated and
// where every listener is, SIP TLS included when it is off.
func TestStartupLogSaysWhatIsOn(t *testing.T) {
	d := startDaemon(t, append(loopbackFlags(t.TempDir()), "-log.level", "info")...)
	logs := d.stderr.String()
	for _, want := range []string{
		`msg="auto-registration on" dn_range=1000-1999 udt="Auto-registration Template" ult="Auto-registration Line Template"`,
		`msg="self-provisioning authentication" auth_mode=users auth_code_set=false failed_logon_threshold=3`,
		`msg="selfprovd serving" advertise=127.0.0.1 tftp=` + d.addrs.TFTP + ` config=` + d.addrs.Config + ` sip=` + d.addrs.SIP +
			` sip_tls="off (tls.cert is not set)" services=` + d.addrs.Services + ` admin=` + d.addrs.Admin,
		`msg="sip registrar" udp=` + d.addrs.SIP + ` tcp=` + d.addrs.SIP + ` tls="off (tls.cert is not set)" default_expires=120 min_expires=60 rate_per_source="200 requests/s per source address"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("start-up log lacks\n%s\nlog:\n%s", want, logs)
		}
	}

	// With a certificate, the TLS listener is named.
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir)
	tlsCfg := filepath.Join(dir, "tls.yaml")
	os.WriteFile(tlsCfg, []byte("tls:\n  cert: "+certFile+"\n  key: "+keyFile+"\n"), 0o600)
	d = startDaemon(t, append(loopbackFlags(t.TempDir()), "-log.level", "info", "-config", tlsCfg, "-listen.sip-tls", "127.0.0.1:0")...)
	if d.addrs.SIPTLS == "" || !strings.Contains(d.stderr.String(), "sip_tls="+d.addrs.SIPTLS+" ") {
		t.Errorf("start-up log does not name the TLS listener %q:\n%s", d.addrs.SIPTLS, d.stderr.String())
	}

	// Off, as a configuration of one's own may have it.
	cfg := filepath.Join(t.TempDir(), "off.yaml")
	os.WriteFile(cfg, []byte("cluster:\n  authMode: users-and-admin\n  autoRegistration: {enabled: false, startDN: \"5000\", endDN: \"5099\"}\n"), 0o600)
	d = startDaemon(t, append(loopbackFlags(t.TempDir()), "-log.level", "info", "-config", cfg)...)
	for _, want := range []string{
		`msg="auto-registration off: unknown phones are refused with AUTOREG_DISABLED" dn_range=5000-5099`,
		`auth_mode=users-and-admin`,
	} {
		if !strings.Contains(d.stderr.String(), want) {
			t.Errorf("start-up log lacks %s:\n%s", want, d.stderr.String())
		}
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "selfprovd"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}
