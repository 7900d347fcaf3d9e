package provision

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestNewUUID: version 4, RFC 4122 variant, lower-case 8-4-4-4-12, and
// never the same twice.
func TestNewUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		u := newUUID()
		if !uuidV4.MatchString(u) {
			t.Fatalf("%q is not a version 4 UUID", u)
		}
		if seen[u] {
			t.Fatalf("%q came twice", u)
		}
		seen[u] = true
	}
}

// TestNewVersion: CUCM's <epoch seconds>-<uuid>.
func TestNewVersion(t *testing.T) {
	now := time.Unix(1796061860, 123)
	v := newVersion(now)
	prefix := strconv.FormatInt(now.Unix(), 10) + "-"
	if len(v) != len(prefix)+36 || v[:len(prefix)] != prefix || !uuidV4.MatchString(v[len(prefix):]) {
		t.Fatalf("version %q, want %s<uuid>", v, prefix)
	}
}

func TestMayAutoRegister(t *testing.T) {
	for name, want := range map[string]bool{
		"SEP001122AABBCC": true, "CSFALICE": false, "CSFalice": false, "BOTBOB": false, "TCTBOB": false, "TABBOB": false,
	} {
		canon, err := CanonicalDeviceName(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := MayAutoRegister(canon); got != want {
			t.Errorf("MayAutoRegister(%s) = %v, want %v", canon, got, want)
		}
	}
}

// The TFTP server asks IsDeviceName of every requested file name, and
// CanonicalDeviceName of every device name, mostly spelled canonically.
func TestDeviceNameDoesNotAllocate(t *testing.T) {
	for _, name := range []string{"SEP001122AABBCC", "CSFalice", "BOTBOB"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = CanonicalDeviceName(name) }); n != 0 {
			t.Errorf("CanonicalDeviceName(%q) allocates %v times", name, n)
		}
	}
	for _, name := range []string{"SEP001122AABBCC", "csfAlice", "SEP00112233445G", "XYZ1", "a"} {
		if n := testing.AllocsPerRun(100, func() { _ = IsDeviceName(name) }); n != 0 {
			t.Errorf("IsDeviceName(%q) allocates %v times", name, n)
		}
	}
}

func TestDeviceNameFromMAC(t *testing.T) {
	for mac, want := range map[string]string{
		"001122aabbcc": "SEP001122AABBCC", "00:11:22:AA:BB:CC": "SEP001122AABBCC",
		"0011.22aa.bbcc": "SEP001122AABBCC", "00-11-22-aa-bb-cc": "SEP001122AABBCC",
	} {
		if got, err := DeviceNameFromMAC(mac); err != nil || got != want {
			t.Errorf("DeviceNameFromMAC(%q) = %q, %v; want %q", mac, got, err, want)
		}
	}
	for _, mac := range []string{"", "001122aabbc", "001122aabbcg", "0011.22aa.bb", "001122aabbcc0"} {
		if got, err := DeviceNameFromMAC(mac); err == nil {
			t.Errorf("DeviceNameFromMAC(%q) = %q, want an error", mac, got)
		}
	}
}
