// Package xmlwrite appends XML documents straight into a byte slice, as
// etree writes an indented tree with canonical escaping: each element on
// a line of its own, one space of indent a level. The phone configs and
// IP Phone screens every phone fetches while booting are written with it;
// building an etree tree for them cost several times the writing. Their
// tests keep the etree rendering as the reference, byte for byte.
package xmlwrite

import (
	"strconv"
	"unicode/utf8"

	"selfprov/internal/xmlscan"
)

// Prolog is the XML declaration every document starts with.
const Prolog = `<?xml version="1.0" encoding="UTF-8"?>`

// Writer appends to B. Elements opened and not closed raise Depth.
type Writer struct {
	B     []byte
	Depth int
	// EmptyPair writes an element without content as <x></x> (etree's
	// CanonicalEndTags, which some firmware needs) rather than <x/>.
	EmptyPair bool

	opened int // len(B) after the last start tag Open wrote
}

// Indent starts a line at the current depth.
func (w *Writer) Indent() {
	w.B = append(w.B, '\n')
	for range w.Depth {
		w.B = append(w.B, ' ')
	}
}

// Open writes a start tag on a line of its own; its content follows on
// the next lines, until Close.
func (w *Writer) Open(tag string) {
	w.Begin(tag)
	w.EndOpen()
}

// Close writes the end tag of the element Open opened; one that got no
// content is written as an empty element.
func (w *Writer) Close(tag string) {
	w.Depth--
	if w.opened == len(w.B) && w.opened > 0 {
		w.B = w.B[:len(w.B)-1] // the start tag's '>'
		w.EndEmpty(tag)
		return
	}
	w.Indent()
	w.B = append(w.B, "</"...)
	w.B = append(w.B, tag...)
	w.B = append(w.B, '>')
}

// Text writes an element holding value alone, escaped; an empty value
// writes an empty element.
func (w *Writer) Text(tag, value string) {
	w.Begin(tag)
	if value == "" {
		w.EndEmpty(tag)
		return
	}
	w.B = append(w.B, '>')
	w.B = AppendText(w.B, value)
	w.end(tag)
}

// Number writes an element holding n.
func (w *Writer) Number(tag string, n int) {
	w.Begin(tag)
	w.B = append(w.B, '>')
	w.B = strconv.AppendInt(w.B, int64(n), 10)
	w.end(tag)
}

// Begin starts a start tag on a line of its own, for Attr and AttrInt to
// add to; EndOpen or EndEmpty finishes it.
func (w *Writer) Begin(tag string) {
	w.Indent()
	w.B = append(w.B, '<')
	w.B = append(w.B, tag...)
}

// Attr adds an attribute, its value escaped.
func (w *Writer) Attr(key, value string) {
	w.B = append(w.B, ' ')
	w.B = append(w.B, key...)
	w.B = append(w.B, `="`...)
	w.B = AppendAttr(w.B, value)
	w.B = append(w.B, '"')
}

// AttrInt adds an attribute whose value is n.
func (w *Writer) AttrInt(key string, n int) {
	w.B = append(w.B, ' ')
	w.B = append(w.B, key...)
	w.B = append(w.B, `="`...)
	w.B = strconv.AppendInt(w.B, int64(n), 10)
	w.B = append(w.B, '"')
}

// EndOpen ends the start tag Begin began; content follows until Close.
func (w *Writer) EndOpen() {
	w.B = append(w.B, '>')
	w.Depth++
	w.opened = len(w.B)
}

// EndEmpty ends the element Begin began, without content.
func (w *Writer) EndEmpty(tag string) {
	if !w.EmptyPair {
		w.B = append(w.B, "/>"...)
		return
	}
	w.B = append(w.B, '>')
	w.end(tag)
}

func (w *Writer) end(tag string) {
	w.B = append(w.B, "</"...)
	w.B = append(w.B, tag...)
	w.B = append(w.B, '>')
}

// AppendText appends s as etree writes canonical text: &, <, > and
// carriage returns escaped, and what XML cannot hold (invalid UTF-8,
// characters outside XML's range) replaced by U+FFFD.
func AppendText(b []byte, s string) []byte { return appendEscaped(b, s, false) }

// AppendAttr appends s as etree writes a canonical attribute value in
// double quotes: &, <, " and tab, line feed and carriage return escaped
// (so that a parser's normalisation keeps them), the rest as AppendText.
func AppendAttr(b []byte, s string) []byte { return appendEscaped(b, s, true) }

func appendEscaped(b []byte, s string, attr bool) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, width := utf8.DecodeRuneInString(s[i:])
			i += width
			if xmlscan.XMLChar(r) && !(r == utf8.RuneError && width == 1) {
				continue
			}
			b = append(b, s[last:i-width]...)
			b = append(b, "\uFFFD"...)
			last = i
			continue
		}
		i++
		var esc string
		switch c {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			if attr {
				continue
			}
			esc = "&gt;"
		case '"':
			if !attr {
				continue
			}
			esc = "&quot;"
		case '\t':
			if !attr {
				continue
			}
			esc = "&#x9;"
		case '\n':
			if !attr {
				continue
			}
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			if c >= 0x20 {
				continue
			}
			esc = "\uFFFD" // a control character XML cannot hold
		}
		b = append(b, s[last:i-1]...)
		b = append(b, esc...)
		last = i
	}
	return append(b, s[last:]...)
}
