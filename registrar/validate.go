package registrar

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"selfprov/internal/clip"
	"selfprov/provision"
)

// sipgo's parser is lenient: it takes a request whose version is not
// SIP/2.0, whose Request-URI has any scheme, that repeats Call-ID, To or
// From, or whose header names hold bytes no token allows. RFC 3261 wants
// those refused (RFC 4475 §3.1.2, §3.3), and none of them may reach the
// REGISTER handling, where they would create or change a binding or a
// device. validate runs on every request before anything else, in one pass
// over the headers sipgo has already parsed.

// invalid is the answer to a request validate refuses.
type invalid struct {
	status int
	reason string
	text   string // for the Warning header; "" for none
}

// validate returns what to answer to a request RFC 3261 refuses, or ok.
func validate(req *sip.Request) (invalid, bool) {
	if !strings.EqualFold(req.SipVersion, "SIP/2.0") {
		return invalid{505, "Version Not Supported", "only SIP/2.0 is supported"}, false
	}
	if !isToken(string(req.Method)) {
		return invalid{400, "Bad Request Method", "the method is not a token"}, false
	}
	var to, from, callID, cseq, contentLength int
	var toH *sip.ToHeader
	var callIDH *sip.CallIDHeader
	var cseqH *sip.CSeqHeader
	var length uint32
	var star bool
	contacts := 0
	for _, h := range req.Headers() {
		switch h := h.(type) {
		case *sip.ToHeader:
			to++
			toH = h
		case *sip.FromHeader:
			from++
		case *sip.CallIDHeader:
			callID++
			callIDH = h
		case *sip.CSeqHeader:
			cseq++
			cseqH = h
		case *sip.ContentLengthHeader:
			if contentLength > 0 && uint32(*h) != length {
				return invalid{400, "Conflicting Content-Length", "two different Content-Length values"}, false
			}
			contentLength++
			length = uint32(*h)
		case *sip.ViaHeader, *sip.MaxForwardsHeader, *sip.ContentTypeHeader:
		default:
			name := h.Name()
			if !isToken(name) {
				return invalid{400, "Bad Header Name", fmt.Sprintf("header name %s is not a token", strconv.QuoteToASCII(clip.String(name, 40)))}, false
			}
			if req.Method == sip.REGISTER && isContact(name) {
				// Only a "*" needs the contacts counted: any other value
				// holds at least one.
				if v := h.Value(); strings.IndexByte(v, '*') >= 0 {
					n, s := contactElements(v)
					contacts += n
					star = star || s
				} else {
					contacts++
				}
			}
		}
	}
	for _, d := range [...]struct {
		n    int
		name string
	}{{to, "To"}, {from, "From"}, {callID, "Call-ID"}, {cseq, "CSeq"}} {
		if d.n > 1 {
			return invalid{400, "Duplicate " + d.name + " Header", "more than one " + d.name + " header"}, false
		}
		if d.n == 0 || d.name == "Call-ID" && callIDH.Value() == "" {
			return invalid{400, "Missing " + d.name + " Header", ""}, false
		}
	}
	if !strings.EqualFold(string(cseqH.MethodName), string(req.Method)) {
		return invalid{400, "CSeq Method Does Not Match", ""}, false
	}
	if !isSIPScheme(req.Recipient.Scheme) {
		return invalid{416, "Unsupported URI Scheme", "the Request-URI scheme must be sip or sips"}, false
	}
	if req.Method == sip.REGISTER {
		// The To URI is the address-of-record being registered.
		if !isSIPScheme(toH.Address.Scheme) {
			return invalid{416, "Unsupported URI Scheme", "the To URI scheme must be sip or sips"}, false
		}
		if star && contacts > 1 {
			return invalid{400, "Wildcard Contact With Others", "Contact * must be the only contact"}, false
		}
	}
	return invalid{}, true
}

func isSIPScheme(s string) bool { return strings.EqualFold(s, "sip") || strings.EqualFold(s, "sips") }

func isContact(name string) bool {
	return strings.EqualFold(name, "Contact") || name == "m" || name == "M"
}

// contactElements counts the comma-separated contacts of a Contact value
// (commas inside quotes and angle brackets do not separate) and reports
// whether one of them is "*".
func contactElements(v string) (n int, star bool) {
	start := 0
	quoted, angle := false, false
	elem := func(end int) {
		e := strings.TrimSpace(v[start:end])
		if e != "" {
			n++
			star = star || e == "*"
		}
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case c == ',' && !angle:
			elem(i)
			start = i + 1
		}
	}
	elem(len(v))
	return n, star
}

// isToken reports whether s is an RFC 3261 token: the characters of a
// method or a header name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChar[s[i]] {
			return false
		}
	}
	return true
}

var tokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-.!%*_+`'~" {
		t[c] = true
	}
	return t
}()

// parseCSeq replaces sipgo's CSeq parser, which takes everything after the
// first blank as the method: the valid "CSeq: 1  REGISTER" became method
// " REGISTER". LWS between the number and the method is any run of blanks
// here.
func parseCSeq(_ []byte, text string) (sip.Header, error) {
	var h sip.CSeqHeader
	text = strings.Trim(text, " \t")
	i := strings.IndexAny(text, " \t")
	if i < 1 {
		return nil, fmt.Errorf("CSeq %q is not a number and a method", clip.String(text, 40))
	}
	n, err := strconv.ParseUint(text[:i], 10, 32)
	if err != nil || n > 1<<31-1 {
		return nil, fmt.Errorf("CSeq number %q is not below 2**31", clip.String(text[:i], 40))
	}
	// The method is checked against the request's in validate, which
	// answers 400 rather than dropping the message as unparsable.
	method := strings.TrimLeft(text[i:], " \t")
	if method == "" || strings.ContainsAny(method, " \t") {
		return nil, fmt.Errorf("CSeq %q is not a number and a method", clip.String(text, 40))
	}
	h.SeqNo, h.MethodName = uint32(n), sip.RequestMethod(method)
	return &h, nil
}

// knownMethods are the SIP methods the registrar knows but does not
// serve: they get 405 with Allow, any other method 501 (RFC 3261 §8.2.1).
var knownMethods = map[sip.RequestMethod]bool{
	sip.INVITE: true, sip.BYE: true, sip.CANCEL: true, sip.SUBSCRIBE: true, sip.NOTIFY: true,
	sip.REFER: true, sip.MESSAGE: true, sip.INFO: true, sip.PRACK: true, sip.UPDATE: true, sip.PUBLISH: true,
}

// unregisterAOR serves "Contact: *" with Expires 0 (SPEC §7): it removes
// every binding of the AOR, whether the AOR names a device or is a line's
// DN, as a reprovisioned phone unregisters its old lines.
func (s *Server) unregisterAOR(aor string) {
	if name, err := provision.CanonicalDeviceName(aor); err == nil {
		s.table.remove(name)
	}
	s.table.removeAOR(aor)
}
