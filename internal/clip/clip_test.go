package clip

import (
	"strings"
	"testing"
	"unicode/utf8"

	"selfprov/internal/testkit"
)

func TestString(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"", 4, ""},
		{"abcd", 4, "abcd"},
		{"abcde", 4, "abcd…"},
		{"ab€", 4, "ab…"}, // € is 3 bytes; its first byte is at 2
		{"ab€", 5, "ab€"},
		{"ab€d", 5, "ab€…"},
		{"a\xffb", 4, "a\uFFFDb"},
		{"a\xffbcdef", 4, "a\uFFFDbc…"},
		{"abcdef", 0, "…"},
		{"abcdef", -1, "…"},
	} {
		if got := String(c.in, c.max); got != c.want {
			t.Errorf("String(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

func TestStringDoesNotAllocateForShortValidText(t *testing.T) {
	s := strings.Repeat("x", 40)
	if n := testing.AllocsPerRun(100, func() { _ = String(s, 40) }); n != 0 {
		t.Errorf("Clip allocates %v times for a short valid string", n)
	}
}

// FuzzString: whatever the input, the result is valid UTF-8, no longer than
// max plus the ellipsis, and, for valid input, a prefix of it (plus the
// ellipsis when cut) that loses no whole character it had room for.
func FuzzString(f *testing.F) {
	for _, s := range []string{"", "SEP001122334455", "ab€d", "日本語の名前", "a\xffb\xc3", strings.Repeat("é", 40), "\xe2\x82"} {
		f.Add(s, 4)
		f.Add(s, 40)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1<<12 {
			t.Skip()
		}
		got := String(s, max)
		if !utf8.ValidString(got) {
			t.Fatalf("String(%q, %d) = %q is not UTF-8", s, max, got)
		}
		head, cut := strings.CutSuffix(got, Ellipsis)
		if !cut {
			head = got
		}
		if !utf8.ValidString(s) {
			return
		}
		if len(head) > max {
			t.Fatalf("String(%q, %d) = %q keeps %d bytes", s, max, got, len(head))
		}
		if len(s) <= max {
			if got != s {
				t.Fatalf("String(%q, %d) = %q, want it unchanged", s, max, got)
			}
			return
		}
		if !cut || !strings.HasPrefix(s, head) {
			t.Fatalf("String(%q, %d) = %q is not a prefix of it with an ellipsis", s, max, got)
		}
		if _, size := utf8.DecodeRuneInString(s[len(head):]); len(head)+size <= max {
			t.Fatalf("String(%q, %d) = %q drops a character it had room for", s, max, got)
		}
	})
}

// Every package uses clip, the core and the wire formats included, so it
// may depend on nothing but the standard library.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	testkit.OnlyImports(t, "selfprov/internal/clip")
}
