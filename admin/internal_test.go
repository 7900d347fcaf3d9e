package admin

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"selfprov/provision"
)

// Every outcome code of the core has its HTTP status in the table, so a
// new code cannot silently answer with the fallback.
func TestEveryOutcomeCodeHasAStatus(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../provision/errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Code") || i >= len(vs.Values) {
				continue
			}
			lit, ok := vs.Values[i].(*ast.BasicLit)
			if !ok {
				continue
			}
			code, _ := strconv.Unquote(lit.Value)
			n++
			if _, ok := statusOf[code]; !ok {
				t.Errorf("outcome code %s (%s) has no HTTP status in statusOf", code, name.Name)
			}
		}
		return true
	})
	if n < 20 {
		t.Fatalf("found only %d outcome codes in provision/errors.go", n)
	}
	for code, st := range statusOf {
		if st < 400 || st > 599 {
			t.Errorf("%s maps to %d, not an error status", code, st)
		}
	}
	if statusOf[provision.CodeInUse] != http.StatusConflict || statusOf[codeUnauthenticated] != http.StatusUnauthorized {
		t.Fatal("IN_USE must be 409 and UNAUTHENTICATED 401")
	}
}

// A call the core refuses answers as the SIP proxy does: a caller that is
// not registered is forbidden, a DN out of reach is not found.
func TestCallRefusalStatuses(t *testing.T) {
	for code, want := range map[string]int{provision.CodeCallerNotRegistered: http.StatusForbidden, provision.CodeNoRoute: http.StatusNotFound} {
		if got := statusOf[code]; got != want {
			t.Errorf("%s answers %d, want %d", code, got, want)
		}
	}
}
