// Package xmlscan is the lexer behind the fast paths that read the plain
// XML phones receive (configs, IP Phone screens): ASCII names without
// prefixes, UTF-8 text, quoted attributes, the five predefined entities,
// character references and comments. Anything else makes a step fail,
// and the caller hands the document to a full XML parser, which reads it
// or words the error.
package xmlscan

import (
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Scanner reads Data from I on.
type Scanner struct {
	Data []byte
	I    int
	// Names, if set, interns the names Name reads.
	Names *Names
}

// Names interns the element and attribute names of one kind of document:
// the few dozen a config or a screen uses are read thousands of times in
// a boot storm, and each would otherwise be a new string. It learns the
// names it is asked for, up to maxNames of at most maxNameLen bytes, so a
// document with odd names costs only the strings it would have cost.
// Lookups take no lock. The zero value is ready to use.
type Names struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]string]
}

const (
	maxNames   = 512
	maxNameLen = 64
)

// Intern is b as a string, the same one each time once learnt.
func (n *Names) Intern(b []byte) string {
	if m := n.m.Load(); m != nil {
		if s, ok := (*m)[string(b)]; ok {
			return s
		}
	}
	s := string(b)
	if len(s) <= maxNameLen {
		n.learn(s)
	}
	return s
}

// learn adds s to a copy of the map: names are learnt a few dozen times
// in a process's life and read without a lock ever after.
func (n *Names) learn(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var old map[string]string
	if p := n.m.Load(); p != nil {
		old = *p
	}
	if _, ok := old[s]; ok || len(old) >= maxNames {
		return
	}
	m := make(map[string]string, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[s] = s
	n.m.Store(&m)
}

// Eat consumes c if it is next.
func (s *Scanner) Eat(c byte) bool {
	if s.I < len(s.Data) && s.Data[s.I] == c {
		s.I++
		return true
	}
	return false
}

// Spaces skips spaces, tabs and newlines (a carriage return is left to
// the full parser, which normalises it).
func (s *Scanner) Spaces() {
	for s.I < len(s.Data) {
		switch s.Data[s.I] {
		case ' ', '\t', '\n':
			s.I++
		default:
			return
		}
	}
}

// Name reads an ASCII name without a namespace prefix.
func (s *Scanner) Name() (string, bool) {
	b, ok := s.NameBytes()
	if !ok {
		return "", false
	}
	if s.Names != nil {
		return s.Names.Intern(b), true
	}
	return string(b), true
}

// NameBytes is Name as a slice of Data.
func (s *Scanner) NameBytes() ([]byte, bool) {
	start := s.I
	if s.I >= len(s.Data) || class[s.Data[s.I]]&nameStart == 0 {
		return nil, false
	}
	s.I++
	for s.I < len(s.Data) && class[s.Data[s.I]]&nameChar != 0 {
		s.I++
	}
	return s.Data[start:s.I], true
}

// Character classes, looked up rather than compared: names and text are
// most of what a phone's documents hold.
const (
	nameStart = 1 << iota // ASCII letters and '_'
	nameChar              // those, digits, '-' and '.'
	plain                 // text that needs no second look
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
			t[c] = nameStart | nameChar
		case '0' <= c && c <= '9', c == '-', c == '.':
			t[c] = nameChar
		}
		if c >= ' ' && c < utf8.RuneSelf && c != '&' && c != ']' && c != '<' && c != '"' && c != '\'' || c == '\t' || c == '\n' {
			t[c] |= plain
		}
	}
	return t
}()

// StartTag reads a start tag after its '<', handing each attribute to
// attr in document order; empty tells a tag closed with "/>".
func (s *Scanner) StartTag(attr func(key, val string)) (tag string, empty, ok bool) {
	tag, ok = s.Name()
	if !ok {
		return "", false, false
	}
	for {
		n := s.I
		s.Spaces()
		if s.Eat('>') {
			return tag, false, true
		}
		if s.Eat('/') {
			return tag, true, s.Eat('>')
		}
		if s.I == n { // an attribute needs a space before it
			return "", false, false
		}
		key, ok := s.Name()
		if !ok {
			return "", false, false
		}
		s.Spaces()
		if !s.Eat('=') {
			return "", false, false
		}
		s.Spaces()
		if s.I >= len(s.Data) {
			return "", false, false
		}
		quote := s.Data[s.I]
		if quote != '"' && quote != '\'' {
			return "", false, false
		}
		s.I++
		val, ok := s.Chars(quote)
		if !ok {
			return "", false, false
		}
		s.I++ // the closing quote
		attr(key, val)
	}
}

// indent is the whitespace between the elements of an indented document,
// up to 16 levels of two spaces, which Chars returns without a copy.
const indent = "\n                                "

// Chars reads the characters up to end ('<' or a quote; not consumed; the end of input
// ends text only), replacing entities and character references.
func (s *Scanner) Chars(end byte) (string, bool) {
	buf, plain, ok := s.chars(end, nil)
	if !ok {
		return "", false
	}
	if buf == nil { // nothing replaced: one copy, or none for an indent
		run := s.Data[plain:s.I]
		if len(run) <= len(indent) && string(run) == indent[:len(run)] {
			return indent[:len(run)], true
		}
		return string(run), true
	}
	return string(append(buf, s.Data[plain:s.I]...)), true
}

// Text is Chars as a slice: of Data when nothing was replaced, else of
// buf, which it appends to.
func (s *Scanner) Text(end byte, buf []byte) ([]byte, bool) {
	buf, plain, ok := s.chars(end, buf)
	if !ok {
		return nil, false
	}
	if buf == nil {
		return s.Data[plain:s.I:s.I], true
	}
	return append(buf, s.Data[plain:s.I]...), true
}

// chars scans to end, returning buf with what came before the last plain
// run (entities replaced) and where that run starts. Control characters,
// carriage returns, invalid UTF-8, ']' and '<' fail it.
func (s *Scanner) chars(end byte, buf []byte) ([]byte, int, bool) {
	start := s.I
	for s.I < len(s.Data) {
		c := s.Data[s.I]
		if class[c]&plain != 0 {
			s.I++
			continue
		}
		switch {
		case c == end:
			return buf, start, true
		case c == '&':
			buf = append(buf, s.Data[start:s.I]...)
			r, n := entity(s.Data[s.I:])
			if n == 0 {
				return nil, 0, false
			}
			buf = append(buf, r...)
			s.I += n
			start = s.I
			continue
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(s.Data[s.I:])
			if r == utf8.RuneError && n == 1 || !XMLChar(r) {
				return nil, 0, false // invalid UTF-8 or a character XML forbids
			}
			s.I += n
			continue
		case c < ' ' && c != '\t' && c != '\n', c == ']', c == '<':
			return nil, 0, false
		}
		s.I++
	}
	if end != '<' {
		return nil, 0, false
	}
	return buf, start, true
}

// Comment skips a comment after its '<'; "--" may only end it.
func (s *Scanner) Comment() bool {
	if !HasPrefix(s.Data[s.I:], "!--") {
		return false
	}
	s.I += 3
	for j := s.I; j+1 < len(s.Data); j++ {
		c := s.Data[j]
		if c < ' ' && c != '\t' && c != '\n' || c >= utf8.RuneSelf {
			return false
		}
		if c == '-' && s.Data[j+1] == '-' {
			if j+2 >= len(s.Data) || s.Data[j+2] != '>' {
				return false
			}
			s.I = j + 3
			return true
		}
	}
	return false
}

// HasPrefix tells whether b starts with prefix.
func HasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// XMLChar tells whether XML 1.0 allows r in a document.
func XMLChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || 0x20 <= r && r <= 0xD7FF ||
		0xE000 <= r && r <= 0xFFFD || 0x10000 <= r && r <= utf8.MaxRune
}

// entity reads a predefined entity or a character reference at the
// start of b, giving its UTF-8 and its length, or a zero length when the
// reference is another one or names a character XML forbids.
func entity(b []byte) ([]byte, int) {
	for _, e := range [...]struct{ ref, r string }{
		{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"},
	} {
		if len(b) >= len(e.ref) && string(b[:len(e.ref)]) == e.ref {
			return []byte(e.r), len(e.ref)
		}
	}
	if len(b) < 3 || b[1] != '#' {
		return nil, 0
	}
	i, base := 2, rune(10)
	if b[2] == 'x' {
		i, base = 3, 16
	}
	var r rune
	for start := i; i < len(b) && i-start < 7; i++ {
		c := b[i]
		switch {
		case '0' <= c && c <= '9':
			r = r*base + rune(c-'0')
		case base == 16 && 'a' <= c && c <= 'f':
			r = r*base + rune(c-'a'+10)
		case base == 16 && 'A' <= c && c <= 'F':
			r = r*base + rune(c-'A'+10)
		case c == ';' && i > start:
			if !XMLChar(r) {
				return nil, 0
			}
			return utf8.AppendRune(nil, r), i + 1
		default:
			return nil, 0
		}
	}
	return nil, 0
}
