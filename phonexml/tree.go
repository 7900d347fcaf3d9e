package phonexml

import (
	"bytes"

	"github.com/beevik/etree"

	"selfprov/internal/xmlscan"
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
	s := xmlscan.Scanner{Data: data, Names: &names}
	// The elements come from one slab, bounded as in phonecfg: each
	// closes with "</" or "/>"; a document that needs more takes more.
	elements := bytes.Count(data, endTag) + bytes.Count(data, emptyEnd)
	slab := make([]node, 1, 1+elements)
	doc = &slab[0]
	// An open element's children gather on one stack (pending, from
	// starts[i] for stack[i]) and move to an exactly sized slice of kids
	// when it closes: growing a slice per element was most of a screen's
	// allocations.
	pending := make([]child, 0, 32)
	starts := make([]int, 1, 8)
	kids := make([]child, 0, 2*elements+4) // elements and the text between them
	closeNode := func(n *node, start int) {
		k := pending[start:]
		if len(k) > 0 {
			if cap(kids)-len(kids) < len(k) {
				kids = make([]child, 0, max(32, len(k)))
			}
			kids = append(kids, k...)
			n.kids = kids[len(kids)-len(k) : len(kids) : len(kids)]
		}
		pending = pending[:start]
	}
	if xmlscan.HasPrefix(data, xmlDecl) {
		s.I = len(xmlDecl)
		pending = append(pending, child{kind: kindOther})
	} else if xmlscan.HasPrefix(data, xmlDeclNoEncoding) {
		s.I = len(xmlDeclNoEncoding)
		pending = append(pending, child{kind: kindOther})
	}
	stack := []*node{doc}
	for s.I < len(s.Data) {
		top := stack[len(stack)-1]
		if s.Data[s.I] != '<' {
			t, ok := s.Chars('<')
			if !ok {
				return nil, false
			}
			pending = append(pending, child{kind: kindText, text: t, whitespace: isWhitespace(t)})
			continue
		}
		s.I++
		if s.I >= len(s.Data) {
			return nil, false
		}
		switch s.Data[s.I] {
		case '/':
			s.I++
			name, ok := s.NameBytes()
			if !ok || len(stack) == 1 || string(name) != top.tag {
				return nil, false
			}
			s.Spaces()
			if !s.Eat('>') {
				return nil, false
			}
			closeNode(top, starts[len(starts)-1])
			stack, starts = stack[:len(stack)-1], starts[:len(starts)-1]
		case '!':
			if !s.Comment() {
				return nil, false
			}
			pending = append(pending, child{kind: kindOther})
		case '?':
			return nil, false
		default:
			if len(stack) > maxDepth {
				return nil, false
			}
			if len(slab) == cap(slab) {
				slab = make([]node, 0, 16)
			}
			slab = slab[:len(slab)+1]
			e := &slab[len(slab)-1]
			tag, empty, ok := s.StartTag(e.setAttr)
			if !ok {
				return nil, false
			}
			e.tag = tag
			pending = append(pending, child{kind: kindElement, el: e})
			if !empty {
				stack, starts = append(stack, e), append(starts, len(pending))
			}
		}
	}
	if len(stack) != 1 {
		return nil, false
	}
	closeNode(doc, 0)
	return doc, true
}

// names interns the names screens use.
var names xmlscan.Names

var (
	endTag   = []byte("</")
	emptyEnd = []byte("/>")
)

const (
	xmlDecl           = `<?xml version="1.0" encoding="UTF-8"?>`
	xmlDeclNoEncoding = `<?xml version="1.0"?>`
)

func isWhitespace(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
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
