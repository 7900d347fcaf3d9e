package provision_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The core decides; adapters and stores depend on it, never the reverse,
// and it stays on the standard library so it can be reasoned about alone.
func TestCoreImportsOnlyTheStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "selfprov/provision").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "selfprov/provision" {
			t.Errorf("provision depends on %s: the core may import only the standard library", p)
		}
	}
}
