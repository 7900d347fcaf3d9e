package phonecfg

import (
	"bytes"
	"reflect"
	"regexp"
	"slices"
	"testing"
)

var stampShape = regexp.MustCompile(`^[0-9]{1,20}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func stamped(t *testing.T, d Device) ([]byte, string) {
	t.Helper()
	out, err := RenderDeviceStamped(d)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	return out, c.VersionStamp
}

// clone copies d deeply enough for a change to leave the fixture alone.
func clone(d Device) Device {
	d.CallManagers = slices.Clone(d.CallManagers)
	d.Lines = slices.Clone(d.Lines)
	return d
}

// Every input of the file changes the stamp, the inputs that are not the
// device's first of all; the same input keeps it.
func TestStampFollowsEveryRenderedInput(t *testing.T) {
	base := provisioned
	out, stamp := stamped(t, base)
	if !stampShape.MatchString(stamp) || stamp[:10] != "1732300500" {
		t.Fatalf("stamp %q: want <epoch of the stored version>-<uuid shape>", stamp)
	}
	again, stamp2 := stamped(t, clone(base))
	if stamp2 != stamp || !bytes.Equal(again, out) {
		t.Fatalf("the same input gave stamp %q then %q", stamp, stamp2)
	}
	// Apart from the stamp, the file is RenderDevice's.
	plain, err := RenderDevice(base)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := setVersionStamp(plain, stamp); !bytes.Equal(want, out) {
		t.Fatalf("stamped file differs from the rendered one beyond the stamp:\n%s", out)
	}

	changes := map[string]func(*Device){
		// Not the device's data: the daemon's configuration.
		"SIP port":              func(d *Device) { d.CallManagers[0].SIPPort = 5070 },
		"secured SIP port":      func(d *Device) { d.CallManagers[0].SecuredSIPPort = 5081 },
		"advertised address":    func(d *Device) { d.CallManagers[0].Host = "192.0.2.99" },
		"call manager added":    func(d *Device) { d.CallManagers = append(d.CallManagers, CallManager{Host: "cucm3", SIPPort: 5060}) },
		"call manager order":    func(d *Device) { d.CallManagers[0], d.CallManagers[1] = d.CallManagers[1], d.CallManagers[0] },
		"register expires":      func(d *Device) { d.RegisterExpires = 120 },
		"model load":            func(d *Device) { d.LoadInformation = "sip8845_65.14-3-1-0001-10" },
		"template idle URL":     func(d *Device) { d.IdleURL = "http://192.0.2.99:8080/xps/idle?name=SEP001122AABBCC" },
		"template services URL": func(d *Device) { d.ServicesURL = "http://192.0.2.99:8080/services" },
		"template auth URL":     func(d *Device) { d.AuthenticationURL = "http://192.0.2.99:8080/xps/authenticate" },
		"template directory":    func(d *Device) { d.DirectoryURL = "" },
		"idle timeout":          func(d *Device) { d.IdleTimeout = 9 },
		"transport":             func(d *Device) { d.Transport = TransportTLS },
		"device pool":           func(d *Device) { d.DevicePool = "Lab" },
		"call manager group":    func(d *Device) { d.CallManagerGroup = "Lab" },
		"locale":                func(d *Device) { d.UserLocale = "French_France" },
		// The device's own data.
		"stored version":    func(d *Device) { d.VersionStamp = "1732300500-0a1b2c3d-0000-4000-8000-000000000009" },
		"line DN":           func(d *Device) { d.Lines[0].DN = "2002" },
		"line label":        func(d *Device) { d.Lines[0].Label = "Front desk" },
		"line display name": func(d *Device) { d.Lines[1].DisplayName = "E. O'Brien" },
		"line contact":      func(d *Device) { d.Lines[0].Contact = "c" },
		"line max calls":    func(d *Device) { d.Lines[0].MaxCalls = 6 },
		"line busy trigger": func(d *Device) { d.Lines[0].BusyTrigger = 3 },
		"line removed":      func(d *Device) { d.Lines = d.Lines[:1] },
	}
	seen := map[string]string{stamp: "base"}
	for name, change := range changes {
		d := clone(base)
		change(&d)
		got, s := stamped(t, d)
		if bytes.Equal(got, out) {
			t.Fatalf("%s: the file did not change; fix the test", name)
		}
		if other, dup := seen[s]; dup {
			t.Errorf("%s: stamp %s is that of %s", name, s, other)
		}
		seen[s] = name
	}
}

func TestStampOfAnEmptyVersion(t *testing.T) {
	d := clone(webexClient)
	d.VersionStamp = ""
	_, s := stamped(t, d)
	if !stampShape.MatchString(s) || s[:2] != "0-" {
		t.Fatalf("stamp %q", s)
	}
}

// FuzzContentStamp: any stored version and content give a stamp of the
// product's shape, the same one each time, and the stored version's epoch.
func FuzzContentStamp(f *testing.F) {
	f.Add("1732300500-0a1b2c3d-0000-4000-8000-000000000001", []byte("<device/>"))
	f.Add("", []byte{})
	f.Add("x-1", []byte("a"))
	f.Add("123456789012345678901234", []byte("b"))
	f.Fuzz(func(t *testing.T, version string, data []byte) {
		s := ContentStamp(version, data)
		if !stampShape.MatchString(s) {
			t.Fatalf("stamp %q", s)
		}
		if ContentStamp(version, bytes.Clone(data)) != s {
			t.Fatal("not deterministic")
		}
		epoch := s[:len(s)-37]
		if epoch != "0" && !bytes.HasPrefix([]byte(version), []byte(epoch)) {
			t.Fatalf("epoch %q is not the start of %q", epoch, version)
		}
		if d := append(bytes.Clone(data), 'x'); ContentStamp(version, d) == s {
			t.Fatal("changed content kept the stamp")
		}
	})
}

// BenchmarkRender: what the stamp adds to a render (a cache miss).
func BenchmarkRender(b *testing.B) {
	for _, bc := range []struct {
		name   string
		render func(Device) ([]byte, error)
	}{{"plain", RenderDevice}, {"stamped", RenderDeviceStamped}, {"stamp-only", restampOnly}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bc.render(provisioned); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var renderedProvisioned, _ = RenderDevice(provisioned)

// restampOnly is the step RenderDeviceStamped adds, on a file already
// rendered.
func restampOnly(d Device) ([]byte, error) {
	return setVersionStamp(renderedProvisioned, ContentStamp(d.VersionStamp, renderedProvisioned))
}

// FuzzRenderDeviceStamped: whatever the device holds (user data with
// markup, a stored version that is not a stamp), the stamped file parses
// to the same device as the plain one but for a stamp of the product's
// shape, and the stamp changes with the content.
func FuzzRenderDeviceStamped(f *testing.F) {
	f.Add("Auto 1000", "http://192.0.2.10:8080/xps/idle?name=SEP001122AABBCC", "1732300000-6c1f0b52")
	f.Add("Auto 1000", "", "1732300500-0a1b2c3d-0000-4000-8000-000000000001")
	f.Add("<versionStamp>x</versionStamp>", "", "")
	f.Add("a & b", "http://h/?a=1&b=<2>", "<versionStamp/>")
	f.Fuzz(func(t *testing.T, label, idleURL, version string) {
		d := clone(autoRegistered)
		d.Lines[0].DisplayName, d.IdleURL, d.VersionStamp = label, idleURL, version
		plain, err := RenderDevice(d)
		if err != nil {
			return // refused input: RenderDeviceStamped must refuse it too
		}
		out, err := RenderDeviceStamped(d)
		if err != nil {
			t.Fatalf("plain renders, stamped fails: %v", err)
		}
		want, err := Parse(plain)
		if err != nil {
			return // not something the parser reads back; covered by FuzzParse
		}
		got, err := Parse(out)
		if err != nil {
			t.Fatalf("stamped file does not parse: %v\n%s", err, out)
		}
		if !stampShape.MatchString(got.VersionStamp) {
			t.Fatalf("stamp %q", got.VersionStamp)
		}
		got.VersionStamp, want.VersionStamp = "", ""
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("stamped file says %+v, plain %+v", got, want)
		}
		d.Lines[0].Label += "x"
		if again, err := RenderDeviceStamped(d); err == nil && bytes.Equal(again, out) {
			t.Fatal("a changed label kept the file")
		}
	})
}

// The stamp replaces the stored version whether it has the stamp's length
// (written in place) or not (the file is copied around it).
func TestStampReplacesTheStoredVersion(t *testing.T) {
	for _, version := range []string{"1732300500-0a1b2c3d-0000-4000-8000-000000000001", "1732300000-6c1f0b52", ""} {
		d := clone(autoRegistered)
		d.VersionStamp = version
		plain, err := RenderDevice(d)
		if err != nil {
			t.Fatal(err)
		}
		stamp := ContentStamp(version, plain)
		old := "<versionStamp>" + version + "</versionStamp>"
		if version == "" {
			old = "<versionStamp></versionStamp>"
			if !bytes.Contains(plain, []byte(old)) {
				old = "<versionStamp/>"
			}
		}
		want := bytes.Replace(plain, []byte(old), []byte("<versionStamp>"+stamp+"</versionStamp>"), 1)
		got, err := RenderDeviceStamped(d)
		if err != nil || !bytes.Equal(got, want) || bytes.Equal(want, plain) {
			t.Fatalf("version %q: stamped file differs from the plain one with %s in place of %s (%v)\n%s", version, stamp, old, err, got)
		}
	}
}
