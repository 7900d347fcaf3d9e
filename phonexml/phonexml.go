// Package phonexml is the Cisco IP Phone XML object format (protocol.md §5):
// the screens a phone displays (CiscoIPPhoneInput, CiscoIPPhoneText,
// CiscoIPPhoneMenu with their SoftKeyItems) and the push objects
// (CiscoIPPhoneExecute, CiscoIPPhoneResponse, CiscoIPPhoneError).
//
// Both sides of the wire use it: the XML service renders screens, the phone
// simulator parses them. It therefore depends on nothing of the server.
package phonexml

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"selfprov/internal/xmlwrite"
)

// ContentType is the media type of every IP Phone XML object [XSI].
const ContentType = "text/xml; charset=utf-8"

// Limits documented for the phones (protocol.md §5). Render refuses objects
// beyond them; Parse refuses documents beyond them.
const (
	MaxInputItems   = 5
	MaxMenuItems    = 100
	MaxMenuItemName = 64
	MaxURL          = 256
	MaxExecuteItems = 3
	// MaxSoftKeys bounds SoftKeyItems per screen; phones page soft keys but
	// no documented object carries more than a few dozen.
	MaxSoftKeys = 32
	// MaxObjectSize bounds a document handed to Parse.
	MaxObjectSize = 64 << 10
	maxDepth      = 8
)

// Root element names.
const (
	TagInput    = "CiscoIPPhoneInput"
	TagText     = "CiscoIPPhoneText"
	TagMenu     = "CiscoIPPhoneMenu"
	TagExecute  = "CiscoIPPhoneExecute"
	TagResponse = "CiscoIPPhoneResponse"
	TagError    = "CiscoIPPhoneError"
)

// Sentinel errors; failures wrap them with %w and name the offending part.
var (
	ErrTooLarge  = errors.New("phonexml: object too large")
	ErrMalformed = errors.New("phonexml: malformed XML")
	ErrUnknown   = errors.New("phonexml: unknown object")
	ErrInvalid   = errors.New("phonexml: invalid object")
)

// Object is one IP Phone XML object.
type Object interface {
	// Tag is the root element name, e.g. "CiscoIPPhoneText".
	Tag() string
	// Validate reports the first limit or required field the object breaks.
	Validate() error
	render(w *xmlwrite.Writer)
}

// SoftKeyItem is a soft key on a screen. URL is an HTTP URL or a built-in
// action such as "SoftKey:Exit" or "QueryStringParam:confirm=1".
type SoftKeyItem struct {
	Name     string
	URL      string
	URLDown  string // optional
	Position int    // 1-based
}

// InputItem is one field of a CiscoIPPhoneInput.
type InputItem struct {
	DisplayName      string
	QueryStringParam string
	DefaultValue     string
	InputFlags       string // A, T, N, E, U or L, optionally followed by P (masked)
}

// Input is a CiscoIPPhoneInput. The phone submits it with GET, the
// parameters appended to URL (see SubmitURL).
type Input struct {
	Title    string
	Prompt   string
	URL      string
	Items    []InputItem
	SoftKeys []SoftKeyItem
}

// Text is a CiscoIPPhoneText.
type Text struct {
	Title    string
	Prompt   string
	Text     string
	SoftKeys []SoftKeyItem
}

// MenuItem is one entry of a CiscoIPPhoneMenu.
type MenuItem struct {
	Name string
	URL  string
}

// Menu is a CiscoIPPhoneMenu.
type Menu struct {
	Title    string
	Prompt   string
	Items    []MenuItem
	SoftKeys []SoftKeyItem
}

// ExecuteItem asks the phone to fetch URL. Priority: 0 now, 1 when idle,
// 2 only if idle.
type ExecuteItem struct {
	URL      string
	Priority int
}

// Execute is a CiscoIPPhoneExecute, POSTed to http://<phone>/CGI/Execute.
type Execute struct {
	Items []ExecuteItem
}

// ResponseItem is one result of an Execute.
type ResponseItem struct {
	Status int
	Data   string
	URL    string
}

// Response is a CiscoIPPhoneResponse, the phone's answer to an Execute.
type Response struct {
	Items []ResponseItem
}

// Error is a CiscoIPPhoneError. Number: 1 parse, 2 framing, 3 internal file,
// 4 authentication; 6 is seen in practice.
type Error struct {
	Number int
}

// Error makes a CiscoIPPhoneError usable as a Go error.
func (e *Error) Error() string {
	return "phonexml: CiscoIPPhoneError " + strconv.Itoa(e.Number) + " (" + e.Meaning() + ")"
}

// Meaning names the documented error numbers.
func (e *Error) Meaning() string {
	switch e.Number {
	case 1:
		return "parse error"
	case 2:
		return "framing error"
	case 3:
		return "internal file error"
	case 4:
		return "authentication error"
	default:
		return "undocumented"
	}
}

// Error numbers of CiscoIPPhoneError.
const (
	ErrorParse    = 1
	ErrorFraming  = 2
	ErrorInternal = 3
	ErrorAuth     = 4
)

// Interface guards.
var (
	_ Object = (*Input)(nil)
	_ Object = (*Text)(nil)
	_ Object = (*Menu)(nil)
	_ Object = (*Execute)(nil)
	_ Object = (*Response)(nil)
	_ Object = (*Error)(nil)
	_ error  = (*Error)(nil)
)

func (*Input) Tag() string    { return TagInput }
func (*Text) Tag() string     { return TagText }
func (*Menu) Tag() string     { return TagMenu }
func (*Execute) Tag() string  { return TagExecute }
func (*Response) Tag() string { return TagResponse }
func (*Error) Tag() string    { return TagError }

// SubmitURL is the URL a phone requests when an Input is submitted: the
// parameters appended to base with "?" or, if base already has a query, "&".
// Values are query-escaped; order follows params.
func SubmitURL(base string, params ...[2]string) string {
	var b strings.Builder
	b.WriteString(base)
	sep := byte('?')
	if strings.IndexByte(base, '?') >= 0 {
		sep = '&'
	}
	for _, p := range params {
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(queryEscape(p[0]))
		b.WriteByte('=')
		b.WriteString(queryEscape(p[1]))
	}
	return b.String()
}

// queryEscape escapes like url.QueryEscape without pulling net/url's
// parsing into the object format.
func queryEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

func invalid(obj, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, obj, fmt.Sprintf(format, args...))
}
