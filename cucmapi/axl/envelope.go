package axl

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Node is one element of a decoded request: AXL's request elements are
// plain nested elements with text, read by local name.
type Node struct {
	Space, Name string
	Attr        []xml.Attr
	Text        string
	Kids        []*Node
}

// Child returns the first child element named name, nil if none.
func (n *Node) Child(name string) *Node {
	if n == nil {
		return nil
	}
	for _, k := range n.Kids {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// Value returns the trimmed text at the path of child names, "" if absent.
func (n *Node) Value(path ...string) string {
	for _, p := range path {
		n = n.Child(p)
	}
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.Text)
}

// Has reports whether the path of child names exists.
func (n *Node) Has(path ...string) bool {
	for _, p := range path {
		n = n.Child(p)
	}
	return n != nil
}

// Limits bound what decoding a request may cost.
type Limits struct {
	MaxBytes    int64 // envelope size
	MaxDepth    int   // element nesting
	MaxElements int   // elements in all
}

// DefaultLimits suit AXL requests, the largest being an addPhone with its
// lines: far below a megabyte, a dozen levels deep.
var DefaultLimits = Limits{MaxBytes: 1 << 20, MaxDepth: 32, MaxElements: 20000}

// SOAPNS is the SOAP 1.1 envelope namespace.
const SOAPNS = "http://schemas.xmlsoap.org/soap/envelope/"

// Errors of decoding; the handler answers each with a Client fault.
var (
	ErrTooLarge    = errors.New("axl: envelope is larger than allowed")
	ErrTooDeep     = errors.New("axl: elements are nested deeper than allowed")
	ErrTooMany     = errors.New("axl: envelope has more elements than allowed")
	ErrDTD         = errors.New("axl: a document type declaration (DTD) is not allowed")
	ErrNotEnvelope = errors.New("axl: the document is not a SOAP 1.1 envelope")
	ErrNoBody      = errors.New("axl: the envelope has no Body with one request element")
)

// DecodeEnvelope reads a SOAP 1.1 envelope within l and returns the one
// element of its Body. Entities other than XML's five are refused (no
// expansion), as are DTDs, over-deep nesting and oversized input.
func DecodeEnvelope(r io.Reader, l Limits) (*Node, error) {
	lr := &io.LimitedReader{R: r, N: l.MaxBytes + 1}
	d := xml.NewDecoder(lr)
	d.Strict = true
	d.Entity = nil
	d.CharsetReader = nil // only UTF-8 (and its ASCII subset)
	var stack []*Node
	var root *Node
	elements := 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if lr.N <= 0 {
			return nil, ErrTooLarge
		}
		if err != nil {
			return nil, fmt.Errorf("axl: malformed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, ErrDTD
		case xml.ProcInst:
			if t.Target != "xml" || len(stack) > 0 || root != nil {
				return nil, fmt.Errorf("axl: malformed XML: processing instruction <?%s?> is not allowed", t.Target)
			}
			if enc := procInstEncoding(t.Inst); enc != "" && !strings.EqualFold(enc, "utf-8") && !strings.EqualFold(enc, "us-ascii") {
				return nil, fmt.Errorf("axl: malformed XML: encoding %q is not supported; send UTF-8", enc)
			}
		case xml.StartElement:
			elements++
			if elements > l.MaxElements {
				return nil, ErrTooMany
			}
			if len(stack) >= l.MaxDepth {
				return nil, ErrTooDeep
			}
			if root != nil && len(stack) == 0 {
				return nil, errors.New("axl: malformed XML: more than one root element")
			}
			if !nameStart(t.Name.Local) || (t.Name.Space != "" && !nameStart(t.Name.Space)) {
				return nil, fmt.Errorf("axl: malformed XML: invalid element name %q", t.Name.Local)
			}
			n := &Node{Name: t.Name.Local, Space: t.Name.Space, Attr: t.Attr}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Kids = append(p.Kids, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, errors.New("axl: malformed XML: unexpected end element")
			}
			// RawToken leaves matching start and end to the caller.
			if top := stack[len(stack)-1]; top.Name != t.Name.Local || top.Space != t.Name.Space {
				return nil, fmt.Errorf("axl: malformed XML: </%s> closes <%s>", t.Name.Local, top.Name)
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				n := stack[len(stack)-1]
				if len(n.Kids) == 0 {
					n.Text += string(t)
				}
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("axl: malformed XML: text outside the root element")
			}
		}
	}
	if len(stack) > 0 || root == nil {
		return nil, errors.New("axl: malformed XML: the document ends early")
	}
	resolveNames(root, nil)
	if root.Name != "Envelope" || root.Space != SOAPNS {
		return nil, ErrNotEnvelope
	}
	var body *Node
	for _, k := range root.Kids {
		if k.Space != SOAPNS {
			return nil, ErrNotEnvelope
		}
		if k.Name == "Body" {
			body = k
		}
	}
	if body == nil || len(body.Kids) != 1 {
		return nil, ErrNoBody
	}
	return body.Kids[0], nil
}

// resolveNames turns prefixes into namespace URIs (RawToken leaves them as
// written), inheriting the declarations of the ancestors.
func resolveNames(n *Node, scope map[string]string) {
	local, copied := scope, false
	for _, a := range n.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			if !copied {
				local, copied = make(map[string]string, len(scope)+1), true
				for k, v := range scope {
					local[k] = v
				}
			}
			if a.Name.Space == "xmlns" {
				local[a.Name.Local] = a.Value
			} else {
				local[""] = a.Value
			}
		}
	}
	n.Space = local[n.Space]
	for _, k := range n.Kids {
		resolveNames(k, local)
	}
}

// nameStart reports whether s starts as an XML name must; the decoder
// lets a local name after a prefix start with anything.
func nameStart(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r == '_' || unicode.IsLetter(r)
}

func procInstEncoding(inst []byte) string {
	s := string(inst)
	i := strings.Index(s, "encoding=")
	if i < 0 || i+len("encoding=")+1 >= len(s) {
		return ""
	}
	s = s[i+len("encoding="):]
	q := s[0]
	if q != '"' && q != '\'' {
		return ""
	}
	s = s[1:]
	if j := strings.IndexByte(s, q); j >= 0 {
		return s[:j]
	}
	return ""
}
