package phonecfg

import (
	"encoding/xml"
	"unicode/utf8"
)

// scanTree is parseTree's fast path for the plain XML a config file is:
// ASCII names without prefixes, UTF-8 text, double- or single-quoted attributes, the
// five predefined entities, comments and the standard XML declaration.
// It builds the same tree as decodeTree for every document it accepts and
// gives up (ok false) on anything else, well-formed or not: then
// decodeTree reads the document and words any error. A simulated phone
// parses two device configs per boot, and encoding/xml's tokenizer was
// most of its XML cost.
func scanTree(data []byte, maxDepth int) (root *element, ok bool) {
	s := scanner{data: data}
	if hasPrefix(data, xmlDecl) {
		s.i = len(xmlDecl)
	} else if hasPrefix(data, xmlDeclNoEncoding) {
		s.i = len(xmlDeclNoEncoding)
	}
	doc := &element{}
	stack := []*element{doc}
	for s.i < len(s.data) {
		top := stack[len(stack)-1]
		if s.data[s.i] != '<' {
			if !s.text(top) {
				return nil, false
			}
			continue
		}
		s.i++
		if s.i >= len(s.data) {
			return nil, false
		}
		switch c := s.data[s.i]; {
		case c == '/':
			s.i++
			name, ok := s.name()
			if !ok || len(stack) == 1 || name != top.tag {
				return nil, false
			}
			s.spaces()
			if !s.eat('>') {
				return nil, false
			}
			stack = stack[:len(stack)-1]
		case c == '!':
			if !s.comment() {
				return nil, false
			}
		case c == '?':
			return nil, false
		default:
			if len(stack) > maxDepth {
				return nil, false
			}
			e, empty, ok := s.startTag()
			if !ok {
				return nil, false
			}
			top.done = true
			top.kids = append(top.kids, e)
			if !empty {
				stack = append(stack, e)
			}
		}
	}
	if len(stack) != 1 || len(doc.kids) == 0 {
		return nil, false
	}
	return doc.kids[0], true
}

var (
	xmlDecl           = []byte(`<?xml version="1.0" encoding="UTF-8"?>`)
	xmlDeclNoEncoding = []byte(`<?xml version="1.0"?>`)
)

func hasPrefix(b, prefix []byte) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == string(prefix)
}

type scanner struct {
	data []byte
	i    int
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.data) && s.data[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) spaces() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n':
			s.i++
		default:
			return
		}
	}
}

// name reads an ASCII name without a namespace prefix.
func (s *scanner) name() (string, bool) {
	start := s.i
	for s.i < len(s.data) {
		c := s.data[s.i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' ||
			s.i > start && ('0' <= c && c <= '9' || c == '-' || c == '.') {
			s.i++
			continue
		}
		break
	}
	if s.i == start {
		return "", false
	}
	return string(s.data[start:s.i]), true
}

// startTag reads a start tag after its '<'.
func (s *scanner) startTag() (e *element, empty, ok bool) {
	tag, ok := s.name()
	if !ok {
		return nil, false, false
	}
	e = &element{tag: tag}
	for {
		n := s.i
		s.spaces()
		if s.eat('>') {
			return e, false, true
		}
		if s.eat('/') {
			return e, true, s.eat('>')
		}
		if s.i == n { // an attribute needs a space before it
			return nil, false, false
		}
		key, ok := s.name()
		if !ok {
			return nil, false, false
		}
		s.spaces()
		if !s.eat('=') {
			return nil, false, false
		}
		s.spaces()
		if s.i >= len(s.data) {
			return nil, false, false
		}
		quote := s.data[s.i]
		if quote != '"' && quote != '\'' {
			return nil, false, false
		}
		s.i++
		val, ok := s.chars(quote, nil)
		if !ok {
			return nil, false, false
		}
		s.i++ // the closing quote
		e.attrs = setAttr(e.attrs, key, string(val))
	}
}

// text reads character data up to the next '<' into e when e's text is
// still open.
func (s *scanner) text(e *element) bool {
	if e.done {
		_, ok := s.chars('<', nil)
		return ok
	}
	t, ok := s.chars('<', e.text)
	e.text = t
	return ok
}

// chars appends the characters up to end (not consumed; end of input is
// an end for text only) to buf, replacing entities and character references. Control
// characters, carriage returns, invalid UTF-8, ']' and '<' are left to
// encoding/xml.
func (s *scanner) chars(end byte, buf []byte) ([]byte, bool) {
	start := s.i
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == end:
			return append(buf, s.data[start:s.i]...), true
		case c == '&':
			buf = append(buf, s.data[start:s.i]...)
			r, n := entity(s.data[s.i:])
			if n == 0 {
				return nil, false
			}
			buf = append(buf, r...)
			s.i += n
			start = s.i
			continue
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(s.data[s.i:])
			if r == utf8.RuneError && n == 1 || !xmlChar(r) {
				return nil, false // invalid UTF-8 or a character XML forbids
			}
			s.i += n
			continue
		case c < ' ' && c != '\t' && c != '\n', c == ']', c == '<':
			return nil, false
		}
		s.i++
	}
	if end != '<' {
		return nil, false
	}
	return append(buf, s.data[start:s.i]...), true
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
			if !xmlChar(r) {
				return nil, 0
			}
			return utf8.AppendRune(nil, r), i + 1
		default:
			return nil, 0
		}
	}
	return nil, 0
}

// comment skips a comment after its '<'; "--" may only end it.
func (s *scanner) comment() bool {
	if !hasPrefix(s.data[s.i:], []byte("!--")) {
		return false
	}
	s.i += 3
	for j := s.i; j+1 < len(s.data); j++ {
		c := s.data[j]
		if c < ' ' && c != '\t' && c != '\n' || c >= 0x80 {
			return false
		}
		if c == '-' && s.data[j+1] == '-' {
			if j+2 >= len(s.data) || s.data[j+2] != '>' {
				return false
			}
			s.i = j + 3
			return true
		}
	}
	return false
}

// setAttr adds an attribute; one given twice keeps its first place and
// its last value, as dedupAttrs does.
func setAttr(attrs []xml.Attr, key, val string) []xml.Attr {
	for i := range attrs {
		if attrs[i].Name.Local == key {
			attrs[i].Value = val
			return attrs
		}
	}
	return append(attrs, xml.Attr{Name: xml.Name{Local: key}, Value: val})
}
