package provision

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// FuzzCanonicalDeviceName: any accepted name is canonical (a fixed point)
// and within the product's limits; any refusal is ErrInvalid; IsDeviceName
// accepts exactly what it accepts.
func FuzzCanonicalDeviceName(f *testing.F) {
	for _, s := range []string{"SEP001122AABBCC", "sep001122aabbcc", "CSFalice", "BOTBOB", "SEP", "XYZ1", "TAB\x00x", "CSFjosé"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := CanonicalDeviceName(name)
		if IsDeviceName(name) != (err == nil) {
			t.Fatalf("%q: IsDeviceName says %v, CanonicalDeviceName %v", name, IsDeviceName(name), err)
		}
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

// FuzzParseSource: an address read from "host:port" or a bare address
// reads back the same from its own forms, and its source key contains it.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"192.0.2.1:5060", "[2001:db8::1]:443", "192.0.2.9", "[fe80::1%eth0]:80", "::ffff:10.0.0.1", "", "pipe", "1.2.3.4:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a := ParseSource(s)
		if !a.IsValid() {
			if k := sourceKey(a); k.IsValid() {
				t.Fatalf("%q: no address, key %v", s, k)
			}
			return
		}
		if b := ParseSource(a.String()); b != a {
			t.Fatalf("%q: %v reads back as %v", s, a, b)
		}
		if b := ParseSource(netip.AddrPortFrom(a, 5060).String()); b != a {
			t.Fatalf("%q: %v with a port reads back as %v", s, a, b)
		}
		k := sourceKey(a)
		if !k.IsValid() || !k.Contains(a.Unmap().WithZone("")) || (k.Bits() != 32 && k.Bits() != 64) {
			t.Fatalf("%q: key %v of %v", s, k, a)
		}
	})
}

// FuzzValidateDN: a DN is accepted exactly when it is 1 to 24 characters
// of digits, '*' and '#', with at most a leading '+'; a refusal is
// INVALID_ARGUMENT.
func FuzzValidateDN(f *testing.F) {
	for _, seed := range []string{"2001", "+14085551234", "*67#", "", "1 2", "12+3", "++1", "١٢٣", strings.Repeat("9", 24), strings.Repeat("9", 25), "20<1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, dn string) {
		want := len(dn) >= 1 && len(dn) <= 24
		for i := 0; i < len(dn) && want; i++ {
			c := dn[i]
			want = '0' <= c && c <= '9' || c == '*' || c == '#' || (c == '+' && i == 0)
		}
		err := ValidateDN(dn)
		if (err == nil) != want {
			t.Fatalf("ValidateDN(%q) = %v, want accepted %v", dn, err, want)
		}
		if err != nil && CodeOf(err) != CodeInvalid {
			t.Fatalf("ValidateDN(%q) = %v, not INVALID_ARGUMENT", dn, err)
		}
	})
}
