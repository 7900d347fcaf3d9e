package xmlscan

import "testing"

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

// FuzzChars: Chars and AppendChars read the same characters and stop at
// the same place, whatever the input.
func FuzzChars(f *testing.F) {
	for _, seed := range []string{"a&amp;b<", "x&#x41;\"", "&lt;&gt;", "\u00e9\u00e8<", "a\x00"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, end := range []byte{'<', '"'} {
			a, b := Scanner{Data: data}, Scanner{Data: data}
			s, ok1 := a.Chars(end)
			buf, ok2 := b.AppendChars(end, []byte("pre"))
			if ok1 != ok2 || ok1 && ("pre"+s != string(buf) || a.I != b.I) {
				t.Fatalf("%q end %q: Chars %q %v at %d, AppendChars %q %v at %d", data, end, s, ok1, a.I, buf, ok2, b.I)
			}
		}
	})
}
