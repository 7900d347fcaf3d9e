package phonecfg

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"selfprov/internal/clip"
)

// renderDeviceTree is RenderDevice as it was written with etree: the
// reference the direct writer must match byte for byte.
func renderDeviceTree(d Device) ([]byte, error) {
	if d.Name == "" {
		return nil, invalidf("device has no name")
	}
	if len(d.CallManagers) == 0 {
		return nil, invalidf("device %s has no call manager", clip.String(d.Name, 40))
	}
	transport, err := transportCode(d.Transport)
	if err != nil {
		return nil, invalidf("device %s: %v", clip.String(d.Name, 40), err)
	}
	for _, u := range []struct{ name, v string }{
		{"idleURL", d.IdleURL}, {"servicesURL", d.ServicesURL},
		{"authenticationURL", d.AuthenticationURL}, {"directoryURL", d.DirectoryURL},
	} {
		if len(u.v) > MaxURLLen {
			return nil, invalidf("device %s: %s is %d characters, phones accept %d", clip.String(d.Name, 40), u.name, len(u.v), MaxURLLen)
		}
	}
	if d.IdleTimeout < 0 || d.RegisterExpires < 0 {
		return nil, invalidf("device %s: idleTimeout and registerExpires must not be negative", clip.String(d.Name, 40))
	}

	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("device")
	text(root, "fullConfig", "true")
	text(root, "deviceProtocol", "SIP")
	text(root, "deviceName", d.Name)

	pool := root.CreateElement("devicePool")
	text(pool, "name", d.DevicePool)
	writeCallManagerGroup(pool, d.CallManagerGroup, d.CallManagers)
	text(pool, "connectionMonitorDuration", "120")

	sp := root.CreateElement("sipProfile")
	text(sp.CreateElement("sipProxies"), "registerWithProxy", "true")
	if d.RegisterExpires > 0 {
		st := sp.CreateElement("sipStack")
		text(st, "timerRegisterExpires", strconv.Itoa(d.RegisterExpires))
		text(st, "timerRegisterDelta", "5")
	}
	lines := sp.CreateElement("sipLines")
	firstPort := d.CallManagers[0].SIPPort
	if firstPort == 0 {
		firstPort = DefaultSIPPort
	}
	for i, l := range d.Lines {
		if l.Button < 1 {
			return nil, invalidf("device %s: line %d has button %d, buttons start at 1", clip.String(d.Name, 40), i+1, l.Button)
		}
		if l.Port < 0 || l.Port > 65535 || l.MaxCalls < 0 || l.BusyTrigger < 0 {
			return nil, invalidf("device %s: line %d has a port, maxNumCalls or busyTrigger out of range", clip.String(d.Name, 40), i+1)
		}
		le := lines.CreateElement("line")
		le.CreateAttr("button", strconv.Itoa(l.Button))
		le.CreateAttr("lineIndex", strconv.Itoa(i+1))
		feature := l.FeatureID
		if feature == 0 {
			feature = FeatureLine
		}
		text(le, "featureID", strconv.Itoa(feature))
		text(le, "featureLabel", clipRunes(l.Label, MaxLabelLen))
		proxy := l.Proxy
		if proxy == "" {
			proxy = ProxyUseCallManager
		}
		text(le, "proxy", proxy)
		port := l.Port
		if port == 0 {
			port = firstPort
		}
		text(le, "port", strconv.Itoa(port))
		text(le, "name", l.DN)
		text(le, "displayName", l.DisplayName)
		text(le, "contact", l.Contact)
		if l.MaxCalls > 0 {
			text(le, "maxNumCalls", strconv.Itoa(l.MaxCalls))
		}
		if l.BusyTrigger > 0 {
			text(le, "busyTrigger", strconv.Itoa(l.BusyTrigger))
		}
	}

	text(root, "loadInformation", d.LoadInformation)
	if d.UserLocale != "" {
		ul := root.CreateElement("userLocale")
		text(ul, "name", d.UserLocale)
		if lc, ok := langCodes[d.UserLocale]; ok {
			text(ul, "langCode", lc)
		}
	}
	text(root, "versionStamp", d.VersionStamp)
	text(root, "transportLayerProtocol", transport)
	text(root, "deviceSecurityMode", "1") // non-secure
	text(root, "idleTimeout", strconv.Itoa(d.IdleTimeout))
	text(root, "idleURL", d.IdleURL)
	text(root, "authenticationURL", d.AuthenticationURL)
	text(root, "directoryURL", d.DirectoryURL)
	text(root, "servicesURL", d.ServicesURL)
	return write(doc)
}

// TestRenderDeviceAsTree: the direct writer writes what etree wrote for
// the same device, byte for byte, escapes and odd values included.
func TestRenderDeviceAsTree(t *testing.T) {
	odd := provisioned
	odd.Lines = append([]Line(nil), provisioned.Lines...)
	odd.Lines[0].Label = "a&b <c> \"d\" 'e'\r\n\tf\x00g\xffh\U0001F600" + strings.Repeat("é", 40)
	odd.Lines[0].DisplayName = " "
	odd.Lines[0].Contact = ""
	odd.DevicePool = "]]>\uFFFE"
	noLines := autoRegistered
	noLines.Lines = nil
	noStack := autoRegistered
	noStack.RegisterExpires = 0
	locale := provisioned
	locale.UserLocale = "English_United_States"
	for name, d := range map[string]Device{
		"autoregistered": autoRegistered, "provisioned": provisioned, "webex": webexClient,
		"odd values": odd, "no lines": noLines, "no sipStack": noStack, "locale": locale,
	} {
		checkAsTree(t, name, d)
	}
}

// FuzzRenderDeviceAsTree feeds the direct writer and etree the same
// fields: both answer the same bytes, or both refuse with the same error.
func FuzzRenderDeviceAsTree(f *testing.F) {
	f.Add("SEP001122AABBCC", "Default", "udp", "http://h/x?a=1&b=2", "Line <1>", "1001", "Alice", 1, 2, 0)
	f.Add("", "", "", "", "", "", "", 0, 0, 0)
	f.Add("CSFALICE", "p\r\n", "TCP", "\xff", "\x01", "2001", " ", 3, 0, 65536)
	f.Fuzz(func(t *testing.T, name, pool, transport, url, label, dn, display string, button, calls, port int) {
		d := provisioned
		d.Name, d.DevicePool, d.Transport, d.IdleURL = name, pool, transport, url
		d.Lines = []Line{{Button: button, DN: dn, Label: label, DisplayName: display, MaxCalls: calls, Port: port}}
		checkAsTree(t, name, d)
	})
}

func checkAsTree(t *testing.T, name string, d Device) {
	t.Helper()
	got, err := RenderDevice(d)
	want, werr := renderDeviceTree(d)
	if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
		t.Fatalf("%s: error %v, etree's %v", name, err, werr)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: differs from etree's:\n%s\n---\n%s", name, got, want)
	}
}

// BenchmarkRenderDevice renders a provisioned phone's config directly
// and, for comparison, through etree.
func BenchmarkRenderDevice(b *testing.B) {
	for name, render := range map[string]func(Device) ([]byte, error){"direct": RenderDevice, "etree": renderDeviceTree} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := render(provisioned); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
