package registrar

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"selfprov/internal/clip"
	"selfprov/provision"
)

// Cisco Contact parameters (protocol.md §3).
const (
	paramDeviceName = "+u.sip!devicename.ccm.cisco.com"
	paramModel      = "+u.sip!model.ccm.cisco.com"
	paramInstance   = "+sip.instance"
	paramExpires    = "expires"
)

// maxContactLen bounds the Contact value we look at; a Cisco Contact with
// every parameter is about 300 bytes.
const maxContactLen = 2048

// contact is one parsed Contact header value.
type contact struct {
	star   bool   // "Contact: *"
	uri    string // the URI as sent, without the angle brackets
	parsed sip.Uri
	params []param // header parameters after the URI, values unquoted
}

type param struct{ key, value, raw string } // raw: as sent, without the ';'

func (c *contact) param(key string) (string, bool) {
	for _, p := range c.params {
		if strings.EqualFold(p.key, key) {
			return p.value, true
		}
	}
	return "", false
}

var errBadContact = errors.New("bad Contact")

// parseContact parses the first contact of a Contact header value:
// `*`, `"name" <uri>;params`, `<uri>;params` or `uri;params`. The URI is
// parsed by sipgo; the parameters here, because Cisco's carry quoted
// values with angle brackets and '!' in their names.
func parseContact(v string) (contact, error) {
	var c contact
	v = strings.TrimSpace(v)
	if v == "" {
		return c, fmt.Errorf("%w: empty", errBadContact)
	}
	if len(v) > maxContactLen {
		return c, fmt.Errorf("%w: longer than %d bytes", errBadContact, maxContactLen)
	}
	if v == "*" {
		c.star = true
		return c, nil
	}
	rest := v
	if rest[0] == '"' {
		end := closingQuote(rest)
		if end < 0 {
			return c, fmt.Errorf("%w: unterminated display name", errBadContact)
		}
		rest = strings.TrimSpace(rest[end+1:])
	}
	if strings.HasPrefix(rest, "<") {
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			return c, fmt.Errorf("%w: missing '>'", errBadContact)
		}
		c.uri, rest = rest[1:end], rest[end+1:]
	} else if i := strings.IndexAny(rest, ";,"); i >= 0 {
		c.uri, rest = rest[:i], rest[i:]
	} else {
		c.uri, rest = rest, ""
	}
	c.uri = strings.TrimSpace(c.uri)
	if err := parseSIPURI(c.uri, &c.parsed); err != nil {
		return c, err
	}
	params, err := parseParams(rest)
	if err != nil {
		return c, err
	}
	c.params = params
	return c, nil
}

func parseSIPURI(s string, u *sip.Uri) error {
	if !hasPrefixFold(s, "sip:") && !hasPrefixFold(s, "sips:") {
		return fmt.Errorf("%w: URI %q is not sip: or sips:", errBadContact, clip.String(s, 40))
	}
	if err := sip.ParseUri(s, u); err != nil {
		return fmt.Errorf("%w: URI %q: %v", errBadContact, clip.String(s, 40), err)
	}
	if u.Host == "" {
		return fmt.Errorf("%w: URI %q has no host", errBadContact, clip.String(s, 40))
	}
	if u.Port < 0 || u.Port > 65535 {
		return fmt.Errorf("%w: URI %q has a bad port", errBadContact, clip.String(s, 40))
	}
	return nil
}

// parseParams splits ";k=v;k2="v2"" up to the first top-level comma (a
// second contact, ignored).
func parseParams(s string) ([]param, error) {
	var out []param
	if n := strings.Count(s, ";"); n > 0 {
		out = make([]param, 0, min(n, 32)) // one allocation for a phone's usual few
	}
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" || s[0] == ',' {
			return out, nil
		}
		if s[0] != ';' {
			return nil, fmt.Errorf("%w: unexpected %q after the URI", errBadContact, clip.String(s, 40))
		}
		s = s[1:]
		seg := s
		// key up to '=', ';' or ','
		i := strings.IndexAny(s, "=;,")
		if i < 0 {
			i = len(s)
		}
		key := strings.TrimSpace(s[:i])
		s = s[i:]
		var val string
		if s != "" && s[0] == '=' {
			s = strings.TrimLeft(s[1:], " \t")
			if s != "" && s[0] == '"' {
				end := closingQuote(s)
				if end < 0 {
					return nil, fmt.Errorf("%w: unterminated quoted value of %q", errBadContact, clip.String(key, 40))
				}
				val = strings.ReplaceAll(s[1:end], `\"`, `"`)
				s = s[end+1:]
			} else {
				j := strings.IndexAny(s, ";,")
				if j < 0 {
					j = len(s)
				}
				val = strings.TrimSpace(s[:j])
				s = s[j:]
			}
		}
		if key == "" {
			return nil, fmt.Errorf("%w: empty parameter name", errBadContact)
		}
		if len(out) >= 32 {
			return nil, fmt.Errorf("%w: more than 32 parameters", errBadContact)
		}
		out = append(out, param{key, val, strings.TrimSpace(seg[:len(seg)-len(s)])})
	}
}

// hasPrefixFold is strings.HasPrefix, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// closingQuote returns the index of the quote closing s[0], honouring
// backslash escapes, or -1.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// identity is who a REGISTER says it is. The core decides what a model
// or product claim means.
type identity struct {
	name    string // canonical device name
	model   int    // +u.sip!model; 0 when absent
	product string // of a Cisco User-Agent, when model is 0
	source  string // which header gave the name: devicename, instance, aor
}

var errNoIdentity = errors.New("no device identity")

// identify finds the device per SPEC §3: the devicename parameter, then the
// MAC in a Cisco +sip.instance, then the AOR user if it is a device name. A
// present but malformed devicename, or a Cisco-form instance with a bad
// MAC, is an error, not a fallthrough, so a phone is never registered under
// a name it did not mean.
func identify(c contact, aorUser, userAgent string) (identity, error) {
	var id identity
	if v, ok := c.param(paramDeviceName); ok {
		name, err := provision.CanonicalDeviceName(v)
		if err != nil {
			return id, fmt.Errorf("%w: devicename parameter: %v", errNoIdentity, err)
		}
		id.name, id.source = name, "devicename"
	} else if name, err := instanceName(c); err == nil {
		id.name, id.source = name, "instance"
	} else if !errors.Is(err, errNoCiscoInstance) {
		return id, fmt.Errorf("%w: %v", errNoIdentity, err)
	} else if name, aorErr := provision.CanonicalDeviceName(aorUser); aorErr == nil {
		// Softphones send an instance of their own; their AOR user names
		// the device, as it does for a phone with no instance at all.
		id.name, id.source = name, "aor"
	} else if _, sent := c.param(paramInstance); sent {
		return id, fmt.Errorf("%w: %v, and the AOR user is not a device name", errNoIdentity, err)
	} else {
		return id, fmt.Errorf("%w: no devicename or +sip.instance Contact parameter and the AOR user is not a device name", errNoIdentity)
	}
	id.model, id.product = modelOf(c, userAgent)
	return id, nil
}

// errNoCiscoInstance: the Contact has no +sip.instance in Cisco's MAC form.
var errNoCiscoInstance = errors.New("no MAC-based Cisco +sip.instance")

// instanceName names the device by the MAC in
// +sip.instance="<urn:uuid:00000000-0000-0000-0000-<mac>>". An instance
// in another form is errNoCiscoInstance; Cisco's form with a bad MAC is
// an error of its own, never a fallthrough.
func instanceName(c contact) (string, error) {
	v, ok := c.param(paramInstance)
	if !ok {
		return "", errNoCiscoInstance
	}
	v = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(v), "<"), ">")
	const prefix = "urn:uuid:00000000-0000-0000-0000-"
	if len(v) != len(prefix)+12 || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", fmt.Errorf("%w: +sip.instance %q is not a MAC-based Cisco instance", errNoCiscoInstance, clip.String(v, 40))
	}
	mac := v[len(prefix):]
	if !provision.IsMAC(mac) {
		return "", fmt.Errorf("+sip.instance %q does not end in 12 hex digits", clip.String(v, 40))
	}
	return provision.DeviceNameFromMAC(mac)
}

// modelOf reads the model id from the model parameter, else the product
// from "User-Agent: Cisco-CP<product>/<firmware>"; neither for a phone that
// names no Cisco model.
func modelOf(c contact, userAgent string) (model int, product string) {
	if v, ok := c.param(paramModel); ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 1<<20 {
			return n, ""
		}
	}
	ua, ok := strings.CutPrefix(userAgent, "Cisco-CP")
	if !ok {
		return 0, ""
	}
	if i := strings.IndexByte(ua, '/'); i >= 0 {
		ua = ua[:i]
	}
	return 0, clip.String(ua, 40)
}
