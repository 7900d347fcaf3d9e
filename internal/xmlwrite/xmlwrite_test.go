package xmlwrite

import (
	"bytes"
	"testing"

	"github.com/beevik/etree"
)

// etreeDoc writes doc as the phone configs and screens were written with
// etree: canonical escaping, one space of indent.
func etreeDoc(doc *etree.Document, emptyPair bool) string {
	doc.WriteSettings.CanonicalText = true
	doc.WriteSettings.CanonicalAttrVal = true
	doc.WriteSettings.CanonicalEndTags = emptyPair
	doc.IndentWithSettings(&etree.IndentSettings{Spaces: 1, PreserveLeafWhitespace: true})
	var b bytes.Buffer
	for _, t := range doc.Child {
		t.WriteTo(&b, &doc.WriteSettings)
	}
	return b.String()
}

// shapes writes the same document with the Writer and with etree: nested
// elements, text (empty, whitespace, values to escape), numbers and
// attributes, empty elements at several depths.
func shapes(text, attr string, emptyPair bool) (got, want string) {
	w := Writer{EmptyPair: emptyPair}
	w.B = append(w.B, Prolog...)
	w.Open("root")
	w.Text("a", text)
	w.Text("empty", "")
	w.Number("n", -42)
	w.Begin("item")
	w.Attr("k", attr)
	w.AttrInt("i", 7)
	w.EndOpen()
	w.Text("b", attr)
	w.Open("deeper")
	w.Begin("leaf")
	w.Attr("v", text)
	w.EndEmpty("leaf")
	w.Close("deeper")
	w.Open("nothing")
	w.Close("nothing")
	w.Close("item")
	w.Begin("attrs")
	w.AttrInt("only", 1)
	w.EndOpen()
	w.Close("attrs")
	w.Close("root")
	w.B = append(w.B, '\n')

	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("root")
	root.CreateElement("a").SetText(text)
	root.CreateElement("empty")
	root.CreateElement("n").SetText("-42")
	item := root.CreateElement("item")
	item.CreateAttr("k", attr)
	item.CreateAttr("i", "7")
	item.CreateElement("b").SetText(attr)
	item.CreateElement("deeper").CreateElement("leaf").CreateAttr("v", text)
	item.CreateElement("nothing")
	root.CreateElement("attrs").CreateAttr("only", "1")
	return string(w.B), etreeDoc(doc, emptyPair)
}

func TestWriterMatchesEtree(t *testing.T) {
	for _, c := range []struct{ text, attr string }{
		{"plain", "plain"},
		{"a & b <c> \"q\" 'a'", "a & b <c> \"q\" 'a'"},
		{"tab\tlf\ncr\r", "tab\tlf\ncr\r"},
		{" ", "  "},
		{"nul\x00esc\x1bdel\x7f", "\x01"},
		{"bad utf-8 \xff\xfe, a lone \xe2\x82, U+FFFD \uFFFD, U+FFFE \uFFFE", "\xc0"},
		{"ünïcödé 😀 \u2028", "ü"},
	} {
		for _, pair := range []bool{false, true} {
			got, want := shapes(c.text, c.attr, pair)
			if got != want {
				t.Errorf("text %q attr %q, EmptyPair %v:\n got %q\nwant %q", c.text, c.attr, pair, got, want)
			}
		}
	}
}

// FuzzWriterMatchesEtree: any text and attribute value is written as
// etree writes it.
func FuzzWriterMatchesEtree(f *testing.F) {
	for _, s := range []string{"", "a&b", "<>\"'", "\t\n\r", "\x00\xff", "\uFFFD\uFFFE", "😀"} {
		f.Add(s, s, false)
	}
	f.Fuzz(func(t *testing.T, text, attr string, pair bool) {
		if got, want := shapes(text, attr, pair); got != want {
			t.Fatalf("text %q attr %q:\n got %q\nwant %q", text, attr, got, want)
		}
	})
}

func BenchmarkAppendText(b *testing.B) {
	s := "http://192.0.2.10:8080/xps/login?name=SEP001122AABBCC&step=2"
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = AppendText(buf[:0], s)
	}
}
