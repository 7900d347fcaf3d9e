package provision

import (
	"errors"
	"strings"
	"testing"
)

// FuzzCanonicalDeviceName: any accepted name is canonical (a fixed point)
// and within the product's limits; any refusal is ErrInvalid.
func FuzzCanonicalDeviceName(f *testing.F) {
	for _, s := range []string{"SEP001122AABBCC", "sep001122aabbcc", "CSFalice", "BOTBOB", "SEP", "XYZ1", "TAB\x00x", "CSFjosé"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := CanonicalDeviceName(name)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q: error %v is not ErrInvalid", name, err)
			}
			return
		}
		if len(got) < 4 || len(got) > MaxDeviceNameLen || !strings.EqualFold(got, name) {
			t.Fatalf("%q became %q", name, got)
		}
		again, err := CanonicalDeviceName(got)
		if err != nil || again != got {
			t.Fatalf("%q is not a fixed point: %q, %v", got, again, err)
		}
	})
}

// FuzzDNRangeBounds: an accepted range formats back to its own ends.
func FuzzDNRangeBounds(f *testing.F) {
	for _, r := range [][2]string{{"1000", "1999"}, {"0100", "0199"}, {"2000", "1000"}, {"1", "12"}, {"", ""}, {"999999999999999", "999999999999999"}} {
		f.Add(r[0], r[1])
	}
	f.Fuzz(func(t *testing.T, start, end string) {
		s, e, width, err := DNRange{Start: start, End: end}.Bounds()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q..%q: error %v is not ErrInvalid", start, end, err)
			}
			return
		}
		if s > e || FormatDN(s, width) != start || FormatDN(e, width) != end {
			t.Fatalf("%q..%q gave %d..%d width %d", start, end, s, e, width)
		}
	})
}
