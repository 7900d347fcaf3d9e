package phonecfg

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/beevik/etree"

	"selfprov/internal/clip"
	"selfprov/internal/xmlwrite"
)

// Limits the phones enforce; longer values are cut or refused.
const (
	MaxURLLen   = 255 // every URL element
	MaxLabelLen = 30  // featureLabel, in characters
)

// ErrInvalid is wrapped by every render error: the device cannot be
// written as a config a phone accepts.
var ErrInvalid = errors.New("phonecfg: invalid config")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// RenderDevice writes the device's configuration file,
// SEP<MAC>.cnf.xml or <NAME>.cnf.xml. It is written straight into one
// buffer, as etree would write the same tree (indented by one space, text
// escaped canonically, an empty element closed at once): every phone's
// config is rendered when it auto-registers and again when it is
// provisioned, and building the tree cost several times the writing.
func RenderDevice(d Device) ([]byte, error) {
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
	for i, l := range d.Lines {
		if l.Button < 1 {
			return nil, invalidf("device %s: line %d has button %d, buttons start at 1", clip.String(d.Name, 40), i+1, l.Button)
		}
		if l.Port < 0 || l.Port > 65535 || l.MaxCalls < 0 || l.BusyTrigger < 0 {
			return nil, invalidf("device %s: line %d has a port, maxNumCalls or busyTrigger out of range", clip.String(d.Name, 40), i+1)
		}
	}

	w := &xmlwrite.Writer{B: make([]byte, 0, 1536+512*len(d.Lines))}
	w.B = append(w.B, xmlwrite.Prolog...)
	w.Open("device")
	w.Text("fullConfig", "true")
	w.Text("deviceProtocol", "SIP")
	w.Text("deviceName", d.Name)

	w.Open("devicePool")
	w.Text("name", d.DevicePool)
	writeCallManagers(w, d.CallManagerGroup, d.CallManagers)
	w.Text("connectionMonitorDuration", "120")
	w.Close("devicePool")

	w.Open("sipProfile")
	w.Open("sipProxies")
	w.Text("registerWithProxy", "true")
	w.Close("sipProxies")
	if d.RegisterExpires > 0 {
		w.Open("sipStack")
		w.Number("timerRegisterExpires", d.RegisterExpires)
		w.Text("timerRegisterDelta", "5")
		w.Close("sipStack")
	}
	firstPort := d.CallManagers[0].SIPPort
	if firstPort == 0 {
		firstPort = DefaultSIPPort
	}
	if len(d.Lines) == 0 {
		w.Text("sipLines", "")
	} else {
		w.Open("sipLines")
	}
	for i, l := range d.Lines {
		w.Begin("line")
		w.AttrInt("button", l.Button)
		w.AttrInt("lineIndex", i+1)
		w.EndOpen()
		feature := l.FeatureID
		if feature == 0 {
			feature = FeatureLine
		}
		w.Number("featureID", feature)
		w.Text("featureLabel", clipRunes(l.Label, MaxLabelLen))
		proxy := l.Proxy
		if proxy == "" {
			proxy = ProxyUseCallManager
		}
		w.Text("proxy", proxy)
		port := l.Port
		if port == 0 {
			port = firstPort
		}
		w.Number("port", port)
		w.Text("name", l.DN)
		w.Text("displayName", l.DisplayName)
		w.Text("contact", l.Contact)
		if l.MaxCalls > 0 {
			w.Number("maxNumCalls", l.MaxCalls)
		}
		if l.BusyTrigger > 0 {
			w.Number("busyTrigger", l.BusyTrigger)
		}
		w.Close("line")
	}
	if len(d.Lines) > 0 {
		w.Close("sipLines")
	}
	w.Close("sipProfile")

	w.Text("loadInformation", d.LoadInformation)
	if d.UserLocale != "" {
		w.Open("userLocale")
		w.Text("name", d.UserLocale)
		if lc, ok := langCodes[d.UserLocale]; ok {
			w.Text("langCode", lc)
		}
		w.Close("userLocale")
	}
	w.Text("versionStamp", d.VersionStamp)
	w.Text("transportLayerProtocol", transport)
	w.Text("deviceSecurityMode", "1") // non-secure
	w.Number("idleTimeout", d.IdleTimeout)
	w.Text("idleURL", d.IdleURL)
	w.Text("authenticationURL", d.AuthenticationURL)
	w.Text("directoryURL", d.DirectoryURL)
	w.Text("servicesURL", d.ServicesURL)
	w.Close("device")
	return append(w.B, '\n'), nil
}

// writeCallManagers writes the callManagerGroup element of a device's
// devicePool.
func writeCallManagers(w *xmlwrite.Writer, name string, cms []CallManager) {
	w.Open("callManagerGroup")
	w.Text("name", name)
	w.Text("tftpDefault", "true")
	w.Open("members")
	for i, cm := range cms {
		w.Begin("member")
		w.AttrInt("priority", i)
		w.EndOpen()
		w.Open("callManager")
		w.Open("ports")
		w.Number("ethernetPhonePort", ethernetPhonePort)
		sip, sips := cm.SIPPort, cm.SecuredSIPPort
		if sip == 0 {
			sip = DefaultSIPPort
		}
		if sips == 0 {
			sips = DefaultSecuredSIPPort
		}
		w.Number("sipPort", sip)
		w.Number("securedSipPort", sips)
		w.Close("ports")
		w.Text("processNodeName", cm.Host)
		w.Close("callManager")
		w.Close("member")
	}
	w.Close("members")
	w.Close("callManagerGroup")
}

// RenderDefault writes XMLDefault.cnf.xml. Models without a load (Webex
// App clients) are left out.
func RenderDefault(d Default) ([]byte, error) {
	if len(d.CallManagers) == 0 {
		return nil, invalidf("XMLDefault has no call manager")
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("Default")
	writeCallManagerGroup(root, d.CallManagerGroup, d.CallManagers)
	for _, l := range d.Loads {
		if l.Load == "" {
			continue
		}
		if l.Model <= 0 {
			return nil, invalidf("XMLDefault: model id %d must be positive", l.Model)
		}
		e := text(root, "loadInformation"+strconv.Itoa(l.Model), l.Load)
		e.CreateAttr("model", l.ModelName)
	}
	text(root, "autoRegistrationName", "AUTO-REG")
	text(root, "autoRegistration", strconv.FormatBool(d.AutoRegistration))
	text(root, "selfProvisioningSecureMode", strconv.FormatBool(d.SelfProvisioningSecureMode))
	text(root, "adminProvisionMode", strconv.FormatBool(d.AdminProvisionMode))
	text(root, "versionStamp", d.VersionStamp)
	return write(doc)
}

func writeCallManagerGroup(parent *etree.Element, name string, cms []CallManager) {
	g := parent.CreateElement("callManagerGroup")
	text(g, "name", name)
	text(g, "tftpDefault", "true")
	members := g.CreateElement("members")
	for i, cm := range cms {
		m := members.CreateElement("member")
		m.CreateAttr("priority", strconv.Itoa(i))
		c := m.CreateElement("callManager")
		ports := c.CreateElement("ports")
		text(ports, "ethernetPhonePort", strconv.Itoa(ethernetPhonePort))
		sip, sips := cm.SIPPort, cm.SecuredSIPPort
		if sip == 0 {
			sip = DefaultSIPPort
		}
		if sips == 0 {
			sips = DefaultSecuredSIPPort
		}
		text(ports, "sipPort", strconv.Itoa(sip))
		text(ports, "securedSipPort", strconv.Itoa(sips))
		text(c, "processNodeName", cm.Host)
	}
}

func text(parent *etree.Element, tag, value string) *etree.Element {
	e := parent.CreateElement(tag)
	if value != "" {
		e.SetText(value)
	}
	return e
}

func write(doc *etree.Document) ([]byte, error) {
	// Canonical text escapes '\r' too, so values survive a parse.
	doc.WriteSettings.CanonicalText = true
	doc.IndentWithSettings(&etree.IndentSettings{Spaces: 1, PreserveLeafWhitespace: true})
	// Each token into one buffer, as WriteToBytes does, less the 4 KB
	// bufio.Writer it makes on every call.
	var b bytes.Buffer
	b.Grow(8 << 10)
	for _, t := range doc.Child {
		t.WriteTo(&b, &doc.WriteSettings)
	}
	return b.Bytes(), nil
}

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}
