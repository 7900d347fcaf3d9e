package axl

import "testing"

func TestLike(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"SEP%", "SEP001122334455", true},
		{"sep%", "SEP001122334455", true}, // case-insensitive, as CUCM's names
		{"%4455", "SEP001122334455", true},
		{"%2233%", "SEP001122334455", true},
		{"SEP00112233445_", "SEP001122334455", true},
		{"SEP00112233445_", "SEP0011223344555", false},
		{"CSF%", "SEP001122334455", false},
		{"%", "", true},
		{"", "", true},
		{"", "x", false},
		{"a%b%c", "aXbYc", true},
		{"a%b%c", "aXbY", false},
		{"%%%%%%%%%%%%%%%%%%%%b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false}, // no blow-up
	} {
		if got := like(c.pattern, c.s); got != c.want {
			t.Errorf("like(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func TestPageTake(t *testing.T) {
	p := page{skip: 2, first: 3}
	var kept []int
	for i := 0; i < 10; i++ {
		keep, more := p.take(i)
		if keep {
			kept = append(kept, i)
		}
		if !more {
			break
		}
	}
	if len(kept) != 3 || kept[0] != 2 || kept[2] != 4 {
		t.Fatalf("kept %v, want [2 3 4]", kept)
	}
}

func TestUUIDIsStable(t *testing.T) {
	a, b := uuidOf("phone", "SEP001122334455"), uuidOf("phone", "sep001122334455")
	if a != b || len(a) != 38 || a[0] != '{' || a[15] != '5' {
		t.Fatalf("%s %s", a, b)
	}
	if uuidOf("line", "SEP001122334455") == a {
		t.Fatal("kinds share a UUID")
	}
}
