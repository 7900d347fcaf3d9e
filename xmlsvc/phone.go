package xmlsvc

import (
	"net/http"
	"strconv"
	"strings"
)

// Phone request headers [XSI].
const (
	headerModelName = "x-CiscoIPPhoneModelName" // e.g. CP-7970G
	headerDisplay   = "x-CiscoIPPhoneDisplay"   // width, height, depth, C|G
)

// layout is where a model family expects its soft keys (protocol.md §5):
// 79xx put Select on 1 and Exit on 3; 78xx/88xx put Exit on 1 and Select
// on 2. The third key (Backspace on the login screen) takes what is left.
type layout struct {
	family             string // metric-safe: legacy, modern
	selectKey, exitKey int
	otherKey           int
	compact            bool // small display: shorter wording
}

var (
	legacyLayout = layout{family: "79xx", selectKey: 1, otherKey: 2, exitKey: 3}
	modernLayout = layout{family: "78xx_88xx", exitKey: 1, selectKey: 2, otherKey: 3}
)

// phoneLayout picks the layout from the phone's model header, else from the
// catalogue family of the device's model, else the 78xx/88xx one.
func phoneLayout(r *http.Request, catalogueFamily string) layout {
	l := modernLayout
	model := strings.ToUpper(strings.TrimSpace(r.Header.Get(headerModelName)))
	switch {
	case strings.HasPrefix(model, "CP-79"):
		l = legacyLayout
	case strings.HasPrefix(model, "CP-"):
		// 78xx, 88xx and anything newer use the modern positions.
	case strings.HasPrefix(catalogueFamily, "sip79"), catalogueFamily == "cipc":
		l = legacyLayout
	}
	if d, ok := parseDisplay(r.Header.Get(headerDisplay)); ok && (d.width < 200 || d.height < 100) {
		l.compact = true
	}
	return l
}

// display is the x-CiscoIPPhoneDisplay header: "298, 168, 12, C".
type display struct {
	width, height, depth int
	colour               bool
}

// parseDisplay reads the display header; ok is false when it is absent or
// not four comma-separated fields of sane numbers and C or G.
func parseDisplay(h string) (d display, ok bool) {
	if h == "" || len(h) > 64 {
		return d, false
	}
	f := strings.Split(h, ",")
	if len(f) != 4 {
		return d, false
	}
	nums := [3]*int{&d.width, &d.height, &d.depth}
	for i, p := range nums {
		n, err := strconv.Atoi(strings.TrimSpace(f[i]))
		if err != nil || n <= 0 || n > 10000 {
			return display{}, false
		}
		*p = n
	}
	switch strings.ToUpper(strings.TrimSpace(f[3])) {
	case "C":
		d.colour = true
	case "G":
	default:
		return display{}, false
	}
	return d, true
}
