package phonexml_test

import (
	"testing"

	"selfprov/internal/testkit"
)

// The phone simulator imports this package for the wire format only, so it
// must not pull in the server: no core, no store, no adapter.
func TestImportsOnlyTheWireFormat(t *testing.T) {
	testkit.OnlyImports(t, "selfprov/phonexml", "github.com/beevik/etree", "selfprov/internal/xmlscan", "selfprov/internal/xmlwrite")
}
