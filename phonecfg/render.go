package phonecfg

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/beevik/etree"

	"selfprov/internal/clip"
	"selfprov/internal/xmlscan"
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

	w := xmlWriter{b: make([]byte, 0, 1536+512*len(d.Lines))}
	w.b = append(w.b, `<?xml version="1.0" encoding="UTF-8"?>`...)
	w.open("device")
	w.text("fullConfig", "true")
	w.text("deviceProtocol", "SIP")
	w.text("deviceName", d.Name)

	w.open("devicePool")
	w.text("name", d.DevicePool)
	w.callManagerGroup(d.CallManagerGroup, d.CallManagers)
	w.text("connectionMonitorDuration", "120")
	w.close("devicePool")

	w.open("sipProfile")
	w.open("sipProxies")
	w.text("registerWithProxy", "true")
	w.close("sipProxies")
	if d.RegisterExpires > 0 {
		w.open("sipStack")
		w.number("timerRegisterExpires", d.RegisterExpires)
		w.text("timerRegisterDelta", "5")
		w.close("sipStack")
	}
	firstPort := d.CallManagers[0].SIPPort
	if firstPort == 0 {
		firstPort = DefaultSIPPort
	}
	if len(d.Lines) == 0 {
		w.text("sipLines", "")
	} else {
		w.open("sipLines")
	}
	for i, l := range d.Lines {
		w.openAttrs("line", "button", l.Button, "lineIndex", i+1)
		feature := l.FeatureID
		if feature == 0 {
			feature = FeatureLine
		}
		w.number("featureID", feature)
		w.text("featureLabel", clipRunes(l.Label, MaxLabelLen))
		proxy := l.Proxy
		if proxy == "" {
			proxy = ProxyUseCallManager
		}
		w.text("proxy", proxy)
		port := l.Port
		if port == 0 {
			port = firstPort
		}
		w.number("port", port)
		w.text("name", l.DN)
		w.text("displayName", l.DisplayName)
		w.text("contact", l.Contact)
		if l.MaxCalls > 0 {
			w.number("maxNumCalls", l.MaxCalls)
		}
		if l.BusyTrigger > 0 {
			w.number("busyTrigger", l.BusyTrigger)
		}
		w.close("line")
	}
	if len(d.Lines) > 0 {
		w.close("sipLines")
	}
	w.close("sipProfile")

	w.text("loadInformation", d.LoadInformation)
	if d.UserLocale != "" {
		w.open("userLocale")
		w.text("name", d.UserLocale)
		if lc, ok := langCodes[d.UserLocale]; ok {
			w.text("langCode", lc)
		}
		w.close("userLocale")
	}
	w.text("versionStamp", d.VersionStamp)
	w.text("transportLayerProtocol", transport)
	w.text("deviceSecurityMode", "1") // non-secure
	w.number("idleTimeout", d.IdleTimeout)
	w.text("idleURL", d.IdleURL)
	w.text("authenticationURL", d.AuthenticationURL)
	w.text("directoryURL", d.DirectoryURL)
	w.text("servicesURL", d.ServicesURL)
	w.close("device")
	return append(w.b, '\n'), nil
}

// xmlWriter writes elements as etree writes an indented tree: each on a
// line of its own, indented one space a level.
type xmlWriter struct {
	b     []byte
	depth int
}

func (w *xmlWriter) indent() {
	w.b = append(w.b, '\n')
	for range w.depth {
		w.b = append(w.b, ' ')
	}
}

func (w *xmlWriter) open(tag string) {
	w.indent()
	w.b = append(w.b, '<')
	w.b = append(w.b, tag...)
	w.b = append(w.b, '>')
	w.depth++
}

// openAttrs opens an element with two numeric attributes.
func (w *xmlWriter) openAttrs(tag, k1 string, v1 int, k2 string, v2 int) {
	w.indent()
	w.b = append(w.b, '<')
	w.b = append(w.b, tag...)
	w.b = append(w.b, ' ')
	w.b = append(w.b, k1...)
	w.b = append(w.b, `="`...)
	w.b = strconv.AppendInt(w.b, int64(v1), 10)
	w.b = append(w.b, `" `...)
	w.b = append(w.b, k2...)
	w.b = append(w.b, `="`...)
	w.b = strconv.AppendInt(w.b, int64(v2), 10)
	w.b = append(w.b, `">`...)
	w.depth++
}

func (w *xmlWriter) close(tag string) {
	w.depth--
	w.indent()
	w.b = append(w.b, "</"...)
	w.b = append(w.b, tag...)
	w.b = append(w.b, '>')
}

// text writes a leaf element; an empty value closes it at once.
func (w *xmlWriter) text(tag, value string) {
	w.indent()
	w.b = append(w.b, '<')
	w.b = append(w.b, tag...)
	if value == "" {
		w.b = append(w.b, "/>"...)
		return
	}
	w.b = append(w.b, '>')
	w.b = appendEscaped(w.b, value)
	w.b = append(w.b, "</"...)
	w.b = append(w.b, tag...)
	w.b = append(w.b, '>')
}

func (w *xmlWriter) number(tag string, n int) {
	w.indent()
	w.b = append(w.b, '<')
	w.b = append(w.b, tag...)
	w.b = append(w.b, '>')
	w.b = strconv.AppendInt(w.b, int64(n), 10)
	w.b = append(w.b, "</"...)
	w.b = append(w.b, tag...)
	w.b = append(w.b, '>')
}

func (w *xmlWriter) callManagerGroup(name string, cms []CallManager) {
	w.open("callManagerGroup")
	w.text("name", name)
	w.text("tftpDefault", "true")
	w.open("members")
	for i, cm := range cms {
		w.indent()
		w.b = append(w.b, `<member priority="`...)
		w.b = strconv.AppendInt(w.b, int64(i), 10)
		w.b = append(w.b, `">`...)
		w.depth++
		w.open("callManager")
		w.open("ports")
		w.number("ethernetPhonePort", ethernetPhonePort)
		sip, sips := cm.SIPPort, cm.SecuredSIPPort
		if sip == 0 {
			sip = DefaultSIPPort
		}
		if sips == 0 {
			sips = DefaultSecuredSIPPort
		}
		w.number("sipPort", sip)
		w.number("securedSipPort", sips)
		w.close("ports")
		w.text("processNodeName", cm.Host)
		w.close("callManager")
		w.close("member")
	}
	w.close("members")
	w.close("callManagerGroup")
}

// appendEscaped appends s as etree writes canonical text: &, < and > and
// carriage returns escaped, and what XML cannot hold (invalid UTF-8,
// characters outside XML's range) replaced by U+FFFD.
func appendEscaped(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		r, width := utf8.DecodeRuneInString(s[i:])
		i += width
		var esc string
		switch r {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\r':
			esc = "&#xD;"
		default:
			if !xmlscan.XMLChar(r) || (r == utf8.RuneError && width == 1) {
				esc = "\uFFFD"
				break
			}
			continue
		}
		b = append(b, s[last:i-width]...)
		b = append(b, esc...)
		last = i
	}
	return append(b, s[last:]...)
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
