package provision

import (
	"strings"
	"testing"
)

// replacerExpansion is expandUserPattern as a strings.Replacer does it.
func replacerExpansion(pattern string, u User, m Model, device string) string {
	if pattern == "" {
		pattern = "#FirstName# #LastName# (#Product#)"
	}
	out := strings.NewReplacer(
		"#FirstName#", u.FirstName,
		"#LastName#", u.LastName,
		"#UserID#", u.ID,
		"#Product#", m.Name,
		"#Extension#", u.PrimaryExtension,
		"#DEVICENAME#", device,
	).Replace(pattern)
	return strings.TrimSpace(strings.Join(strings.Fields(out), " "))
}

// TestExpandUserPattern: tokens expand as a strings.Replacer expands them,
// however they touch, repeat or are cut short, and a value that looks
// like a token stays as it is.
func TestExpandUserPattern(t *testing.T) {
	u := User{ID: "alice", FirstName: "Alice", LastName: "#LastName#", PrimaryExtension: "2001"}
	m := Model{Name: "Cisco 8845"}
	for _, tc := range []struct{ pattern, want string }{
		{"", "Alice #LastName# (Cisco 8845)"},
		{"#UserID# #Extension# #DEVICENAME#", "alice 2001 SEP001122334455"},
		{"##UserID##", "#alice#"},
		{"#UserID#UserID#", "aliceUserID#"},
		{"#UserID", "#UserID"},
		{"# #Product#  x #", "# Cisco 8845 x #"},
		{"#userid# #FirstName##FirstName#", "#userid# AliceAlice"},
		{"no tokens", "no tokens"},
		{"#", "#"},
	} {
		got := expandUserPattern(tc.pattern, u, m, "SEP001122334455")
		if got != tc.want || got != replacerExpansion(tc.pattern, u, m, "SEP001122334455") {
			t.Errorf("%q: got %q, want %q (the replacer: %q)", tc.pattern, got, tc.want, replacerExpansion(tc.pattern, u, m, "SEP001122334455"))
		}
	}
}

// FuzzExpandUserPattern: any pattern and values expand as a
// strings.Replacer expands them.
func FuzzExpandUserPattern(f *testing.F) {
	f.Add("#FirstName# #LastName# (#Product#)", "Alice", "#UserID#", "2001")
	f.Add("##UserID#DEVICENAME##", "#", "##", "#Extension#")
	f.Fuzz(func(t *testing.T, pattern, first, last, ext string) {
		u := User{ID: "alice", FirstName: first, LastName: last, PrimaryExtension: ext}
		m := Model{Name: "Cisco 8845"}
		if got, want := expandUserPattern(pattern, u, m, "SEP001122334455"), replacerExpansion(pattern, u, m, "SEP001122334455"); got != want {
			t.Fatalf("%q: got %q, want %q", pattern, got, want)
		}
	})
}

func BenchmarkExpandUserPattern(b *testing.B) {
	u := User{ID: "alice", FirstName: "Alice", LastName: "Anders", PrimaryExtension: "2001"}
	m := Model{Name: "Cisco 8845"}
	b.ReportAllocs()
	for b.Loop() {
		expandUserPattern("", u, m, "SEP001122334455")
	}
}
