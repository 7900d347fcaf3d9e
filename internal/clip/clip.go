// Package clip shortens hostile input for error and log texts. It imports
// only the standard library, so the core and the wire formats may use it.
package clip

import (
	"strings"
	"unicode/utf8"
)

// Ellipsis marks where String cut its input.
const Ellipsis = "…"

// String keeps hostile input out of long error and log texts: it returns at
// most max bytes of s, cut before a character rather than inside one and
// followed by Ellipsis when anything was cut. Bytes that are not UTF-8
// become U+FFFD, so the result is always valid text (for an XML screen, a
// JSON body or a TFTP error packet) whatever s holds. A short valid s is
// returned as it is, without allocating.
func String(s string, max int) string {
	if max < 0 {
		max = 0
	}
	if len(s) <= max {
		if utf8.ValidString(s) {
			return s
		}
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	// A cut inside an invalid sequence backs up to the byte before it;
	// ToValidUTF8 then replaces what is left of it.
	head := s[:cut]
	if !utf8.ValidString(head) {
		head = strings.ToValidUTF8(head, "\uFFFD")
	}
	return head + Ellipsis
}
