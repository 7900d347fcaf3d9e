package axl

import (
	"crypto/sha1"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// uuidOf is the stable identifier AXL shows for an object: a name-based
// UUID of its kind and key, in CUCM's braced upper-case form. The store
// keys objects by name, so the same object always shows the same UUID.
func uuidOf(kind, key string) string {
	h := sha1.Sum([]byte(kind + "\x00" + strings.ToUpper(key)))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("{%X-%X-%X-%X-%X}", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// maxPatternLen bounds a searchCriteria pattern, so matching stays cheap.
const maxPatternLen = 256

// like matches AXL's searchCriteria patterns, SQL LIKE as CUCM runs them:
// '%' any run of characters, '_' one character, case-insensitively.
func like(pattern, s string) bool {
	p, v := []rune(strings.ToLower(pattern)), []rune(strings.ToLower(s))
	// Iterative match with backtracking to the last '%': linear in
	// practice and never exponential.
	pi, vi, star, mark := 0, 0, -1, 0
	for vi < len(v) {
		switch {
		case pi < len(p) && (p[pi] == '_' || p[pi] == v[vi]):
			pi++
			vi++
		case pi < len(p) && p[pi] == '%':
			star, mark = pi, vi
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			vi = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}

// criteria reads a list request's searchCriteria: at least one of the
// named elements, as CUCM requires.
func criteria(req *Node, names ...string) (map[string]string, error) {
	sc := req.Child("searchCriteria")
	if sc == nil {
		return nil, required("searchCriteria")
	}
	out := map[string]string{}
	for _, k := range sc.Kids {
		known := false
		for _, n := range names {
			known = known || k.Name == n
		}
		if !known {
			return nil, clientFault(CodeInvalid, "searchCriteria %s is not one of %s", k.Name, strings.Join(names, ", "))
		}
		v := strings.TrimSpace(k.Text)
		if utf8.RuneCountInString(v) > maxPatternLen {
			return nil, clientFault(CodeInvalid, "searchCriteria %s is longer than %d characters", k.Name, maxPatternLen)
		}
		out[k.Name] = v
	}
	if len(out) == 0 {
		return nil, clientFault(CodeRequired, "At least one element under searchCriteria has to be mentioned")
	}
	return out, nil
}

// matches reports whether every criterion matches the object's field.
func matches(crit map[string]string, field func(string) string) bool {
	for k, pat := range crit {
		if !like(pat, field(k)) {
			return false
		}
	}
	return true
}

// page is a list request's skip and first.
type page struct{ skip, first int }

func pageOf(req *Node) (page, error) {
	var p page
	for _, f := range []struct {
		name string
		dst  *int
	}{{"skip", &p.skip}, {"first", &p.first}} {
		v := req.Value(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 31)
		if err != nil {
			return page{}, clientFault(CodeInvalid, "%s %q is not a whole number", f.name, v)
		}
		*f.dst = int(n)
	}
	return p, nil
}

// take applies skip and first to the i-th match (from 0): keep reports
// whether to return it, more whether later matches can still be kept.
func (p page) take(i int) (keep, more bool) {
	if i < p.skip {
		return false, true
	}
	if p.first > 0 && i >= p.skip+p.first {
		return false, false
	}
	return true, p.first == 0 || i < p.skip+p.first-1
}

// returned keeps the children of e that returnedTags names; without
// returnedTags, or with an empty one, e stays whole.
func returned(e *El, rt *Node) *El {
	if rt == nil || len(rt.Kids) == 0 {
		return e
	}
	want := make(map[string]bool, len(rt.Kids))
	for _, k := range rt.Kids {
		want[k.Name] = true
	}
	kept := e.Kids[:0:0]
	for _, k := range e.Kids {
		if want[k.Name] {
			kept = append(kept, k)
		}
	}
	out := *e
	out.Kids = kept
	return &out
}

// value is a request's text at path, with set telling whether the element
// was given at all (an empty element clears a field).
func value(n *Node, path ...string) (v string, set bool) {
	return n.Value(path...), n.Has(path...)
}

// boolOf reads AXL's booleans ("true"/"t"/"1").
func boolOf(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "t", "1":
		return true
	}
	return false
}

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func atoi(field, s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, clientFault(CodeInvalid, "%s %q is not a whole number", field, s)
	}
	return n, nil
}
