package provision

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"selfprov/internal/clip"
)

// Device name prefixes.
const (
	PrefixSEP = "SEP" // Cisco IP phones, SEP<MAC>
	PrefixCSF = "CSF" // Webex App / Jabber desktop
	PrefixBOT = "BOT" // Android
	PrefixTCT = "TCT" // iPhone
	PrefixTAB = "TAB" // tablets
)

// MaxDeviceNameLen is the longest device name the product accepts.
const MaxDeviceNameLen = 15

// The device-name grammar, in one place: SEP and 12 hex digits, or CSF,
// BOT, TCT or TAB and letters, digits, '.', '_' and '-'; 4 to
// MaxDeviceNameLen characters; the prefix in any case.
type nameFault uint8

const (
	nameOK nameFault = iota
	nameLength
	nameSEPNotMAC
	nameChars
	namePrefix
)

func deviceNameFault(name string) nameFault {
	if len(name) < 4 || len(name) > MaxDeviceNameLen {
		return nameLength
	}
	prefix, rest := name[:3], name[3:]
	switch {
	case strings.EqualFold(prefix, PrefixSEP):
		if !IsMAC(rest) {
			return nameSEPNotMAC
		}
	case strings.EqualFold(prefix, PrefixCSF), strings.EqualFold(prefix, PrefixBOT),
		strings.EqualFold(prefix, PrefixTCT), strings.EqualFold(prefix, PrefixTAB):
		for i := 0; i < len(rest); i++ {
			if !isNameChar(rest[i]) {
				return nameChars
			}
		}
	default:
		return namePrefix
	}
	return nameOK
}

// IsDeviceName reports whether name is a device name in any case. It does
// not allocate, so a server may test every requested file name with it.
func IsDeviceName(name string) bool { return deviceNameFault(name) == nameOK }

// CanonicalDeviceName validates a device name and returns it in canonical
// form: SEP names upper-cased; client names with an upper-case prefix.
func CanonicalDeviceName(name string) (string, error) {
	switch deviceNameFault(name) {
	case nameLength:
		return "", invalidf("device name %q must be 4 to %d characters", clip.String(name, 40), MaxDeviceNameLen)
	case nameSEPNotMAC:
		return "", invalidf("device name %q must be SEP followed by 12 hex digits", name)
	case nameChars:
		return "", invalidf("device name %q may only hold letters, digits, '.', '_' and '-'", clip.String(name, 40))
	case namePrefix:
		return "", invalidf("device name %q must start with SEP, CSF, BOT, TCT or TAB", clip.String(name, 40))
	}
	if isUpper(name[:3]) && (name[:3] != PrefixSEP || isUpper(name[3:])) {
		return name, nil // already canonical, as phones name themselves
	}
	if strings.EqualFold(name[:3], PrefixSEP) {
		return sepName(name[3:]), nil
	}
	return strings.ToUpper(name[:3]) + name[3:], nil
}

// isUpper reports whether s holds no lower-case ASCII letter.
func isUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			return false
		}
	}
	return true
}

// MayAutoRegister reports whether auto-registration may create a device of
// this canonical name: SEP names only. CSF, BOT, TCT and TAB devices are
// created by Webex auto-provisioning or an administrator (SPEC §7).
func MayAutoRegister(canon string) bool { return strings.HasPrefix(canon, PrefixSEP) }

var macSeparators = strings.NewReplacer(":", "", "-", "", ".", "")

// DeviceNameFromMAC turns a MAC in any common notation into SEP<MAC>, the
// one place that name is built.
func DeviceNameFromMAC(mac string) (string, error) {
	clean := mac
	if !IsMAC(clean) {
		clean = macSeparators.Replace(mac)
	}
	if !IsMAC(clean) {
		return "", invalidf("MAC %q must have 12 hex digits", clip.String(mac, 40))
	}
	return sepName(clean), nil
}

// sepName is SEP and the MAC upper-cased, built in one allocation: the
// registrar names a phone so on every REGISTER that carries its MAC.
func sepName(mac string) string {
	var b [len(PrefixSEP) + 12]byte
	copy(b[:], PrefixSEP)
	for i := 0; i < 12; i++ {
		c := mac[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b[len(PrefixSEP)+i] = c
	}
	return string(b[:])
}

// IsMAC reports whether s is a MAC as 12 hex digits, in any case, with no
// separators.
func IsMAC(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func isNameChar(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == '_' || c == '-'
}

// newUUID returns a random RFC 4122 version 4 UUID. Every auto-registered
// device takes two (its line's and its config version's), so they are
// written into one buffer rather than formatted.
func newUUID() string {
	var b [36]byte
	return string(appendUUID(b[:0]))
}

// appendUUID appends a random version 4 UUID, in its 8-4-4-4-12 form, to dst.
func appendUUID(dst []byte) []byte {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	dst = hex.AppendEncode(dst, u[0:4])
	for _, g := range [][]byte{u[4:6], u[6:8], u[8:10], u[10:16]} {
		dst = append(dst, '-')
		dst = hex.AppendEncode(dst, g)
	}
	return dst
}

// newVersion makes a config version stamp in CUCM's shape, <epoch>-<uuid>.
func newVersion(now time.Time) string {
	var b [64]byte
	v := strconv.AppendInt(b[:0], now.Unix(), 10)
	return string(appendUUID(append(v, '-')))
}
