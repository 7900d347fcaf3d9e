package phonexml

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"

	"github.com/beevik/etree"
)

// renderTree is Render as it was written with etree: the reference the
// direct writer must match byte for byte.
func renderTree(obj Object) ([]byte, error) {
	if err := obj.Validate(); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.WriteSettings.CanonicalEndTags = true // some firmware mis-reads <X/>
	// Canonical escaping writes CR, TAB and LF in attributes as references,
	// so values survive a parser's line-end and attribute normalisation.
	doc.WriteSettings.CanonicalText = true
	doc.WriteSettings.CanonicalAttrVal = true
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(element(obj))
	doc.Indent(1)
	var b bytes.Buffer
	b.Grow(1 << 10)
	for _, t := range doc.Child {
		t.WriteTo(&b, &doc.WriteSettings)
	}
	return b.Bytes(), nil
}

func element(obj Object) *etree.Element {
	switch o := obj.(type) {
	case *Input:
		return elementOfInput(o)
	case *Text:
		return elementOfText(o)
	case *Menu:
		return elementOfMenu(o)
	case *Execute:
		return elementOfExecute(o)
	case *Response:
		return elementOfResponse(o)
	case *Error:
		return elementOfError(o)
	}
	panic(fmt.Sprintf("phonexml: no tree for %T", obj))
}

func treeLeaf(parent *etree.Element, tag, text string) {
	parent.CreateElement(tag).SetText(text)
}

func treeSoftKeys(parent *etree.Element, keys []SoftKeyItem) {
	for _, k := range keys {
		e := parent.CreateElement("SoftKeyItem")
		treeLeaf(e, "Name", k.Name)
		treeLeaf(e, "URL", k.URL)
		if k.URLDown != "" {
			treeLeaf(e, "URLDown", k.URLDown)
		}
		treeLeaf(e, "Position", strconv.Itoa(k.Position))
	}
}

func elementOfInput(o *Input) *etree.Element {
	root := etree.NewElement(TagInput)
	treeLeaf(root, "Title", o.Title)
	treeLeaf(root, "Prompt", o.Prompt)
	treeLeaf(root, "URL", o.URL)
	for _, it := range o.Items {
		e := root.CreateElement("InputItem")
		treeLeaf(e, "DisplayName", it.DisplayName)
		treeLeaf(e, "QueryStringParam", it.QueryStringParam)
		treeLeaf(e, "DefaultValue", it.DefaultValue)
		treeLeaf(e, "InputFlags", it.InputFlags)
	}
	treeSoftKeys(root, o.SoftKeys)
	return root
}

func elementOfText(o *Text) *etree.Element {
	root := etree.NewElement(TagText)
	treeLeaf(root, "Title", o.Title)
	treeLeaf(root, "Prompt", o.Prompt)
	treeLeaf(root, "Text", o.Text)
	treeSoftKeys(root, o.SoftKeys)
	return root
}

func elementOfMenu(o *Menu) *etree.Element {
	root := etree.NewElement(TagMenu)
	treeLeaf(root, "Title", o.Title)
	treeLeaf(root, "Prompt", o.Prompt)
	for _, it := range o.Items {
		e := root.CreateElement("MenuItem")
		treeLeaf(e, "Name", it.Name)
		treeLeaf(e, "URL", it.URL)
	}
	treeSoftKeys(root, o.SoftKeys)
	return root
}

func elementOfExecute(o *Execute) *etree.Element {
	root := etree.NewElement(TagExecute)
	for _, it := range o.Items {
		e := root.CreateElement("ExecuteItem")
		e.CreateAttr("Priority", strconv.Itoa(it.Priority))
		e.CreateAttr("URL", it.URL)
	}
	return root
}

func elementOfResponse(o *Response) *etree.Element {
	root := etree.NewElement(TagResponse)
	for _, it := range o.Items {
		e := root.CreateElement("ResponseItem")
		e.CreateAttr("Status", strconv.Itoa(it.Status))
		e.CreateAttr("Data", it.Data)
		e.CreateAttr("URL", it.URL)
	}
	return root
}

func elementOfError(o *Error) *etree.Element {
	root := etree.NewElement(TagError)
	root.CreateAttr("Number", strconv.Itoa(o.Number))
	return root
}

// TestRenderAsTree: every sample screen, and each with no optional parts,
// is written as etree wrote it.
func TestRenderAsTree(t *testing.T) {
	objs := []Object{&Execute{}, &Response{}, &Menu{Title: "t"}, &Text{}, &Input{Title: "t", URL: "http://h/"}}
	for _, o := range samples {
		objs = append(objs, o)
	}
	for _, o := range objs {
		assertRendersAsTree(t, o)
	}
}

func assertRendersAsTree(t *testing.T, o Object) {
	t.Helper()
	got, gerr := Render(o)
	want, werr := renderTree(o)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("%T: error %v, etree's %v", o, gerr, werr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%T:\n got %q\nwant %q", o, got, want)
	}
}

// FuzzRenderAsTree: any text in any screen is written as etree wrote it.
func FuzzRenderAsTree(f *testing.F) {
	f.Add("Self Provisioning", `O'Brien & <Sons> "Ltd"`, "http://h/x?a=1&b=2", 1, uint8(0))
	f.Add("\t\n\r", "\x00\xff\uFFFE", " ", -5, uint8(4))
	f.Fuzz(func(t *testing.T, a, b, c string, n int, kind uint8) {
		keys := []SoftKeyItem{{Name: a, URL: c, URLDown: b, Position: n}, {Name: b, URL: a, Position: 2}}
		var o Object
		switch kind % 6 {
		case 0:
			o = &Input{Title: a, Prompt: b, URL: c, Items: []InputItem{{DisplayName: a, QueryStringParam: b, DefaultValue: c, InputFlags: "A"}}, SoftKeys: keys}
		case 1:
			o = &Text{Title: a, Prompt: b, Text: c, SoftKeys: keys}
		case 2:
			o = &Menu{Title: a, Prompt: b, Items: []MenuItem{{Name: c, URL: a}}, SoftKeys: keys}
		case 3:
			o = &Execute{Items: []ExecuteItem{{URL: a, Priority: n}, {URL: b}}}
		case 4:
			o = &Response{Items: []ResponseItem{{Status: n, Data: a, URL: b}, {Data: c}}}
		default:
			o = &Error{Number: n}
		}
		assertRendersAsTree(t, o)
	})
}
