package phonecfg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"selfprov/internal/clip"
)

// MaxFileSize bounds what Parse reads; real files are a few kilobytes.
const MaxFileSize = 1 << 20

// maxDepth bounds element nesting; real files nest five deep.
const maxDepth = 32

// ErrMalformed is wrapped by every parse error.
var ErrMalformed = errors.New("phonecfg: malformed config")

func malformedf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// Parse reads a device configuration file (root <device>) or
// XMLDefault.cnf.xml (root <Default>). Elements it does not know are
// ignored, as phones do; missing ones get the values RenderDevice would
// have written for a zero field.
func Parse(data []byte) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, malformedf("%d bytes is over the %d byte limit", len(data), MaxFileSize)
	}
	root, err := parseTree(data, maxDepth)
	if err != nil {
		return nil, malformedf("not XML: %v", err)
	}
	if root == nil {
		return nil, malformedf("no root element")
	}
	p := parser{}
	var c *Config
	switch root.tag {
	case "device":
		c = p.device(root)
	case "Default":
		c = p.defaults(root)
	default:
		return nil, malformedf("root element <%s> is neither <device> nor <Default>", clip.String(root.tag, 40))
	}
	if p.err != nil {
		return nil, p.err
	}
	return c, nil
}

// parser keeps the first error so field reads stay flat.
type parser struct{ err error }

func (p *parser) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

func (p *parser) device(root *element) *Config {
	c := &Config{}
	d := &c.Device
	d.Name = textOf(root, "deviceName")
	if pool := root.SelectElement("devicePool"); pool != nil {
		d.DevicePool = textOf(pool, "name")
		d.CallManagerGroup, d.CallManagers = p.callManagerGroup(pool.SelectElement("callManagerGroup"))
	}
	firstPort := DefaultSIPPort
	if len(d.CallManagers) > 0 {
		firstPort = d.CallManagers[0].SIPPort
	}
	if sp := root.SelectElement("sipProfile"); sp != nil {
		if st := sp.SelectElement("sipStack"); st != nil {
			d.RegisterExpires = p.intOf(st, "timerRegisterExpires", "sipStack/timerRegisterExpires", 0, 0, 1<<31-1)
		}
		if lines := sp.SelectElement("sipLines"); lines != nil {
			for i, le := range lines.SelectElements("line") {
				where := fmt.Sprintf("sipLines/line[%d]", i+1)
				l := Line{
					FeatureID:   p.intOf(le, "featureID", where+"/featureID", FeatureLine, 0, 1000),
					DN:          textOf(le, "name"),
					Label:       textOf(le, "featureLabel"),
					DisplayName: textOf(le, "displayName"),
					Contact:     textOf(le, "contact"),
					Proxy:       textOf(le, "proxy"),
					Port:        p.intOf(le, "port", where+"/port", firstPort, 1, 65535),
					MaxCalls:    p.intOf(le, "maxNumCalls", where+"/maxNumCalls", 0, 0, 1000),
					BusyTrigger: p.intOf(le, "busyTrigger", where+"/busyTrigger", 0, 0, 1000),
				}
				if l.Proxy == "" {
					l.Proxy = ProxyUseCallManager
				}
				b := le.SelectAttrValue("button", "")
				if l.Button = p.atoi(b, where+" button", 1, 1000); b == "" {
					l.Button = i + 1
				}
				d.Lines = append(d.Lines, l)
			}
		}
	}
	d.LoadInformation = textOf(root, "loadInformation")
	if ul := root.SelectElement("userLocale"); ul != nil {
		d.UserLocale = textOf(ul, "name")
	}
	d.VersionStamp = textOf(root, "versionStamp")
	d.Transport = p.transport(textOf(root, "transportLayerProtocol"))
	d.IdleTimeout = p.intOf(root, "idleTimeout", "idleTimeout", 0, 0, 1<<31-1)
	d.IdleURL = textOf(root, "idleURL")
	d.AuthenticationURL = textOf(root, "authenticationURL")
	d.DirectoryURL = textOf(root, "directoryURL")
	d.ServicesURL = textOf(root, "servicesURL")
	return c
}

func (p *parser) defaults(root *element) *Config {
	df := &Default{}
	df.CallManagerGroup, df.CallManagers = p.callManagerGroup(root.SelectElement("callManagerGroup"))
	for _, e := range root.ChildElements() {
		id, ok := strings.CutPrefix(e.tag, "loadInformation")
		if !ok {
			continue
		}
		model := p.atoi(id, "<"+clip.String(e.tag, 40)+">", 1, 1<<31-1)
		df.Loads = append(df.Loads, Load{Model: model, ModelName: e.SelectAttrValue("model", ""), Load: strings.TrimSpace(e.Text())})
	}
	df.AutoRegistration = p.boolOf(root, "autoRegistration")
	df.SelfProvisioningSecureMode = p.boolOf(root, "selfProvisioningSecureMode")
	df.AdminProvisionMode = p.boolOf(root, "adminProvisionMode")
	df.VersionStamp = textOf(root, "versionStamp")
	c := &Config{Default: df}
	c.CallManagerGroup, c.CallManagers = df.CallManagerGroup, df.CallManagers
	c.Transport = TransportTCP
	return c
}

func (p *parser) callManagerGroup(g *element) (string, []CallManager) {
	if g == nil {
		return "", nil
	}
	var cms []CallManager
	if members := g.SelectElement("members"); members != nil {
		for i, m := range members.SelectElements("member") {
			c := m.SelectElement("callManager")
			if c == nil {
				continue
			}
			where := fmt.Sprintf("callManagerGroup/members/member[%d]", i+1)
			cm := CallManager{Host: textOf(c, "processNodeName"), SIPPort: DefaultSIPPort, SecuredSIPPort: DefaultSecuredSIPPort}
			if ports := c.SelectElement("ports"); ports != nil {
				cm.SIPPort = p.intOf(ports, "sipPort", where+"/sipPort", DefaultSIPPort, 1, 65535)
				cm.SecuredSIPPort = p.intOf(ports, "securedSipPort", where+"/securedSipPort", DefaultSecuredSIPPort, 1, 65535)
			}
			if cm.Host == "" {
				p.fail(malformedf("%s has no processNodeName", where))
			}
			cms = append(cms, cm)
		}
	}
	return textOf(g, "name"), cms
}

func (p *parser) transport(v string) string {
	switch strings.TrimSpace(v) {
	case "", "1":
		return TransportTCP
	case "2":
		return TransportUDP
	case "3":
		return TransportTLS
	case "4":
		// CUCM writes 4 ("TCP preferred"); phones then use TCP.
		return TransportTCP
	}
	p.fail(malformedf("transportLayerProtocol %q must be 1 (TCP), 2 (UDP), 3 (TLS) or 4", clip.String(v, 40)))
	return ""
}

// intOf reads a child element as an integer in [lo, hi]; absent or empty
// gives dflt.
func (p *parser) intOf(parent *element, tag, where string, dflt, lo, hi int) int {
	e := parent.SelectElement(tag)
	if e == nil {
		return dflt
	}
	v := strings.TrimSpace(e.Text())
	if v == "" {
		return dflt
	}
	return p.atoi(v, where, lo, hi)
}

func (p *parser) atoi(v, where string, lo, hi int) int {
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		p.fail(malformedf("%s: %q is not a number", where, clip.String(v, 40)))
		return 0
	}
	if n < lo || n > hi {
		p.fail(malformedf("%s: %d is not in %d..%d", where, n, lo, hi))
		return 0
	}
	return n
}

func (p *parser) boolOf(parent *element, tag string) bool {
	v := strings.TrimSpace(textOf(parent, tag))
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(malformedf("%s: %q is not true or false", tag, clip.String(v, 40)))
	}
	return b
}

// textOf is a child element's text, "" when absent.
func textOf(parent *element, tag string) string {
	e := parent.SelectElement(tag)
	if e == nil {
		return ""
	}
	return e.Text()
}
