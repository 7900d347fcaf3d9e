package xmlsvc

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"selfprov/provision"
)

// A name the screen quotes is cut between characters, never inside one:
// the phone shows every whole character that fits and no replacement
// character for half of one.
func TestUnknownNameIsCutBetweenCharacters(t *testing.T) {
	e := newEnv(t, nil, nil)
	name := "SEP" + strings.Repeat("A", 16) + "éé" // the first é spans bytes 19 and 20
	p := e.get(t, PathIdle+"?name="+url.QueryEscape(name))
	if got := p.code(); got != provision.CodeDeviceNotFound {
		t.Fatalf("screen names %q, want %q:\n%s", got, provision.CodeDeviceNotFound, p.body)
	}
	if !utf8.Valid(p.body) || bytes.ContainsRune(p.body, utf8.RuneError) {
		t.Fatalf("screen holds a broken character:\n%s", p.body)
	}
	if want := "No phone is named SEP" + strings.Repeat("A", 16) + "…."; !bytes.Contains(p.body, []byte(want)) {
		t.Errorf("screen lacks %q:\n%s", want, p.body)
	}
}
