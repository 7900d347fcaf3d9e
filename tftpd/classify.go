package tftpd

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	textclip "selfprov/internal/clip"
	"selfprov/provision"
)

// Kind is what a requested file name refers to.
type Kind int

const (
	KindDevice  Kind = iota + 1 // SEP<MAC>.cnf.xml, CSF/BOT/TCT/TAB<name>.cnf.xml
	KindDefault                 // XMLDefault.cnf.xml
	KindTrust                   // CTLSEP<MAC>.tlv, ITLSEP<MAC>.tlv, ITLFile.tlv: from the static folder if there
	KindStatic                  // any other safe relative path: the static folder
)

func (k Kind) String() string {
	switch k {
	case KindDevice:
		return "device"
	case KindDefault:
		return "default"
	case KindTrust:
		return "trust"
	case KindStatic:
		return "static"
	}
	return "unknown"
}

// Request is a classified file name.
type Request struct {
	Kind Kind
	// Name is the canonical name: the device name (SEP names upper-cased)
	// for KindDevice, the file name for KindDefault and KindTrust, and
	// the relative path as requested for KindStatic.
	Name string
}

// MaxNameLen bounds a requested file name.
const MaxNameLen = 255

// ErrBadName is wrapped by every classification error: the name can
// never be served, so the request is refused (TFTP access violation,
// HTTP 400).
var ErrBadName = errors.New("tftpd: file name refused")

func badName(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadName}, args...)...)
}

// Classify maps a requested file name onto the allow-list, matching
// case-insensitively. It never touches the file system; a name it accepts
// may still be "not found".
func Classify(name string) (Request, error) {
	switch {
	case name == "":
		return Request{}, badName("empty file name")
	case len(name) > MaxNameLen:
		return Request{}, badName("file name is %d bytes, the limit is %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return Request{}, badName("file name is not UTF-8")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return Request{}, badName("file name holds control character %#02x", c)
		}
	}
	if strings.ContainsRune(name, '\\') {
		return Request{}, badName("file name %q holds a backslash", clip(name))
	}
	if name[0] == '/' {
		return Request{}, badName("absolute path %q", clip(name))
	}
	if strings.Contains(name, ":") {
		// Drive letters and URL schemes have no place in a TFTP name.
		return Request{}, badName("file name %q holds a colon", clip(name))
	}
	for rest := name; ; {
		part, after, more := strings.Cut(rest, "/")
		switch part {
		case "":
			return Request{}, badName("file name %q has an empty path element", clip(name))
		case ".", "..":
			return Request{}, badName("file name %q leaves the folder", clip(name))
		}
		if !more {
			break
		}
		rest = after
	}

	if strings.ContainsRune(name, '/') {
		return Request{Kind: KindStatic, Name: name}, nil
	}
	// Compared without lower-casing a copy: this runs for every request.
	switch {
	case equalFold(name, "xmldefault.cnf.xml"):
		return Request{Kind: KindDefault, Name: "XMLDefault.cnf.xml"}, nil
	case equalFold(name, "itlfile.tlv"):
		return Request{Kind: KindTrust, Name: "ITLFile.tlv"}, nil
	case hasSuffixFold(name, ".tlv") && (hasPrefixFold(name, "ctlsep") || hasPrefixFold(name, "itlsep")):
		mac := name[6 : len(name)-4]
		if provision.IsMAC(mac) {
			if canon := strings.ToUpper(name[:len(name)-4]); canon == name[:len(name)-4] && name[len(name)-4:] == ".tlv" {
				return Request{Kind: KindTrust, Name: name}, nil // already canonical
			}
			return Request{Kind: KindTrust, Name: strings.ToUpper(name[:6]) + strings.ToUpper(mac) + ".tlv"}, nil
		}
	case hasSuffixFold(name, ".cnf.xml"):
		if dev, ok := deviceName(name[:len(name)-len(".cnf.xml")]); ok {
			return Request{Kind: KindDevice, Name: dev}, nil
		}
	}
	return Request{Kind: KindStatic, Name: name}, nil
}

// deviceName recognises a device name (the core's grammar) and returns it
// in canonical form: SEP names upper-cased, client names with an
// upper-case prefix (the store matches the rest case-insensitively).
func deviceName(s string) (string, bool) {
	if !provision.IsDeviceName(s) {
		return "", false
	}
	name, err := provision.CanonicalDeviceName(s)
	return name, err == nil
}

// equalFold compares s with a lower-case ASCII literal as
// strings.ToLower(s) == lower would: no non-ASCII rune lower-cases to an
// ASCII letter other than k (the Kelvin sign), which no literal here holds.
func equalFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && equalFold(s[len(s)-len(suffix):], suffix)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && equalFold(s[:len(prefix)], prefix)
}

// clip keeps log lines and TFTP error messages short when input is
// hostile: up to 48 bytes of a name.
func clip(s string) string { return textclip.String(s, 48) }
