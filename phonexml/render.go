package phonexml

import (
	"bytes"
	"strconv"

	"github.com/beevik/etree"
)

// Render validates obj and writes it as an XML document with escaped text
// and attribute values. Characters XML cannot carry become U+FFFD.
func Render(obj Object) ([]byte, error) {
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
	doc.SetRoot(obj.element())
	doc.Indent(1)
	// Each token into one buffer, as WriteToBytes does, less the 4 KB
	// bufio.Writer it makes on every call (a tenth of what a boot storm
	// allocated, three screens a phone).
	var b bytes.Buffer
	b.Grow(1 << 10)
	for _, t := range doc.Child {
		t.WriteTo(&b, &doc.WriteSettings)
	}
	return b.Bytes(), nil
}

func leaf(parent *etree.Element, tag, text string) {
	parent.CreateElement(tag).SetText(text)
}

func softKeys(parent *etree.Element, keys []SoftKeyItem) {
	for _, k := range keys {
		e := parent.CreateElement("SoftKeyItem")
		leaf(e, "Name", k.Name)
		leaf(e, "URL", k.URL)
		if k.URLDown != "" {
			leaf(e, "URLDown", k.URLDown)
		}
		leaf(e, "Position", strconv.Itoa(k.Position))
	}
}

func (o *Input) element() *etree.Element {
	root := etree.NewElement(TagInput)
	leaf(root, "Title", o.Title)
	leaf(root, "Prompt", o.Prompt)
	leaf(root, "URL", o.URL)
	for _, it := range o.Items {
		e := root.CreateElement("InputItem")
		leaf(e, "DisplayName", it.DisplayName)
		leaf(e, "QueryStringParam", it.QueryStringParam)
		leaf(e, "DefaultValue", it.DefaultValue)
		leaf(e, "InputFlags", it.InputFlags)
	}
	softKeys(root, o.SoftKeys)
	return root
}

func (o *Text) element() *etree.Element {
	root := etree.NewElement(TagText)
	leaf(root, "Title", o.Title)
	leaf(root, "Prompt", o.Prompt)
	leaf(root, "Text", o.Text)
	softKeys(root, o.SoftKeys)
	return root
}

func (o *Menu) element() *etree.Element {
	root := etree.NewElement(TagMenu)
	leaf(root, "Title", o.Title)
	leaf(root, "Prompt", o.Prompt)
	for _, it := range o.Items {
		e := root.CreateElement("MenuItem")
		leaf(e, "Name", it.Name)
		leaf(e, "URL", it.URL)
	}
	softKeys(root, o.SoftKeys)
	return root
}

func (o *Execute) element() *etree.Element {
	root := etree.NewElement(TagExecute)
	for _, it := range o.Items {
		e := root.CreateElement("ExecuteItem")
		e.CreateAttr("Priority", strconv.Itoa(it.Priority))
		e.CreateAttr("URL", it.URL)
	}
	return root
}

func (o *Response) element() *etree.Element {
	root := etree.NewElement(TagResponse)
	for _, it := range o.Items {
		e := root.CreateElement("ResponseItem")
		e.CreateAttr("Status", strconv.Itoa(it.Status))
		e.CreateAttr("Data", it.Data)
		e.CreateAttr("URL", it.URL)
	}
	return root
}

func (o *Error) element() *etree.Element {
	root := etree.NewElement(TagError)
	root.CreateAttr("Number", strconv.Itoa(o.Number))
	return root
}
