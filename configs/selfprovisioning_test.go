package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"selfprov/provision"
)

// TestFailedLoginLimit: the per-source limit defaults to the core's, 0
// turns it off, and bad values are refused naming the key.
func TestFailedLoginLimit(t *testing.T) {
	load := func(yaml string) (*Config, error) {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(path)
	}
	c, err := load("")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.FailedLoginLimit(); got != (provision.FailedLoginLimit{PerSource: 20, Window: 15 * time.Minute}) {
		t.Errorf("default %+v", got)
	}
	c, err = load("selfProvisioning:\n  failedLoginsPerSource: 0\n")
	if err != nil || c.FailedLoginLimit().PerSource >= 0 {
		t.Errorf("0 should be no limit: %+v %v", c.FailedLoginLimit(), err)
	}
	c, err = load("selfProvisioning:\n  failedLoginsPerSource: 7\n  failedLoginWindow: 2m\n")
	if err != nil || c.FailedLoginLimit() != (provision.FailedLoginLimit{PerSource: 7, Window: 2 * time.Minute}) {
		t.Errorf("7 in 2m: %+v %v", c.FailedLoginLimit(), err)
	}
	for _, bad := range []string{"selfProvisioning:\n  failedLoginsPerSource: -1\n", "selfProvisioning:\n  failedLoginWindow: 0s\n"} {
		if _, err := load(bad); err == nil || !strings.Contains(err.Error(), "selfProvisioning") {
			t.Errorf("%q: %v, want an error naming selfProvisioning", bad, err)
		}
	}
	demo, err := Demo()
	if err != nil || demo.FailedLoginLimit() != (provision.FailedLoginLimit{PerSource: 20, Window: 15 * time.Minute}) {
		t.Errorf("demo.yaml: %+v %v", demo.FailedLoginLimit(), err)
	}
}
