package phonexml

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/beevik/etree"
)

// etreeTree is the tree Parse builds from etree's reading of data.
func etreeTree(data []byte, depth int) (*node, error) {
	d := etree.NewDocument()
	d.ReadSettings.MaxDepth = depth
	if err := d.ReadFromBytes(data); err != nil {
		return nil, err
	}
	return fromEtree(&d.Element), nil
}

// The fast path must take the screens Render writes, or it saves nothing.
func TestScanTreeTakesRenderedObjects(t *testing.T) {
	files, err := filepath.Glob("testdata/*.golden.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden objects: %v", err)
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
		slow, err := etreeTree(data, maxDepth)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: the trees differ:\n%+v\n%+v", f, fast, slow)
		}
	}
}

func TestScanTreeGivesUp(t *testing.T) {
	for _, doc := range []string{
		`<a><b></a>`,                // mismatched end tag
		`<a>`,                       // unclosed
		`<a x=1/>`,                  // unquoted attribute
		`<a x="1"y="2"/>`,           // no space between attributes
		`<a>&nbsp;</a>`,             // an entity etree refuses
		`<a>&#0;</a>`,               // a character XML forbids, by reference
		`<a>&#X41;</a>`,             // an upper-case X
		"<a>x\r\ny</a>",             // line ends the decoder normalises
		`<a><![CDATA[x]]></a>`,      // CDATA
		`<!DOCTYPE a><a/>`,          // a directive
		`<?xml version="1.1"?><a/>`, // another declaration
		`<a><?pi x?></a>`,           // a processing instruction
		`<p:a></p:a>`,               // a prefix
		`<a p:x="1"/>`,              // a prefixed attribute
		`<a><!-- x -- y --></a>`,    // "--" inside a comment
		"<a>\xe9</a>",               // Latin-1, not UTF-8
		"<a>\uFFFE</a>",             // a character XML forbids
		`<a x="<"/>`,                // '<' in an attribute
		`<a/ >`,                     // space inside "/>"
		`<1a/>`,                     // a name starting with a digit
		`</a>`,                      // an end tag without a start
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

// FuzzScanTree checks that the fast path builds exactly the tree etree's
// reading gives, for every document it takes.
func FuzzScanTree(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.golden.xml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`<a x='1' y="&amp;&lt;&gt;&quot;&apos;" x="2"><!-- c -->t<b/>u<c>v</c ></a>`))
	f.Add([]byte(`<a>&#65;&#x42;&#xd;&#x1F600;</a>`))
	f.Add([]byte(`<?xml version="1.0"?> <a>x<!---->y</a> <b/>text`))
	f.Add([]byte("<a\tx = \"1\"\n\t/>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := scanTree(data, 4)
		if !ok {
			return
		}
		slow, err := etreeTree(data, 4)
		if err != nil {
			t.Fatalf("the fast path took what etree refuses (%v): %q", err, data)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("the trees differ for %q:\n%+v\n%+v", data, fast, slow)
		}
	})
}

func BenchmarkParseInput(b *testing.B) {
	data, err := os.ReadFile("testdata/input.golden.xml")
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

// BenchmarkRenderInput: the login screen every self-provisioning phone is
// sent.
func BenchmarkRenderInput(b *testing.B) {
	obj := samples["input"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(obj); err != nil {
			b.Fatal(err)
		}
	}
}
