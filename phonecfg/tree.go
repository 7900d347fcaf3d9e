package phonecfg

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"selfprov/internal/clip"
)

// element is what Parse needs of an XML element: its local name, its
// attributes, the text before its first child element, and its child
// elements. A simulated phone parses every config it fetches, three per
// boot storm phone; building this lean tree straight on encoding/xml's
// tokenizer allocates about half of what a full etree document does,
// which the tokenizer then dominates. Rendering stays on etree.
type element struct {
	space string // the prefix, which an end tag must repeat
	tag   string
	attrs []xml.Attr
	text  []byte
	done  bool // text is complete: a child element (or other markup) came
	// The child elements, as a list: a config has a hundred elements
	// and a slice of children for each was a third of its allocations.
	first, last, next *element
}

// add appends a child element.
func (e *element) add(kid *element) {
	if e.last == nil {
		e.first = kid
	} else {
		e.last.next = kid
	}
	e.last = kid
}

// parseTree reads the document's elements; the first top-level element
// is the root. It checks what etree's reader checks: well-formed XML,
// matching end tags, at most maxDepth nested elements. Any declared
// encoding is read as UTF-8, as etree does.
func parseTree(data []byte, maxDepth int) (*element, error) {
	if root, ok := scanTree(data, maxDepth); ok {
		return root, nil
	}
	return decodeTree(data, maxDepth)
}

// decodeTree is parseTree on encoding/xml's tokenizer, for every document.
func decodeTree(data []byte, maxDepth int) (*element, error) {
	dec := xml.NewDecoder(bytes.NewReader(data)) // a ByteReader: no buffer of its own
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	doc := &element{}
	stack := []*element{doc}
	for {
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			if len(stack) != 1 {
				return nil, errors.New("unexpected end of document")
			}
			break
		}
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) > maxDepth {
				return nil, fmt.Errorf("elements nested deeper than %d", maxDepth)
			}
			e := &element{space: t.Name.Space, tag: t.Name.Local, attrs: dedupAttrs(t.Attr)}
			top.done = true
			top.add(e)
			stack = append(stack, e)
		case xml.EndElement:
			if len(stack) == 1 || t.Name.Local != top.tag || t.Name.Space != top.space {
				return nil, fmt.Errorf("end tag </%s> does not match <%s>", clip.String(t.Name.Local, 40), clip.String(top.tag, 40))
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if !top.done {
				top.text = append(top.text, t...)
			}
		case xml.Comment:
			// skipped, as etree's Text skips comments
		default: // directives and processing instructions end the text
			top.done = true
		}
	}
	return doc.first, nil
}

// dedupAttrs keeps the last value of an attribute given twice, as etree
// does.
func dedupAttrs(attrs []xml.Attr) []xml.Attr {
	if len(attrs) < 2 {
		return attrs
	}
	at := make(map[xml.Name]int, len(attrs))
	out := attrs[:0]
	for _, a := range attrs {
		if i, ok := at[a.Name]; ok {
			out[i].Value = a.Value
			continue
		}
		at[a.Name] = len(out)
		out = append(out, a)
	}
	return out
}

// SelectElement is the first child element named tag, or nil.
func (e *element) SelectElement(tag string) *element {
	for k := e.first; k != nil; k = k.next {
		if k.tag == tag {
			return k
		}
	}
	return nil
}

// SelectElements is every child element named tag.
func (e *element) SelectElements(tag string) []*element {
	var out []*element
	for k := e.first; k != nil; k = k.next {
		if k.tag == tag {
			out = append(out, k)
		}
	}
	return out
}

// ChildElements is every child element.
func (e *element) ChildElements() []*element {
	var out []*element
	for k := e.first; k != nil; k = k.next {
		out = append(out, k)
	}
	return out
}

// SelectAttrValue is the attribute's value, or dflt.
func (e *element) SelectAttrValue(key, dflt string) string {
	for _, a := range e.attrs {
		if a.Name.Local == key {
			return a.Value
		}
	}
	return dflt
}

// Text is the character data before the first child element.
func (e *element) Text() string { return string(e.text) }
