package cucmapi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"selfprov/cucmapi"
)

// TestGeneratedCertificate: with no certificate configured, one naming the
// hosts is generated into the data directory with a private key file, and
// the next start reuses it.
func TestGeneratedCertificate(t *testing.T) {
	dir := t.TempDir()
	cert, generated, err := cucmapi.LoadCertificate("", "", dir, []string{"192.0.2.10", "cucm-lab.example"})
	if err != nil || !generated {
		t.Fatalf("first start: generated %v, %v", generated, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(leaf.IPAddresses, func(ip net.IP) bool { return ip.String() == "192.0.2.10" }) || !slices.Contains(leaf.DNSNames, "cucm-lab.example") {
		t.Fatalf("SANs: %v %v", leaf.IPAddresses, leaf.DNSNames)
	}
	if err := leaf.VerifyHostname("cucm-lab.example"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, cucmapi.KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	again, generated, err := cucmapi.LoadCertificate("", "", dir, []string{"other.example"})
	if err != nil || generated {
		t.Fatalf("second start: generated %v, %v", generated, err)
	}
	if string(again.Certificate[0]) != string(cert.Certificate[0]) {
		t.Fatal("second start made a new certificate")
	}
	// Configured files win over the generated ones; a missing file is an
	// error naming it.
	if _, _, err := cucmapi.LoadCertificate(filepath.Join(dir, "none.pem"), filepath.Join(dir, "none-key.pem"), dir, nil); err == nil {
		t.Fatal("missing configured certificate accepted")
	}
	conf, generated, err := cucmapi.LoadCertificate(filepath.Join(dir, cucmapi.CertFile), filepath.Join(dir, cucmapi.KeyFile), t.TempDir(), nil)
	if err != nil || generated || string(conf.Certificate[0]) != string(cert.Certificate[0]) {
		t.Fatalf("configured: generated %v, %v", generated, err)
	}
	// A key readable by others is refused.
	os.Chmod(filepath.Join(dir, cucmapi.KeyFile), 0o644)
	if _, _, err := cucmapi.LoadCertificate("", "", dir, nil); err == nil {
		t.Fatal("a key readable by others was used")
	}
}

func TestAppPassword(t *testing.T) {
	dir := t.TempDir()
	pw, generated, err := cucmapi.LoadAppPassword("", dir)
	if err != nil || !generated || len(pw) < 16 {
		t.Fatalf("generated %q %v %v", pw, generated, err)
	}
	fi, err := os.Stat(filepath.Join(dir, cucmapi.PasswordFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", fi, err)
	}
	again, generated, err := cucmapi.LoadAppPassword("", dir)
	if err != nil || generated || again != pw {
		t.Fatalf("reused: %q %v %v", again, generated, err)
	}
	if got, _, err := cucmapi.LoadAppPassword("configured-pass", dir); err != nil || got != "configured-pass" {
		t.Fatalf("configured: %q %v", got, err)
	}
	if _, _, err := cucmapi.LoadAppPassword("short", dir); err == nil {
		t.Fatal("a 5-character password accepted")
	}
	os.Chmod(filepath.Join(dir, cucmapi.PasswordFile), 0o644)
	if _, _, err := cucmapi.LoadAppPassword("", dir); err == nil {
		t.Fatal("a password file readable by others was used")
	}
}

// TestServeHTTPS: the server speaks TLS with the certificate and routes.
func TestServeHTTPS(t *testing.T) {
	cert, _, err := cucmapi.LoadCertificate("", "", t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := cucmapi.New(cucmapi.Options{Certificate: cert, Routes: map[string]http.Handler{
		"/axl/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "axl") }),
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool.AddCert(leaf)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + ln.Addr().String() + "/axl/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "axl" {
		t.Fatalf("body %q", body)
	}
	resp, err = client.Get("https://" + ln.Addr().String() + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/other: %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
