package secretfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testSecret = Secret{Owner: "test", Key: "testKey", Name: "token", File: "test-token", MinLen: 16, RandomBytes: 32}

func TestGeneratedOnceThenReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	v, generated, err := testSecret.Load("", dir)
	if err != nil || !generated || len(v) < 16 {
		t.Fatalf("first load: %q, %v, %v", v, generated, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "test-token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file: %v, %v", fi, err)
	}
	again, generated, err := testSecret.Load("", dir)
	if err != nil || generated || again != v {
		t.Fatalf("second load: %q (want %q), %v, %v", again, v, generated, err)
	}
}

func TestConfiguredWinsAndMustBeLongEnough(t *testing.T) {
	dir := t.TempDir()
	if v, generated, err := testSecret.Load("0123456789abcdef", dir); err != nil || generated || v != "0123456789abcdef" {
		t.Fatalf("configured: %q, %v, %v", v, generated, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "test-token")); !os.IsNotExist(err) {
		t.Fatalf("a configured secret wrote a file: %v", err)
	}
	if _, _, err := testSecret.Load("short", dir); err == nil || !strings.Contains(err.Error(), "test: testKey is shorter than 16") {
		t.Fatalf("short: %v", err)
	}
}

func TestRefusesAFileOthersCanReadOrATruncatedOne(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "test-token")
	if err := os.WriteFile(path, []byte("0123456789abcdefgh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := testSecret.Load("", dir); err == nil || !strings.Contains(err.Error(), "readable by other users") {
		t.Fatalf("mode 0644: %v", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := testSecret.Load("", dir); err == nil || !strings.Contains(err.Error(), "holds fewer than 16") {
		t.Fatalf("truncated: %v", err)
	}
}

func TestWriteNewNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := WriteNew(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteNew(path, []byte("two"), 0o600); !os.IsExist(err) {
		t.Fatalf("second write: %v, want it to exist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Fatalf("content %q", b)
	}
}
