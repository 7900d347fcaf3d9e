package provision_test

import (
	"testing"

	"selfprov/internal/testkit"
)

// The core decides; adapters and stores depend on it, never the reverse,
// and it stays on the standard library so it can be reasoned about alone.
func TestCoreImportsOnlyTheStandardLibrary(t *testing.T) {
	testkit.OnlyImports(t, "selfprov/provision")
}
