package phonecfg

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// treeDiff reports where two trees differ, "" when they are equal.
func treeDiff(a, b *element) string {
	switch {
	case a.space != b.space || a.tag != b.tag:
		return "<" + a.tag + "> against <" + b.tag + ">"
	case !slices.Equal(a.attrs, b.attrs):
		return "attributes of <" + a.tag + ">"
	case !bytes.Equal(a.text, b.text):
		return "text of <" + a.tag + ">: " + string(a.text) + " against " + string(b.text)
	}
	ak, bk := a.ChildElements(), b.ChildElements()
	if len(ak) != len(bk) {
		return "children of <" + a.tag + ">"
	}
	for i := range ak {
		if d := treeDiff(ak[i], bk[i]); d != "" {
			return d
		}
	}
	return ""
}

// The fast path must take the files selfprovd writes, or it saves nothing.
func TestScanTreeTakesRenderedConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/*.cnf.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden configs: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fast, ok := scanTree(data, maxDepth)
		if !ok {
			t.Errorf("%s: the fast path gave up", f)
			continue
		}
		slow, err := decodeTree(data, maxDepth)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d := treeDiff(fast, slow); d != "" {
			t.Errorf("%s: trees differ: %s", f, d)
		}
	}
}

func TestScanTreeGivesUp(t *testing.T) {
	for _, doc := range []string{
		`<a><b></a>`,                // mismatched end tag
		`<a>`,                       // unclosed
		`<a x=1/>`,                  // unquoted attribute
		`<a x="1"y="2"/>`,           // no space between attributes
		`<a>&nbsp;</a>`,             // an entity encoding/xml refuses
		`<a>&#0;</a>`,               // a character XML forbids, by reference
		`<a>&#X41;</a>`,             // an upper-case X
		"<a>x\r\ny</a>",             // line ends encoding/xml normalises
		`<a><![CDATA[x]]></a>`,      // CDATA
		`<!DOCTYPE a><a/>`,          // a directive
		`<?xml version="1.1"?><a/>`, // another declaration
		`<p:a></p:a>`,               // a prefix
		`<a><!-- x -- y --></a>`,    // "--" inside a comment
		"<a>\xe9</a>",               // Latin-1, not UTF-8
		"<a>\uFFFE</a>",             // a character XML forbids
		`<a x="<"/>`,                // '<' in an attribute
		"",                          // nothing
		`   `,                       // no element
		`<a/ >`,                     // space inside "/>"
		`<1a/>`,                     // a name starting with a digit
	} {
		if _, ok := scanTree([]byte(doc), maxDepth); ok {
			t.Errorf("%q: the fast path took it", doc)
		}
	}
	deep := bytes.Repeat([]byte("<a>"), maxDepth+1)
	deep = append(deep, bytes.Repeat([]byte("</a>"), maxDepth+1)...)
	if _, ok := scanTree(deep, maxDepth); ok {
		t.Errorf("%d nested elements: the fast path took them", maxDepth+1)
	}
}

// FuzzScanTree checks that the fast path builds exactly encoding/xml's
// tree for every document it takes.
func FuzzScanTree(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.cnf.xml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`<a x='1' y="&amp;&lt;&gt;&quot;&apos;" x="2"><!-- c -->t<b/>u<c>v</c ></a>`))
	f.Add([]byte(`<a>&#65;&#x42;&#xd;&#x1F600;</a>`))
	f.Add([]byte(`<?xml version="1.0"?><a>x<!---->y</a><b/>`))
	f.Add([]byte(`<a	x = "1"
	/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := scanTree(data, 4)
		if !ok {
			return
		}
		slow, err := decodeTree(data, 4)
		if err != nil {
			t.Fatalf("the fast path took what encoding/xml refuses (%v): %q", err, data)
		}
		if d := treeDiff(fast, slow); d != "" {
			t.Fatalf("trees differ (%s): %q", d, data)
		}
	})
}

func BenchmarkParseDevice(b *testing.B) {
	data, err := os.ReadFile("testdata/provisioned.cnf.xml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
