package phonesim

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportsOnlyWireFormats: phonesim is a client of the wire formats and
// never of the core, the store or the servers, so what it checks is what
// a phone sees.
func TestImportsOnlyWireFormats(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "selfprov/phonesim").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := []string{"selfprov/phonesim", "selfprov/phonecfg", "selfprov/phonexml", "selfprov/clientapi", "selfprov/telemetry", "selfprov/internal/clip", "selfprov/internal/xmlscan", "selfprov/internal/xmlwrite", "selfprov/internal/sipheader"}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "selfprov/") && !slices.Contains(allowed, p) {
			t.Errorf("phonesim depends on %s; of this module it may use only %v", p, allowed[1:])
		}
	}
}
