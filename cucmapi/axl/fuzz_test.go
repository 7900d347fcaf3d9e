package axl

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzDecodeEnvelope: whatever the input, decoding stays within its limits
// and a decoded request survives a round trip through XML unchanged.
func FuzzDecodeEnvelope(f *testing.F) {
	env := func(inner string) string {
		return `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns="http://www.cisco.com/AXL/API/14.0"><soapenv:Body>` + inner + `</soapenv:Body></soapenv:Envelope>`
	}
	for _, seed := range []string{
		env(`<ns:getCCMVersion/>`), // the smallest request
		env(`<ns:getPhone sequence="1"><name>SEP001122334455</name></ns:getPhone>`),                // with an attribute
		env(`<getPhone xmlns="http://www.cisco.com/AXL/API/12.5"><name>a&amp;b</name></getPhone>`), // default namespace, an escape
		env(`<ns:listPhone><searchCriteria><name>SEP%</name></searchCriteria><returnedTags><name/></returnedTags></ns:listPhone>`),
		`<?xml version="1.0" encoding="UTF-8"?>` + env(`<ns:getCCMVersion/>`),              // declaration
		`<!DOCTYPE x [<!ENTITY a "b">]>` + env(`<ns:getCCMVersion>&a;</ns:getCCMVersion>`), // DTD: refused
		env(strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40)),                        // too deep
		env(`<ns:a/><ns:b/>`),               // two requests
		`<a:Envelope xmlns:a="x"/>`,         // not SOAP
		env(`<ns:x><![CDATA[<y>]]></ns:x>`), // CDATA
	} {
		f.Add([]byte(seed))
	}
	l := Limits{MaxBytes: 4096, MaxDepth: 16, MaxElements: 200}
	f.Fuzz(func(t *testing.T, in []byte) {
		n, err := DecodeEnvelope(bytes.NewReader(in), l)
		if err != nil {
			if n != nil {
				t.Fatal("a node with an error")
			}
			return
		}
		if int64(len(in)) > l.MaxBytes {
			t.Fatalf("%d bytes decoded past the limit of %d", len(in), l.MaxBytes)
		}
		if d, c := depth(n), count(n); d > l.MaxDepth || c > l.MaxElements {
			t.Fatalf("depth %d, %d elements decoded past the limits", d, c)
		}
		var b strings.Builder
		writeNode(&b, n)
		wrapped := `<s:Envelope xmlns:s="` + SOAPNS + `"><s:Body>` + b.String() + `</s:Body></s:Envelope>`
		again, err := DecodeEnvelope(strings.NewReader(wrapped), Limits{MaxBytes: 1 << 20, MaxDepth: 64, MaxElements: 1000})
		if err != nil {
			t.Fatalf("re-encoded request does not decode: %v\n%s", err, wrapped)
		}
		if !same(n, again) {
			t.Fatalf("round trip changed the request:\n%s", wrapped)
		}
	})
}

func depth(n *Node) int {
	d := 0
	for _, k := range n.Kids {
		d = max(d, depth(k))
	}
	return d + 3 // Envelope and Body above the request
}

func count(n *Node) int {
	c := 1
	for _, k := range n.Kids {
		c += count(k)
	}
	return c + 2
}

func writeNode(b *strings.Builder, n *Node) {
	b.WriteString("<" + n.Name + ` xmlns="`)
	escape(b, n.Space)
	b.WriteString(`">`)
	if len(n.Kids) == 0 {
		escape(b, n.Text)
	}
	for _, k := range n.Kids {
		writeNode(b, k)
	}
	b.WriteString("</" + n.Name + ">")
}

func same(a, b *Node) bool {
	if a.Name != b.Name || a.Space != b.Space || len(a.Kids) != len(b.Kids) {
		return false
	}
	if len(a.Kids) == 0 && a.Text != b.Text {
		return false
	}
	for i := range a.Kids {
		if !same(a.Kids[i], b.Kids[i]) {
			return false
		}
	}
	return true
}
