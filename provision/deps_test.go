package provision_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"selfprov/internal/testkit"
)

// The core decides; adapters and stores depend on it, never the reverse,
// and it stays on the standard library so it can be reasoned about alone
// (internal/clip, the one shared text rule, and internal/kdf, the secrets'
// hash, are themselves standard library only).
func TestCoreImportsOnlyTheStandardLibrary(t *testing.T) {
	testkit.OnlyImports(t, "selfprov/provision", "selfprov/internal/clip", "selfprov/internal/kdf")
}

// Only the core reads and writes the store; cmd opens it and hands it to
// the core. An adapter or configs that held the port could check and
// write outside the core's rules, which a second front end or node would
// then not share. So no other package imports a store or names the port
// outside its tests (internal/coretest builds cores for tests; the
// programs under bench/, mains like cmd's, fill a data directory with
// fixed devices for a load test before any server runs).
func TestOnlyTheCoreAndCmdTouchTheStore(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .GoFiles \" \"}}\t{{join .Imports \" \"}}", "selfprov/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := func(pkg string) bool {
		return pkg == "selfprov/provision" || pkg == "selfprov/internal/coretest" ||
			strings.HasPrefix(pkg, "selfprov/cmd/") || strings.HasPrefix(pkg, "selfprov/store/") ||
			strings.HasPrefix(pkg, "selfprov/bench/")
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("go list line %q", line)
		}
		pkg, dir, files, imports := f[0], f[1], strings.Fields(f[2]), strings.Fields(f[3])
		if allowed(pkg) {
			continue
		}
		checked++
		for _, imp := range imports {
			if strings.HasPrefix(imp, "selfprov/store/") {
				t.Errorf("%s imports %s; only the core and cmd use a store", pkg, imp)
			}
		}
		for _, name := range files {
			path := filepath.Join(dir, name)
			file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			local := ""
			for _, im := range file.Imports {
				if im.Path.Value == `"selfprov/provision"` {
					local = "provision"
					if im.Name != nil {
						local = im.Name.Name
					}
				}
			}
			if local == "" {
				continue
			}
			ast.Inspect(file, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == local && sel.Sel.Name == "Store" {
					t.Errorf("%s names provision.Store; call the core's operations instead", path)
				}
				return true
			})
		}
	}
	if checked < 10 {
		t.Fatalf("only %d packages checked; is go list answering for the module?", checked)
	}
}
