package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTFTPPerSourceBound(t *testing.T) {
	demo, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	if demo.TFTP.MaxTransfersPerSource != 128 || Default().TFTP.MaxTransfersPerSource != 128 {
		t.Errorf("maxTransfersPerSource: demo %d, default %d, want 128", demo.TFTP.MaxTransfersPerSource, Default().TFTP.MaxTransfersPerSource)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		yaml string
		want int
		err  string
	}{
		{"tftp:\n  maxTransfersPerSource: 8\n", 8, ""},
		{"tftp:\n  maxTransfersPerSource: 0\n", 0, ""},
		{"advertise: 127.0.0.1\n", 128, ""},
		{"tftp:\n  maxTransfersPerSource: -1\n", 0, "tftp.maxTransfersPerSource: -1 must be 0"},
	} {
		path := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an error mentioning %q", tc.yaml, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.yaml, err)
		case c.TFTP.MaxTransfersPerSource != tc.want:
			t.Errorf("%q: maxTransfersPerSource %d, want %d", tc.yaml, c.TFTP.MaxTransfersPerSource, tc.want)
		}
	}
}
