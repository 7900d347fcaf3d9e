package phonexml_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The phone simulator imports this package for the wire format only, so it
// must not pull in the server: no core, no store, no adapter.
func TestImportsOnlyTheWireFormat(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "selfprov/xmlsvc/phonexml").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "selfprov/xmlsvc/phonexml" && p != "github.com/beevik/etree" {
			t.Errorf("phonexml depends on %s: it may import only the standard library and etree", p)
		}
	}
}
