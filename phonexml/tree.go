package phonexml

import (
	"unicode/utf8"

	"github.com/beevik/etree"
)

// node is what Parse reads of a document or element: its name, its
// attributes and its children in order. Parse builds it with scanTree
// when the object is plain XML, as every screen the XML service renders
// is, and from etree's document otherwise, so both readings are the
// same: a phone simulator parses three screens per phone, and etree's
// document was most of the cost.
type node struct {
	space, tag string
	attrs      []attr
	kids       []child
}

type attr struct{ space, key, value string }

type childKind uint8

const (
	kindElement childKind = iota
	kindText
	kindDirective
	kindOther // comments and processing instructions
)

type child struct {
	kind       childKind
	el         *node  // kindElement
	text       string // kindText
	whitespace bool   // kindText: spaces, tabs and line ends only
}

func (n *node) fullTag() string {
	if n.space == "" {
		return n.tag
	}
	return n.space + ":" + n.tag
}

// selectAttr is the attribute named key in any namespace, as etree's
// SelectAttr matches a key without a prefix.
func (n *node) selectAttr(key string) (string, bool) {
	for _, a := range n.attrs {
		if a.key == key {
			return a.value, true
		}
	}
	return "", false
}

func (n *node) selectAttrValue(key, dflt string) string {
	if v, ok := n.selectAttr(key); ok {
		return v
	}
	return dflt
}

func (n *node) hasElements() bool {
	for _, k := range n.kids {
		if k.kind == kindElement {
			return true
		}
	}
	return false
}

// fromEtree copies etree's reading of a document or element.
func fromEtree(e *etree.Element) *node {
	n := &node{space: e.Space, tag: e.Tag}
	for _, a := range e.Attr {
		n.attrs = append(n.attrs, attr{a.Space, a.Key, a.Value})
	}
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.Element:
			n.kids = append(n.kids, child{kind: kindElement, el: fromEtree(t)})
		case *etree.CharData:
			n.kids = append(n.kids, child{kind: kindText, text: t.Data, whitespace: t.IsWhitespace()})
		case *etree.Directive:
			n.kids = append(n.kids, child{kind: kindDirective})
		default:
			n.kids = append(n.kids, child{kind: kindOther})
		}
	}
	return n
}

// scanTree reads plain XML: ASCII names without prefixes, UTF-8 text,
// quoted attributes, the predefined entities, character references, comments and the
// standard XML declaration. For every document it takes it builds what
// fromEtree builds from etree's reading; on anything else, well-formed or
// not, it gives up (ok false), and etree reads the document and words
// any error.
func scanTree(data []byte, maxDepth int) (doc *node, ok bool) {
	s := scanner{data: data}
	doc = &node{}
	if hasPrefix(data, xmlDecl) {
		s.i = len(xmlDecl)
		doc.kids = append(doc.kids, child{kind: kindOther})
	} else if hasPrefix(data, xmlDeclNoEncoding) {
		s.i = len(xmlDeclNoEncoding)
		doc.kids = append(doc.kids, child{kind: kindOther})
	}
	stack := []*node{doc}
	for s.i < len(s.data) {
		top := stack[len(stack)-1]
		if s.data[s.i] != '<' {
			t, ok := s.chars('<')
			if !ok {
				return nil, false
			}
			top.kids = append(top.kids, child{kind: kindText, text: t, whitespace: isWhitespace(t)})
			continue
		}
		s.i++
		if s.i >= len(s.data) {
			return nil, false
		}
		switch s.data[s.i] {
		case '/':
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
		case '!':
			if !s.comment() {
				return nil, false
			}
			top.kids = append(top.kids, child{kind: kindOther})
		case '?':
			return nil, false
		default:
			if len(stack) > maxDepth {
				return nil, false
			}
			e, empty, ok := s.startTag()
			if !ok {
				return nil, false
			}
			top.kids = append(top.kids, child{kind: kindElement, el: e})
			if !empty {
				stack = append(stack, e)
			}
		}
	}
	if len(stack) != 1 {
		return nil, false
	}
	return doc, true
}

const (
	xmlDecl           = `<?xml version="1.0" encoding="UTF-8"?>`
	xmlDeclNoEncoding = `<?xml version="1.0"?>`
)

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

func isWhitespace(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
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
func (s *scanner) startTag() (e *node, empty, ok bool) {
	tag, ok := s.name()
	if !ok {
		return nil, false, false
	}
	e = &node{tag: tag}
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
		val, ok := s.chars(quote)
		if !ok {
			return nil, false, false
		}
		s.i++ // the closing quote
		e.setAttr(key, val)
	}
}

// setAttr adds an attribute; one given twice keeps its first place and
// its last value, as etree does.
func (n *node) setAttr(key, val string) {
	for i := range n.attrs {
		if n.attrs[i].key == key {
			n.attrs[i].value = val
			return
		}
	}
	n.attrs = append(n.attrs, attr{key: key, value: val})
}

// chars reads the characters up to end (not consumed; end of input ends
// text only), replacing entities and character references. Control characters,
// carriage returns, invalid UTF-8, ']' and '<' are left to etree.
func (s *scanner) chars(end byte) (string, bool) {
	start := s.i
	var buf []byte // only when an entity is replaced
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == end:
			if buf == nil {
				return string(s.data[start:s.i]), true
			}
			return string(append(buf, s.data[start:s.i]...)), true
		case c == '&':
			buf = append(buf, s.data[start:s.i]...)
			r, n := entity(s.data[s.i:])
			if n == 0 {
				return "", false
			}
			buf = append(buf, r...)
			s.i += n
			start = s.i
			continue
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(s.data[s.i:])
			if r == utf8.RuneError && n == 1 || !xmlChar(r) {
				return "", false // invalid UTF-8 or a character XML forbids
			}
			s.i += n
			continue
		case c < ' ' && c != '\t' && c != '\n', c == ']', c == '<':
			return "", false
		}
		s.i++
	}
	if end != '<' {
		return "", false
	}
	return string(append(buf, s.data[start:s.i]...)), true
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

// xmlChar tells whether XML allows r in a document.
func xmlChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || 0x20 <= r && r <= 0xD7FF ||
		0xE000 <= r && r <= 0xFFFD || 0x10000 <= r && r <= utf8.MaxRune
}

// comment skips a comment after its '<'; "--" may only end it.
func (s *scanner) comment() bool {
	if !hasPrefix(s.data[s.i:], "!--") {
		return false
	}
	s.i += 3
	for j := s.i; j+1 < len(s.data); j++ {
		c := s.data[j]
		if c < ' ' && c != '\t' && c != '\n' || c >= utf8.RuneSelf {
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
