// Package sipheader finds a SIP message's headers by name, as sipgo's
// GetHeader and GetHeaders do, without their cost: those lowercase the
// name asked and the name of each header they pass, an allocation for
// every name outside sipgo's short list (Expires, User-Agent, Event,
// Cisco's own), on every call. In a boot storm that was some 60
// allocations a phone in selfprovd alone.
package sipheader

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Lister is a message whose headers can be listed in order: a
// *sip.Request or a *sip.Response.
type Lister interface {
	Headers() []sip.Header
}

// Get returns the first header named name (case-insensitively), or nil.
func Get(m Lister, name string) sip.Header {
	for _, h := range m.Headers() {
		if strings.EqualFold(h.Name(), name) {
			return h
		}
	}
	return nil
}

// All returns every header named name (case-insensitively), in order.
func All(m Lister, name string) []sip.Header {
	var hs []sip.Header
	for _, h := range m.Headers() {
		if strings.EqualFold(h.Name(), name) {
			hs = append(hs, h)
		}
	}
	return hs
}
