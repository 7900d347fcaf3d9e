package phonexml

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// Parse decodes one IP Phone XML object. The result is one of *Input,
// *Text, *Menu, *Execute, *Response or *Error and passes Validate. Unknown
// elements, repeated single elements, stray text, DOCTYPEs and documents
// over MaxObjectSize are refused with an error naming the part.
func Parse(b []byte) (Object, error) {
	if len(b) > MaxObjectSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), MaxObjectSize)
	}
	doc, ok := scanTree(b, maxDepth)
	if !ok {
		d := etree.NewDocument()
		d.ReadSettings.MaxDepth = maxDepth
		if err := d.ReadFromBytes(b); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		doc = fromEtree(&d.Element)
	}
	var root *node
	for _, t := range doc.kids {
		switch t.kind {
		case kindElement:
			if root != nil {
				return nil, fmt.Errorf("%w: more than one root element", ErrMalformed)
			}
			root = t.el
		case kindText:
			if !t.whitespace {
				return nil, fmt.Errorf("%w: text outside the root element", ErrMalformed)
			}
		case kindDirective:
			return nil, fmt.Errorf("%w: DOCTYPE and other directives are not accepted", ErrMalformed)
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: no root element", ErrMalformed)
	}
	if root.space != "" {
		return nil, fmt.Errorf("%w: <%s>", ErrUnknown, root.fullTag())
	}
	var (
		obj Object
		err error
	)
	switch root.tag {
	case TagInput:
		obj, err = parseInput(root)
	case TagText:
		obj, err = parseText(root)
	case TagMenu:
		obj, err = parseMenu(root)
	case TagExecute:
		obj, err = parseExecute(root)
	case TagResponse:
		obj, err = parseResponse(root)
	case TagError:
		obj, err = parseError(root)
	default:
		return nil, fmt.Errorf("%w: <%s>", ErrUnknown, root.tag)
	}
	if err != nil {
		return nil, err
	}
	if err := obj.Validate(); err != nil {
		return nil, err
	}
	return obj, nil
}

// children walks the element children of e, refusing stray text and
// namespaced elements; comments and processing instructions are skipped.
func children(obj string, e *node, fn func(c *node) error) error {
	for _, t := range e.kids {
		switch t.kind {
		case kindElement:
			if t.el.space != "" {
				return invalid(obj, "unexpected element <%s> in <%s>", t.el.fullTag(), e.tag)
			}
			if err := fn(t.el); err != nil {
				return err
			}
		case kindText:
			if !t.whitespace {
				return invalid(obj, "unexpected text in <%s>", e.tag)
			}
		}
	}
	return nil
}

// leafText is the character data of an element that must hold text only.
func leafText(obj string, e *node) (string, error) {
	if len(e.kids) == 1 && e.kids[0].kind == kindText {
		return e.kids[0].text, nil // the usual leaf: no copy
	}
	var b strings.Builder
	for _, t := range e.kids {
		switch t.kind {
		case kindElement:
			return "", invalid(obj, "<%s> holds element <%s>, want text only", e.tag, t.el.tag)
		case kindText:
			b.WriteString(t.text)
		}
	}
	return b.String(), nil
}

// singles reads the text of leaf elements that may appear at most once.
type singles struct {
	obj  string
	seen []string // a handful of names at most: a slice beats a map
}

func (s *singles) take(e *node, dst *string) error {
	if slices.Contains(s.seen, e.tag) {
		return invalid(s.obj, "<%s> appears more than once", e.tag)
	}
	s.seen = append(s.seen, e.tag)
	v, err := leafText(s.obj, e)
	*dst = v
	return err
}

func atoi(obj, what, s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, invalid(obj, "%s %q is not an integer", what, s)
	}
	return n, nil
}

func parseSoftKey(obj string, e *node) (SoftKeyItem, error) {
	var k SoftKeyItem
	var pos string
	s := singles{obj: obj}
	err := children(obj, e, func(c *node) error {
		switch c.tag {
		case "Name":
			return s.take(c, &k.Name)
		case "URL":
			return s.take(c, &k.URL)
		case "URLDown":
			return s.take(c, &k.URLDown)
		case "Position":
			return s.take(c, &pos)
		}
		return invalid(obj, "unexpected element <%s> in <SoftKeyItem>", c.tag)
	})
	if err != nil {
		return k, err
	}
	if !slices.Contains(s.seen, "Position") {
		return k, invalid(obj, "SoftKeyItem %q has no Position", k.Name)
	}
	k.Position, err = atoi(obj, "SoftKeyItem Position", pos)
	return k, err
}

func parseInput(root *node) (*Input, error) {
	o := &Input{}
	s := singles{obj: TagInput}
	err := children(TagInput, root, func(c *node) error {
		switch c.tag {
		case "Title":
			return s.take(c, &o.Title)
		case "Prompt":
			return s.take(c, &o.Prompt)
		case "URL":
			return s.take(c, &o.URL)
		case "InputItem":
			if len(o.Items) == MaxInputItems {
				return invalid(TagInput, "more than %d InputItems", MaxInputItems)
			}
			var it InputItem
			is := singles{obj: TagInput}
			err := children(TagInput, c, func(f *node) error {
				switch f.tag {
				case "DisplayName":
					return is.take(f, &it.DisplayName)
				case "QueryStringParam":
					return is.take(f, &it.QueryStringParam)
				case "DefaultValue":
					return is.take(f, &it.DefaultValue)
				case "InputFlags":
					return is.take(f, &it.InputFlags)
				}
				return invalid(TagInput, "unexpected element <%s> in <InputItem>", f.tag)
			})
			o.Items = append(o.Items, it)
			return err
		case "SoftKeyItem":
			return appendSoftKey(TagInput, c, &o.SoftKeys)
		}
		return invalid(TagInput, "unexpected element <%s>", c.tag)
	})
	return o, err
}

func appendSoftKey(obj string, e *node, dst *[]SoftKeyItem) error {
	if len(*dst) == MaxSoftKeys {
		return invalid(obj, "more than %d SoftKeyItems", MaxSoftKeys)
	}
	k, err := parseSoftKey(obj, e)
	*dst = append(*dst, k)
	return err
}

func parseText(root *node) (*Text, error) {
	o := &Text{}
	s := singles{obj: TagText}
	err := children(TagText, root, func(c *node) error {
		switch c.tag {
		case "Title":
			return s.take(c, &o.Title)
		case "Prompt":
			return s.take(c, &o.Prompt)
		case "Text":
			return s.take(c, &o.Text)
		case "SoftKeyItem":
			return appendSoftKey(TagText, c, &o.SoftKeys)
		}
		return invalid(TagText, "unexpected element <%s>", c.tag)
	})
	return o, err
}

func parseMenu(root *node) (*Menu, error) {
	o := &Menu{}
	s := singles{obj: TagMenu}
	err := children(TagMenu, root, func(c *node) error {
		switch c.tag {
		case "Title":
			return s.take(c, &o.Title)
		case "Prompt":
			return s.take(c, &o.Prompt)
		case "MenuItem":
			if len(o.Items) == MaxMenuItems {
				return invalid(TagMenu, "more than %d MenuItems", MaxMenuItems)
			}
			var it MenuItem
			is := singles{obj: TagMenu}
			err := children(TagMenu, c, func(f *node) error {
				switch f.tag {
				case "Name":
					return is.take(f, &it.Name)
				case "URL":
					return is.take(f, &it.URL)
				}
				return invalid(TagMenu, "unexpected element <%s> in <MenuItem>", f.tag)
			})
			o.Items = append(o.Items, it)
			return err
		case "SoftKeyItem":
			return appendSoftKey(TagMenu, c, &o.SoftKeys)
		}
		return invalid(TagMenu, "unexpected element <%s>", c.tag)
	})
	return o, err
}

// attrItems reads the attribute-only items of Execute and Response.
func attrItems(obj, item string, root *node, fn func(c *node) error) error {
	n := 0
	return children(obj, root, func(c *node) error {
		if c.tag != item {
			return invalid(obj, "unexpected element <%s>", c.tag)
		}
		if n++; n > MaxExecuteItems {
			return invalid(obj, "more than %d %ss", MaxExecuteItems, item)
		}
		if c.hasElements() {
			return invalid(obj, "<%s> holds elements, want attributes only", item)
		}
		return fn(c)
	})
}

func parseExecute(root *node) (*Execute, error) {
	o := &Execute{}
	err := attrItems(TagExecute, "ExecuteItem", root, func(c *node) error {
		it := ExecuteItem{URL: c.selectAttrValue("URL", "")}
		if v, ok := c.selectAttr("Priority"); ok {
			p, err := atoi(TagExecute, "ExecuteItem Priority", v)
			if err != nil {
				return err
			}
			it.Priority = p
		}
		o.Items = append(o.Items, it)
		return nil
	})
	return o, err
}

func parseResponse(root *node) (*Response, error) {
	o := &Response{}
	err := attrItems(TagResponse, "ResponseItem", root, func(c *node) error {
		v, ok := c.selectAttr("Status")
		if !ok {
			return invalid(TagResponse, "ResponseItem has no Status")
		}
		st, err := atoi(TagResponse, "ResponseItem Status", v)
		if err != nil {
			return err
		}
		o.Items = append(o.Items, ResponseItem{
			Status: st,
			Data:   c.selectAttrValue("Data", ""),
			URL:    c.selectAttrValue("URL", ""),
		})
		return nil
	})
	return o, err
}

func parseError(root *node) (*Error, error) {
	if root.hasElements() {
		return nil, invalid(TagError, "holds elements, want the Number attribute only")
	}
	v, ok := root.selectAttr("Number")
	if !ok {
		return nil, invalid(TagError, "no Number attribute")
	}
	n, err := atoi(TagError, "Number", v)
	if err != nil {
		return nil, err
	}
	return &Error{Number: n}, nil
}
