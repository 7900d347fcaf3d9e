package axl

import (
	"encoding/xml"
	"strings"
)

// El is an element of a response. Children of AXL's response elements are
// unqualified, as CUCM writes them; only the operation's element carries
// the AXL namespace (through its ns: prefix).
type El struct {
	Name  string
	Attrs [][2]string
	Text  string
	Kids  []*El
}

// E builds an element with text.
func E(name, text string) *El { return &El{Name: name, Text: text} }

// P builds an element with children; nil children are left out.
func P(name string, kids ...*El) *El {
	e := &El{Name: name}
	for _, k := range kids {
		if k != nil {
			e.Kids = append(e.Kids, k)
		}
	}
	return e
}

// Add appends children; nil ones are left out.
func (e *El) Add(kids ...*El) *El {
	for _, k := range kids {
		if k != nil {
			e.Kids = append(e.Kids, k)
		}
	}
	return e
}

// Attr sets an attribute.
func (e *El) Attr(name, value string) *El {
	e.Attrs = append(e.Attrs, [2]string{name, value})
	return e
}

func (e *El) write(b *strings.Builder, indent int) {
	pad := strings.Repeat(" ", indent)
	b.WriteString(pad)
	b.WriteByte('<')
	b.WriteString(e.Name)
	for _, a := range e.Attrs {
		b.WriteByte(' ')
		b.WriteString(a[0])
		b.WriteString(`="`)
		escape(b, a[1])
		b.WriteByte('"')
	}
	switch {
	case len(e.Kids) > 0:
		b.WriteString(">\n")
		for _, k := range e.Kids {
			k.write(b, indent+1)
		}
		b.WriteString(pad)
	case e.Text != "":
		b.WriteByte('>')
		escape(b, e.Text)
	default:
		b.WriteString("/>\n")
		return
	}
	b.WriteString("</")
	b.WriteString(e.Name)
	b.WriteString(">\n")
}

func escape(b *strings.Builder, s string) {
	var sb strings.Builder
	_ = xml.EscapeText(&sb, []byte(s))
	b.WriteString(sb.String())
}

// Envelope renders a SOAP 1.1 envelope around body.
func Envelope(body *El) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	env := P("soapenv:Envelope", P("soapenv:Body", body)).Attr("xmlns:soapenv", SOAPNS)
	env.write(&b, 0)
	return []byte(b.String())
}
