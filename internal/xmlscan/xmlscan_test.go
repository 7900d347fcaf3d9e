package xmlscan

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

func TestChars(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		end      byte
		ok       bool
	}{
		{"plain<", "plain", '<', true},
		{"to the end", "to the end", '<', true},           // the end of input ends text
		{`a &amp; b &#65;&#x42;"`, `a & b AB`, '"', true}, // entities and references
		{`unclosed attribute`, "", '"', false},
		{"&nbsp;<", "", '<', false}, // not a predefined entity: the full parser's
		{"&#0;<", "", '<', false},   // a character XML forbids
		{"a\rb<", "", '<', false},   // a carriage return is normalised by the full parser
		{"\xff<", "", '<', false},   // invalid UTF-8
		{"caf\u00e9<", "caf\u00e9", '<', true},
	} {
		s := Scanner{Data: []byte(tc.in)}
		got, ok := s.Chars(tc.end)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Chars(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestStartTag(t *testing.T) {
	s := Scanner{Data: []byte(`line button="1" lineIndex='2'/>rest`)}
	var attrs []string
	tag, empty, ok := s.StartTag(func(k, v string) { attrs = append(attrs, k+"="+v) })
	if tag != "line" || !empty || !ok || len(attrs) != 2 || attrs[0] != "button=1" || attrs[1] != "lineIndex=2" || string(s.Data[s.I:]) != "rest" {
		t.Fatalf("%q %v %v %v at %q", tag, empty, ok, attrs, s.Data[s.I:])
	}
	for _, bad := range []string{`a b="1"c="2">`, `a b=1>`, `a:b>`, `a b="<">`} {
		s := Scanner{Data: []byte(bad)}
		if _, _, ok := s.StartTag(func(string, string) {}); ok {
			t.Errorf("StartTag(%q) accepted", bad)
		}
	}
}

// FuzzChars: Chars and Text read the same characters and stop at the
// same place, whatever the input; Text without a buffer gives a slice
// that cannot be appended into the document.
func FuzzChars(f *testing.F) {
	for _, seed := range []string{"a&amp;b<", "x&#x41;\"", "&lt;&gt;", "\u00e9\u00e8<", "a\x00", "\n    <", "\n\t<"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, end := range []byte{'<', '"'} {
			a, b, c := Scanner{Data: data}, Scanner{Data: data}, Scanner{Data: data}
			s, ok1 := a.Chars(end)
			buf, ok2 := b.Text(end, []byte("pre"))
			if ok1 != ok2 || ok1 && ("pre"+s != string(buf) || a.I != b.I) {
				t.Fatalf("%q end %q: Chars %q %v at %d, Text %q %v at %d", data, end, s, ok1, a.I, buf, ok2, b.I)
			}
			text, ok3 := c.Text(end, nil)
			if ok3 != ok1 || ok1 && (string(text) != s || c.I != a.I) {
				t.Fatalf("%q end %q: Chars %q %v at %d, Text without a buffer %q %v at %d", data, end, s, ok1, a.I, text, ok3, c.I)
			}
			if ok3 {
				before := string(data)
				_ = append(text, "appended"...)
				if string(data) != before {
					t.Fatalf("appending to Text's slice wrote into the document %q", before)
				}
			}
		}
	})
}

func TestCharsIndentIsShared(t *testing.T) {
	s := Scanner{Data: []byte("\n    <")}
	if got, ok := s.Chars('<'); !ok || got != "\n    " {
		t.Fatalf("Chars = %q, %v", got, ok)
	}
	if n := testing.AllocsPerRun(100, func() {
		s := Scanner{Data: []byte("\n      <")}
		_, _ = s.Chars('<')
	}); n != 0 {
		t.Errorf("%v allocations for an indent, want 0", n)
	}
}

func TestNames(t *testing.T) {
	var names Names
	a, b := names.Intern([]byte("device")), names.Intern([]byte("device"))
	if a != "device" || b != "device" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatalf("Intern gave %q and %q, not the same string", a, b)
	}
	if n := testing.AllocsPerRun(100, func() { _ = names.Intern([]byte("device")) }); n != 0 {
		t.Errorf("%v allocations for a learnt name, want 0", n)
	}
	long := strings.Repeat("x", maxNameLen+1)
	if got := names.Intern([]byte(long)); got != long {
		t.Fatalf("Intern of a long name = %q", got)
	}
	if m := *names.m.Load(); len(m) != 1 {
		t.Errorf("%d names learnt, want 1: a name over %d bytes is not kept", len(m), maxNameLen)
	}
	for i := range maxNames + 10 {
		if got, want := names.Intern([]byte(fmt.Sprint("n", i))), fmt.Sprint("n", i); got != want {
			t.Fatalf("Intern = %q, want %q", got, want)
		}
	}
	if m := *names.m.Load(); len(m) != maxNames {
		t.Errorf("%d names learnt, want at most %d", len(m), maxNames)
	}

	s := Scanner{Data: []byte("line/>"), Names: &names}
	if name, ok := s.Name(); !ok || name != "line" {
		t.Fatalf("Name = %q, %v", name, ok)
	}
}

func TestNamesRace(t *testing.T) {
	var names Names
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				want := fmt.Sprint("n", (i+g)%50)
				if got := names.Intern([]byte(want)); got != want {
					t.Errorf("Intern = %q, want %q", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
