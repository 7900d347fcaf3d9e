package phonecfg

import (
	"bytes"
	"encoding/xml"

	"selfprov/internal/xmlscan"
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
	s := xmlscan.Scanner{Data: data, Names: &names}
	// The elements come from one slab: each element closes with "</" or
	// "/>", so their count is a bound that text rarely inflates; a
	// document that still needs more takes further slabs.
	slab := make([]element, 0, bytes.Count(data, endTag)+bytes.Count(data, emptyEnd))
	if xmlscan.HasPrefix(data, xmlDecl) {
		s.I = len(xmlDecl)
	} else if xmlscan.HasPrefix(data, xmlDeclNoEncoding) {
		s.I = len(xmlDeclNoEncoding)
	}
	doc := &element{}
	stack := []*element{doc}
	for s.I < len(s.Data) {
		top := stack[len(stack)-1]
		if s.Data[s.I] != '<' {
			if !scanText(&s, top) {
				return nil, false
			}
			continue
		}
		s.I++
		if s.I >= len(s.Data) {
			return nil, false
		}
		switch c := s.Data[s.I]; {
		case c == '/':
			s.I++
			name, ok := s.NameBytes()
			if !ok || len(stack) == 1 || string(name) != top.tag {
				return nil, false
			}
			s.Spaces()
			if !s.Eat('>') {
				return nil, false
			}
			stack = stack[:len(stack)-1]
		case c == '!':
			if !s.Comment() {
				return nil, false
			}
		case c == '?':
			return nil, false
		default:
			if len(stack) > maxDepth {
				return nil, false
			}
			if len(slab) == cap(slab) {
				slab = make([]element, 0, 16)
			}
			slab = slab[:len(slab)+1]
			e := &slab[len(slab)-1]
			tag, empty, ok := s.StartTag(func(key, val string) { e.attrs = setAttr(e.attrs, key, val) })
			if !ok {
				return nil, false
			}
			e.tag = tag
			top.done = true
			top.add(e)
			if !empty {
				stack = append(stack, e)
			}
		}
	}
	if len(stack) != 1 || doc.first == nil {
		return nil, false
	}
	return doc.first, true
}

// names interns the names configs use.
var names xmlscan.Names

var (
	endTag   = []byte("</")
	emptyEnd = []byte("/>")
)

const (
	xmlDecl           = `<?xml version="1.0" encoding="UTF-8"?>`
	xmlDeclNoEncoding = `<?xml version="1.0"?>`
)

// scanText reads character data up to the next '<' into e when e's text is
// still open.
func scanText(s *xmlscan.Scanner, e *element) bool {
	if e.done {
		_, ok := s.Text('<', nil)
		return ok
	}
	// Plain text stays a slice of the document (its capacity ends
	// there, so text after a comment is appended to a copy).
	t, ok := s.Text('<', e.text)
	e.text = t
	return ok
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
