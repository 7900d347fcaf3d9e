package xmlsvc

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Query limits: a phone URL is at most 256 characters [UCM-PATCH]; the
// bounds leave room for the parameters a phone appends to one.
const (
	maxRawQuery   = 1024
	maxParams     = 16
	maxFieldBytes = 64 // user ID, PIN, token: longer is refused with a clear screen
)

var errQuery = errors.New("query")

// parseQuery reads a query string as phones send it. How a phone appends
// Input parameters to a URL that already has a query is unverified, so "?"
// separates parameters as "&" does ("name=SEP1?userid=a&pin=1"). A
// parameter repeated with a different value is refused: it is either a
// broken client or an attempt to smuggle a second device name.
func parseQuery(raw string) (map[string]string, error) {
	if len(raw) > maxRawQuery {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", errQuery, len(raw), maxRawQuery)
	}
	out := make(map[string]string, 4)
	n := 0
	for part := range strings.FieldsFuncSeq(raw, func(r rune) bool { return r == '&' || r == '?' }) {
		if n++; n > maxParams {
			return nil, fmt.Errorf("%w: more than %d parameters", errQuery, maxParams)
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("%w: parameter name %q is not URL-encoded properly", errQuery, k)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("%w: parameter %q is not URL-encoded properly", errQuery, key)
		}
		if key == "" {
			continue
		}
		if old, dup := out[key]; dup && old != val {
			return nil, fmt.Errorf("%w: parameter %q given twice with different values", errQuery, key)
		}
		out[key] = val
	}
	return out, nil
}

// checkField refuses input a phone cannot have typed: over-long, or
// outside printable ASCII (Input flags A, N and T only produce those).
func checkField(what, v string) error {
	if len(v) > maxFieldBytes {
		return fmt.Errorf("%s is longer than %d characters", what, maxFieldBytes)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return fmt.Errorf("%s must be printable ASCII", what)
		}
	}
	return nil
}
