package phonecfg

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/beevik/etree"

	"selfprov/internal/clip"
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
// SEP<MAC>.cnf.xml or <NAME>.cnf.xml.
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
	return doc.WriteToBytes()
}

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}
