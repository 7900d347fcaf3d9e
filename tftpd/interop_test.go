package tftpd

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"selfprov/internal/testkit"
)

// run runs a peer client with a bounded time and returns its output.
func run(t *testing.T, dir, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInteropTFTPHPA(t *testing.T) {
	bin := testkit.Peer(t, "tftp", "tftp-hpa")
	e := newEnv(t, nil)
	r := start(t, e, nil)
	host, port, _ := net.SplitHostPort(r.tftp)
	dir := t.TempDir()
	for _, tc := range []struct{ request, golden string }{
		{"SEP001122AABBCC.cnf.xml", "SEP001122AABBCC.cnf.xml"},
		{"sep001122aabbcc.cnf.xml", "SEP001122AABBCC.cnf.xml"},
		{"XMLDefault.cnf.xml", "XMLDefault.cnf.xml"},
		{"CSFALICE.cnf.xml", "CSFALICE.cnf.xml"},
	} {
		out, err := run(t, dir, bin, host, port, "-m", "binary", "-c", "get", tc.request, "got.xml")
		if err != nil {
			t.Fatalf("tftp get %s: %v\n%s", tc.request, err, out)
		}
		got, err := os.ReadFile(filepath.Join(dir, "got.xml"))
		if err != nil || !bytes.Equal(got, readGolden(t, tc.golden)) {
			t.Errorf("tftp get %s: bytes differ from testdata/%s (%v)", tc.request, tc.golden, err)
		}
	}
	// An unknown device is answered by a transfer; a missing CTL file by
	// the listening port itself.
	for _, name := range []string{"SEP0A1B00000001.cnf.xml", "CTLSEP001122AABBCC.tlv"} {
		out, err := run(t, dir, bin, host, port, "-m", "binary", "-c", "get", name, "unknown.xml")
		// tftp-hpa exits 0 after printing the server's error.
		if !strings.Contains(out, "Error code 1") {
			t.Errorf("%s: err %v, output %q; want TFTP error 1 (not found)", name, err, out)
		}
	}
	out, err := run(t, dir, bin, host, port, "-m", "binary", "-c", "put", "got.xml", "SEP001122AABBCC.cnf.xml")
	if !strings.Contains(out, "Error code 2") {
		t.Errorf("put: err %v, output %q; want TFTP error 2 (access violation)", err, out)
	}
}

func TestInteropCurl(t *testing.T) {
	bin := testkit.Peer(t, "curl", "curl")
	e := newEnv(t, nil)
	r := start(t, e, nil)
	dir := t.TempDir()
	for _, scheme := range []string{"tftp://" + r.tftp, r.http} {
		for _, tc := range []struct{ request, golden string }{
			{"SEP001122AABBCC.cnf.xml", "SEP001122AABBCC.cnf.xml"},
			{"XMLDefault.cnf.xml", "XMLDefault.cnf.xml"},
		} {
			url := scheme + "/" + tc.request
			out, err := run(t, dir, bin, "-sS", "--fail", "-o", "got.xml", url)
			if err != nil {
				t.Fatalf("curl %s: %v\n%s", url, err, out)
			}
			got, err := os.ReadFile(filepath.Join(dir, "got.xml"))
			if err != nil || !bytes.Equal(got, readGolden(t, tc.golden)) {
				t.Errorf("curl %s: bytes differ from testdata/%s (%v)", url, tc.golden, err)
			}
		}
		// curl exits 68 for a TFTP "file not found" and 22 for an HTTP
		// error with --fail.
		for _, name := range []string{"SEP0A1B00000001.cnf.xml", "CTLSEP001122AABBCC.tlv"} {
			url := scheme + "/" + name
			out, err := run(t, dir, bin, "-sS", "--fail", "-o", "unknown.xml", url)
			ee, ok := err.(*exec.ExitError)
			if !ok || (ee.ExitCode() != 68 && ee.ExitCode() != 22) {
				t.Errorf("curl %s: %v %q; want not found (exit 68 or 22)", url, err, out)
			}
		}
	}
	// HEAD gives the length without a body.
	out, err := run(t, dir, bin, "-sS", "-I", r.http+"/SEP001122AABBCC.cnf.xml")
	if err != nil || !strings.Contains(out, "Content-Type: text/xml") ||
		!strings.Contains(out, "Content-Length: "+itoa(len(readGolden(t, "SEP001122AABBCC.cnf.xml")))) {
		t.Errorf("curl -I: %v\n%s", err, out)
	}
	out, _ = run(t, dir, bin, "-sS", "-o", "/dev/null", "-w", "%{http_code}", r.http+"/SEP0A1B00000001.cnf.xml")
	if out != "404" {
		t.Errorf("unknown SEP over HTTP: %q, want 404", out)
	}
}

// TestInteropOptions: real clients fetch a device config and a 4 MiB
// firmware file with the options phones and lab tools ask for, and get the
// bytes the HTTP mirror serves for the same name. The server's debug log
// shows the options it put in force.
func TestInteropOptions(t *testing.T) {
	atftp := testkit.Peer(t, "atftp", "atftp")
	hpa := testkit.Peer(t, "tftp", "tftp-hpa")
	curl := testkit.Peer(t, "curl", "curl")
	const firmware = "sip88xx.14-2-1-0201-10.loads"
	static, _ := writeStatic(t, firmware, 4<<20)
	var logs testkit.SyncBuffer
	r := start(t, newEnv(t, nil), func(o *Options) {
		o.StaticDir = static
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	host, port, _ := net.SplitHostPort(r.tftp)
	dir := t.TempDir()
	for _, name := range []string{"SEP001122AABBCC.cnf.xml", firmware} {
		resp, want := httpGet(t, "GET", r.http+"/"+name)
		if resp.StatusCode != 200 || len(want) == 0 {
			t.Fatalf("HTTP %s: %d", name, resp.StatusCode)
		}
		for _, tc := range []struct {
			client string
			args   []string
			inLog  string // the transfer's options as logged
		}{
			{"atftp blksize 1428", []string{atftp, "--option", "blksize 1428", "-g", "-r", name, "-l", "got", host, port}, "blksize=1428 windowsize=1"},
			{"atftp blksize 1428 windowsize 8", []string{atftp, "--option", "blksize 1428", "--option", "windowsize 8", "-g", "-r", name, "-l", "got", host, port}, "blksize=1428 windowsize=8"},
			{"curl blksize 1428", []string{curl, "-sS", "--fail", "--tftp-blksize", "1428", "-o", "got", "tftp://" + r.tftp + "/" + name}, "blksize=1428 windowsize=1"},
			// tftp-hpa's client asks for no option at all.
			{"tftp-hpa", []string{hpa, host, port, "-m", "binary", "-c", "get", name, "got"}, "blksize=512 windowsize=1"},
		} {
			_ = os.Remove(filepath.Join(dir, "got"))
			before := strings.Count(logs.String(), tc.inLog)
			out, err := run(t, dir, tc.args[0], tc.args[1:]...)
			if err != nil {
				t.Errorf("%s %s: %v\n%s", tc.client, name, err, out)
				continue
			}
			got, err := os.ReadFile(filepath.Join(dir, "got"))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s %s: %d bytes (%v), not the %d bytes HTTP serves", tc.client, name, len(got), err, len(want))
			}
			if strings.Count(logs.String(), tc.inLog) <= before {
				t.Errorf("%s %s: no transfer logged with %q", tc.client, name, tc.inLog)
			}
		}
	}
}
