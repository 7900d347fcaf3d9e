package phonecfg

import (
	"errors"
	"flag"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"selfprov/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var cms = []CallManager{{Host: "192.0.2.10", SIPPort: 5060, SecuredSIPPort: 5061}}

// Fixtures shared with the golden files.
var (
	autoRegistered = Device{
		Name:              "SEP001122AABBCC",
		DevicePool:        "Default",
		CallManagerGroup:  "Default",
		CallManagers:      cms,
		Transport:         TransportTCP,
		RegisterExpires:   3600,
		IdleURL:           "http://192.0.2.10:8080/xps/idle?name=SEP001122AABBCC",
		IdleTimeout:       5,
		AuthenticationURL: "http://192.0.2.10:8080/xps/authenticate",
		LoadInformation:   "sip8845_65.14-2-1-0201-10",
		UserLocale:        "English_United_States",
		VersionStamp:      "1732300000-6c1f0b52-2d4e-4c1b-9a51-0f3e8d2a7b11",
		Lines: []Line{{
			Button: 1, DN: "1000", Label: "1000", DisplayName: "Auto 1000",
			Contact: "6c1f0b52-2d4e-4c1b-9a51-0f3e8d2a7b11", MaxCalls: 2, BusyTrigger: 1,
		}},
	}
	provisioned = Device{
		Name:              "SEP001122AABBCC",
		DevicePool:        "Default",
		CallManagerGroup:  "Default",
		CallManagers:      []CallManager{{Host: "cucm1.example.com", SIPPort: 5060, SecuredSIPPort: 5061}, {Host: "cucm2.example.com", SIPPort: 5070, SecuredSIPPort: 5071}},
		Transport:         TransportUDP,
		RegisterExpires:   3600,
		AuthenticationURL: "http://cucm1.example.com:8080/xps/authenticate",
		ServicesURL:       "http://cucm1.example.com:8080/services?name=SEP001122AABBCC&lang=en",
		DirectoryURL:      "http://cucm1.example.com:8080/directory",
		LoadInformation:   "sip8845_65.14-2-1-0201-10",
		UserLocale:        "English_United_States",
		VersionStamp:      "1732300500-0a1b2c3d-0000-4000-8000-000000000001",
		Lines: []Line{
			{Button: 1, DN: "2001", Label: "2001 - Adams & <Sons>", DisplayName: "Alice Adams", Contact: "0a1b2c3d-0000-4000-8000-000000000002", MaxCalls: 4, BusyTrigger: 2},
			{Button: 2, DN: "2101", Label: "Shared line with a label longer than thirty", DisplayName: "Élodie \"Lo\" O'Brien", Contact: "0a1b2c3d-0000-4000-8000-000000000003"},
		},
	}
	webexClient = Device{
		Name:              "CSFALICE",
		DevicePool:        "Default",
		CallManagerGroup:  "Default",
		CallManagers:      cms,
		Transport:         TransportTCP,
		AuthenticationURL: "http://192.0.2.10:8080/xps/authenticate",
		UserLocale:        "English_United_States",
		VersionStamp:      "1732300900-0a1b2c3d-0000-4000-8000-000000000004",
		Lines: []Line{{
			Button: 1, DN: "2001", Label: "2001", DisplayName: "Alice Adams", Contact: "0a1b2c3d-0000-4000-8000-000000000005",
		}},
	}
	defaults = Default{
		CallManagerGroup: "Default",
		CallManagers:     cms,
		Loads: []Load{
			{Model: 36224, ModelName: "Cisco 8845", Load: "sip8845_65.14-2-1-0201-10"},
			{Model: 684, ModelName: "Cisco 8851", Load: "sip88xx.14-2-1-0201-10"},
			{Model: 503, ModelName: "Cisco Unified Client Services Framework"}, // no load: left out
		},
		AutoRegistration:           true,
		SelfProvisioningSecureMode: true,
		VersionStamp:               "1732300000-00000000-0000-4000-8000-000000000000",
	}
)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", name), got, *update)
}

func TestRenderDeviceGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		dev  Device
	}{
		{"autoregistered.cnf.xml", autoRegistered},
		{"provisioned.cnf.xml", provisioned},
		{"webex-csf.cnf.xml", webexClient},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out, err := RenderDevice(tc.dev)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file, out)

			// Parsing gives the device back, with the defaults and limits
			// the renderer applied made explicit.
			c, err := Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if c.Default != nil {
				t.Fatal("a device file parsed as XMLDefault")
			}
			want := tc.dev
			want.Lines = append([]Line(nil), tc.dev.Lines...)
			for i := range want.Lines {
				l := &want.Lines[i]
				l.FeatureID, l.Proxy = FeatureLine, ProxyUseCallManager
				if l.Port == 0 {
					l.Port = want.CallManagers[0].SIPPort
				}
				l.Label = clipRunes(l.Label, MaxLabelLen)
			}
			if !reflect.DeepEqual(c.Device, want) {
				t.Errorf("parsed device differs:\n got %+v\nwant %+v", c.Device, want)
			}
		})
	}
}

func TestRenderDefaultGolden(t *testing.T) {
	out, err := RenderDefault(defaults)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "XMLDefault.cnf.xml", out)
	c, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if c.Default == nil {
		t.Fatal("XMLDefault parsed as a device file")
	}
	want := defaults
	want.Loads = defaults.Loads[:2]
	if !reflect.DeepEqual(*c.Default, want) {
		t.Errorf("parsed XMLDefault differs:\n got %+v\nwant %+v", *c.Default, want)
	}
	if got := c.LoadFor(36224); got != "sip8845_65.14-2-1-0201-10" {
		t.Errorf("LoadFor(36224) = %q", got)
	}
	if got := c.LoadFor(503); got != "" {
		t.Errorf("LoadFor(503) = %q, want none", got)
	}
	host, port, err := c.SIPServer()
	if err != nil || host != "192.0.2.10" || port != 5060 {
		t.Errorf("SIPServer() = %q, %d, %v", host, port, err)
	}
}

func TestSIPServer(t *testing.T) {
	c := &Config{Device: provisioned}
	if h, p, _ := c.SIPServer(); h != "cucm1.example.com" || p != 5060 {
		t.Errorf("SIPServer() = %s:%d", h, p)
	}
	c.Transport = TransportTLS
	if _, p, _ := c.SIPServer(); p != 5061 {
		t.Errorf("SIPServer() over TLS port = %d, want 5061", p)
	}
	if _, _, err := (&Config{}).SIPServer(); err == nil {
		t.Error("SIPServer() without call managers gave no error")
	}
}

func TestFileName(t *testing.T) {
	if got := FileName("SEP001122AABBCC"); got != "SEP001122AABBCC.cnf.xml" {
		t.Errorf("FileName = %q", got)
	}
}

func TestRenderRejects(t *testing.T) {
	long := "http://x/" + strings.Repeat("a", MaxURLLen)
	for _, tc := range []struct {
		name   string
		change func(*Device)
		want   string
	}{
		{"no name", func(d *Device) { d.Name = "" }, "no name"},
		{"no call manager", func(d *Device) { d.CallManagers = nil }, "no call manager"},
		{"bad transport", func(d *Device) { d.Transport = "sctp" }, "transport"},
		{"long idle URL", func(d *Device) { d.IdleURL = long }, "idleURL"},
		{"long services URL", func(d *Device) { d.ServicesURL = long }, "servicesURL"},
		{"negative idle timeout", func(d *Device) { d.IdleTimeout = -1 }, "negative"},
		{"button 0", func(d *Device) { d.Lines = []Line{{Button: 0, DN: "1"}} }, "button 0"},
		{"port out of range", func(d *Device) { d.Lines = []Line{{Button: 1, DN: "1", Port: 70000}} }, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := autoRegistered
			tc.change(&d)
			_, err := RenderDevice(d)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("RenderDevice error = %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := RenderDefault(Default{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("RenderDefault without call managers: %v", err)
	}
	if _, err := RenderDefault(Default{CallManagers: cms, Loads: []Load{{Model: -1, Load: "x"}}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("RenderDefault with model -1: %v", err)
	}
}

func TestRenderSanitisesText(t *testing.T) {
	d := autoRegistered
	d.Lines = []Line{{Button: 1, DN: "1000", DisplayName: "bell\x07 </displayName><x>"}}
	out, err := RenderDevice(d)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(out)
	if err != nil {
		t.Fatalf("rendered file does not parse: %v\n%s", err, out)
	}
	if got := c.Lines[0].DisplayName; got != "bell\uFFFD </displayName><x>" {
		t.Errorf("displayName = %q", got)
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "no root"},
		{"not XML", "SEP001122AABBCC", "no root"},
		{"truncated", "<device><devicePool>", "not XML"},
		{"wrong root", "<CiscoIPPhoneText/>", "neither"},
		{"bad port", `<device><sipProfile><sipLines><line button="1"><port>x</port></line></sipLines></sipProfile></device>`, "sipLines/line[1]/port"},
		{"port out of range", `<device><sipProfile><sipLines><line button="1"><port>70000</port></line></sipLines></sipProfile></device>`, "not in 1..65535"},
		{"bad button", `<device><sipProfile><sipLines><line button="-3"></line></sipLines></sipProfile></device>`, "button"},
		{"bad transport", `<device><transportLayerProtocol>9</transportLayerProtocol></device>`, "transportLayerProtocol"},
		{"bad idle timeout", `<device><idleTimeout>soon</idleTimeout></device>`, "idleTimeout"},
		{"member without host", `<device><devicePool><callManagerGroup><members><member><callManager/></member></members></callManagerGroup></devicePool></device>`, "processNodeName"},
		{"bad sip port", `<Default><callManagerGroup><members><member><callManager><ports><sipPort>0</sipPort></ports><processNodeName>h</processNodeName></callManager></member></members></callManagerGroup></Default>`, "sipPort"},
		{"bad model id", `<Default><loadInformationX model="m">l</loadInformationX></Default>`, "loadInformationX"},
		{"bad bool", `<Default><autoRegistration>maybe</autoRegistration></Default>`, "autoRegistration"},
		{"too deep", strings.Repeat("<device>", 40) + strings.Repeat("</device>", 40), "not XML"},
		{"too large", "<device>" + strings.Repeat(" ", MaxFileSize) + "</device>", "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse error = %v, want ErrMalformed mentioning %q", err, tc.want)
			}
		})
	}
}

// TestParseCUCMShape reads a file in CUCM's own shape: namespaced root
// attributes, elements this package does not write, and transport 4.
func TestParseCUCMShape(t *testing.T) {
	in := `<?xml version="1.0" encoding="UTF-8"?>
<device xsi:type="axl:XIPPhone" ctiid="12">
<fullConfig>true</fullConfig>
<deviceProtocol>SIP</deviceProtocol>
<devicePool uuid="{1b1b9eb6-7803-11d3-bdf0-00108302ead1}">
<name>Default</name>
<dateTimeSetting><dateTemplate>D/M/Y</dateTemplate></dateTimeSetting>
<callManagerGroup><name>Default</name><tftpDefault>true</tftpDefault><members>
<member priority="0"><callManager><name>cm1</name><ports><ethernetPhonePort>2000</ethernetPhonePort><sipPort>5060</sipPort><securedSipPort>5061</securedSipPort></ports><processNodeName>10.0.0.5</processNodeName></callManager></member>
</members></callManagerGroup>
</devicePool>
<sipProfile><sipLines>
<line button="1" lineIndex="1"><featureID>9</featureID><featureLabel>4001</featureLabel><proxy>USECALLMANAGER</proxy><port>5060</port><name>4001</name><displayName>Front desk</displayName><contact>e1f0c9a2-1111-2222-3333-444455556666</contact><autoAnswer><autoAnswerEnabled>2</autoAnswerEnabled></autoAnswer></line>
<line button="2" lineIndex="2"><featureID>2</featureID><featureLabel>Reception</featureLabel><speedDialNumber>4000</speedDialNumber></line>
</sipLines></sipProfile>
<versionStamp>1700000000-a1b2</versionStamp>
<transportLayerProtocol>4</transportLayerProtocol>
<idleTimeout>0</idleTimeout>
</device>`
	c, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if c.Transport != TransportTCP || len(c.Lines) != 2 || c.Lines[0].DN != "4001" || c.Lines[1].FeatureID != 2 {
		t.Errorf("parsed %+v", c.Device)
	}
	if h, p, _ := c.SIPServer(); h != "10.0.0.5" || p != 5060 {
		t.Errorf("SIPServer() = %s:%d", h, p)
	}
}
