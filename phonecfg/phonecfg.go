// Package phonecfg is the phone configuration file format: it renders
// SEP<MAC>.cnf.xml (and <NAME>.cnf.xml for Webex App clients) and
// XMLDefault.cnf.xml with etree, and parses them back for the phone
// simulator on encoding/xml's tokenizer (see element). It depends on no
// other package of the project, so the simulator can import it without
// the core.
package phonecfg

import (
	"errors"
	"strings"

	"selfprov/internal/clip"
)

// DefaultFile is the file a phone unknown to the cluster falls back to.
const DefaultFile = "XMLDefault.cnf.xml"

// Suffix ends every device configuration file name.
const Suffix = ".cnf.xml"

// FileName is the configuration file of a device: <NAME>.cnf.xml.
func FileName(deviceName string) string { return deviceName + Suffix }

// Transports as written in the configuration's transportLayerProtocol.
const (
	TransportTCP = "tcp"
	TransportUDP = "udp"
	TransportTLS = "tls"
)

// Default ports of a call manager.
const (
	DefaultSIPPort        = 5060
	DefaultSecuredSIPPort = 5061
	ethernetPhonePort     = 2000 // SCCP; written because phones expect the element
)

// FeatureLine is the featureID of a line appearance; 2 is a speed dial.
const FeatureLine = 9

// ProxyUseCallManager makes the phone register with the call managers of
// its device pool rather than a proxy named in the line.
const ProxyUseCallManager = "USECALLMANAGER"

// CallManager is one member of the device pool's call manager group, in
// priority order.
type CallManager struct {
	Host           string // processNodeName: host name or IP the phone registers with
	SIPPort        int    // 0 renders DefaultSIPPort
	SecuredSIPPort int    // 0 renders DefaultSecuredSIPPort
}

// Line is one line appearance of sipProfile/sipLines.
type Line struct {
	Button      int    // line key, from 1
	FeatureID   int    // 0 renders FeatureLine
	DN          string // <name>: the directory number the line registers
	Label       string // featureLabel, shown beside the key
	DisplayName string
	Contact     string // Contact user part the phone registers with
	Proxy       string // "" renders ProxyUseCallManager
	Port        int    // 0 renders the first call manager's SIP port
	MaxCalls    int    // 0 leaves the element out
	BusyTrigger int    // 0 leaves the element out
}

// Device is everything a device configuration file carries.
type Device struct {
	Name              string // SEP<MAC>, CSF…, BOT…, TCT…, TAB…
	DevicePool        string // device pool name
	CallManagerGroup  string // call manager group name
	CallManagers      []CallManager
	Transport         string // TransportTCP, TransportUDP or TransportTLS; "" renders TCP
	RegisterExpires   int    // sipStack timerRegisterExpires in seconds; 0 leaves it out
	IdleURL           string // with the device name already filled in
	IdleTimeout       int    // seconds
	ServicesURL       string
	AuthenticationURL string
	DirectoryURL      string
	LoadInformation   string // firmware load without extension, "" for clients
	UserLocale        string // e.g. English_United_States
	VersionStamp      string // changes whenever the device's config changes
	Lines             []Line
}

// Load is a model's firmware in XMLDefault.cnf.xml.
type Load struct {
	Model     int    // wire model id: loadInformation<Model>
	ModelName string // product name, "Cisco 8845"
	Load      string // load name without extension
}

// Default is what XMLDefault.cnf.xml carries: where an unknown phone
// registers to auto-register, and which firmware each model runs.
type Default struct {
	CallManagerGroup string
	CallManagers     []CallManager
	Loads            []Load
	// AutoRegistration is always true in a rendered file: when
	// auto-registration is off the file is not served at all.
	AutoRegistration           bool
	SelfProvisioningSecureMode bool // users authenticate (modes users, users-and-admin)
	AdminProvisionMode         bool // a system authentication code is accepted
	VersionStamp               string
}

// Config is a parsed configuration file. For a device file the embedded
// Device holds everything; for XMLDefault.cnf.xml Default is set and
// Device.CallManagers repeats its call managers.
type Config struct {
	Device
	Default *Default // nil for a device file
}

// SIPServer is where the phone registers: the first call manager's host
// and SIP port (TLS port when the transport is TLS).
func (c *Config) SIPServer() (host string, port int, err error) {
	if len(c.CallManagers) == 0 {
		return "", 0, errors.New("phonecfg: no call manager in the config")
	}
	cm := c.CallManagers[0]
	if c.Transport == TransportTLS {
		return cm.Host, cm.SecuredSIPPort, nil
	}
	return cm.Host, cm.SIPPort, nil
}

// LoadFor returns the firmware load of a model from XMLDefault, or the
// device's own load for a device file.
func (c *Config) LoadFor(model int) string {
	if c.Default == nil {
		return c.LoadInformation
	}
	for _, l := range c.Default.Loads {
		if l.Model == model {
			return l.Load
		}
	}
	return ""
}

// transportCodes are transportLayerProtocol values: 1 TCP, 2 UDP, 3 TLS.
var transportCodes = map[string]string{TransportTCP: "1", TransportUDP: "2", TransportTLS: "3"}

func transportCode(t string) (string, error) {
	if t == "" {
		t = TransportTCP
	}
	c, ok := transportCodes[strings.ToLower(t)]
	if !ok {
		return "", errors.New("phonecfg: transport " + clip.String(t, 40) + " must be tcp, udp or tls")
	}
	return c, nil
}

// langCodes maps the locales the model catalogue ships to langCode.
var langCodes = map[string]string{
	"English_United_States":  "en_US",
	"English_United_Kingdom": "en_GB",
	"French_France":          "fr_FR",
	"German_Germany":         "de_DE",
	"Spanish_Spain":          "es_ES",
	"Italian_Italy":          "it_IT",
	"Japanese_Japan":         "ja_JP",
	"Dutch_Netherlands":      "nl_NL",
}
