package phonexml

import "selfprov/internal/xmlwrite"

// Render validates obj and writes it as an XML document with escaped text
// and attribute values. Characters XML cannot carry become U+FFFD.
//
// It is written straight into one buffer, as etree writes the same tree
// (indented by one space, escaped canonically, so that CR, tab and LF in
// attributes survive a parser's normalisation; an empty element as
// <X></X>, since some firmware mis-reads <X/>): a boot storm renders
// three screens a phone, and building the tree cost several times the
// writing.
func Render(obj Object) ([]byte, error) {
	if err := obj.Validate(); err != nil {
		return nil, err
	}
	w := &xmlwrite.Writer{B: make([]byte, 0, 1<<10), EmptyPair: true}
	w.B = append(w.B, xmlwrite.Prolog...)
	obj.render(w)
	return append(w.B, '\n'), nil
}

func softKeys(w *xmlwrite.Writer, keys []SoftKeyItem) {
	for _, k := range keys {
		w.Open("SoftKeyItem")
		w.Text("Name", k.Name)
		w.Text("URL", k.URL)
		if k.URLDown != "" {
			w.Text("URLDown", k.URLDown)
		}
		w.Number("Position", k.Position)
		w.Close("SoftKeyItem")
	}
}

func (o *Input) render(w *xmlwrite.Writer) {
	w.Open(TagInput)
	w.Text("Title", o.Title)
	w.Text("Prompt", o.Prompt)
	w.Text("URL", o.URL)
	for _, it := range o.Items {
		w.Open("InputItem")
		w.Text("DisplayName", it.DisplayName)
		w.Text("QueryStringParam", it.QueryStringParam)
		w.Text("DefaultValue", it.DefaultValue)
		w.Text("InputFlags", it.InputFlags)
		w.Close("InputItem")
	}
	softKeys(w, o.SoftKeys)
	w.Close(TagInput)
}

func (o *Text) render(w *xmlwrite.Writer) {
	w.Open(TagText)
	w.Text("Title", o.Title)
	w.Text("Prompt", o.Prompt)
	w.Text("Text", o.Text)
	softKeys(w, o.SoftKeys)
	w.Close(TagText)
}

func (o *Menu) render(w *xmlwrite.Writer) {
	w.Open(TagMenu)
	w.Text("Title", o.Title)
	w.Text("Prompt", o.Prompt)
	for _, it := range o.Items {
		w.Open("MenuItem")
		w.Text("Name", it.Name)
		w.Text("URL", it.URL)
		w.Close("MenuItem")
	}
	softKeys(w, o.SoftKeys)
	w.Close(TagMenu)
}

func (o *Execute) render(w *xmlwrite.Writer) {
	w.Open(TagExecute)
	for _, it := range o.Items {
		w.Begin("ExecuteItem")
		w.AttrInt("Priority", it.Priority)
		w.Attr("URL", it.URL)
		w.EndEmpty("ExecuteItem")
	}
	w.Close(TagExecute)
}

func (o *Response) render(w *xmlwrite.Writer) {
	w.Open(TagResponse)
	for _, it := range o.Items {
		w.Begin("ResponseItem")
		w.AttrInt("Status", it.Status)
		w.Attr("Data", it.Data)
		w.Attr("URL", it.URL)
		w.EndEmpty("ResponseItem")
	}
	w.Close(TagResponse)
}

func (o *Error) render(w *xmlwrite.Writer) {
	w.Begin(TagError)
	w.AttrInt("Number", o.Number)
	w.EndEmpty(TagError)
}
