package provision

import (
	"strconv"
	"strings"
	"time"
)

// AuthMode is the self-provisioning authentication mode.
type AuthMode string

const (
	AuthUsers         AuthMode = "users"           // password or PIN
	AuthUsersAndAdmin AuthMode = "users-and-admin" // also the system authentication code
	AuthNone          AuthMode = "none"            // user ID or self-service ID alone
)

// WebexPolicy says which Webex App device classes are auto-provisioned.
type WebexPolicy string

const (
	WebexDesktopAndMobile WebexPolicy = "desktop-and-mobile"
	WebexDesktopOnly      WebexPolicy = "desktop-only"
	WebexMobileOnly       WebexPolicy = "mobile-only"
)

// DeviceClass groups models the way auto-provisioning and templates do.
type DeviceClass string

const (
	ClassDesk    DeviceClass = "desk"    // Cisco IP phones
	ClassDesktop DeviceClass = "desktop" // CSF
	ClassMobile  DeviceClass = "mobile"  // BOT, TCT
	ClassTablet  DeviceClass = "tablet"  // TAB
)

// DeviceState tells an auto-registered device from a provisioned one.
type DeviceState string

const (
	StateAutoRegistered DeviceState = "auto-registered"
	StateProvisioned    DeviceState = "provisioned"
)

// Model is one entry of the model catalogue.
type Model struct {
	ID      int         `json:"id" yaml:"id"`                               // wire id: loadInformation<ID>, +u.sip!model
	Name    string      `json:"name" yaml:"name"`                           // product name, "Cisco 8845"
	Class   DeviceClass `json:"class" yaml:"class"`                         // desk, desktop, mobile, tablet
	Family  string      `json:"family" yaml:"family"`                       // firmware family, "sip88xx"
	Load    string      `json:"load" yaml:"load"`                           // load name without extension
	Lines   int         `json:"lines" yaml:"lines"`                         // line keys
	Prefix  string      `json:"prefix" yaml:"prefix"`                       // device name prefix: SEP, CSF, BOT, TCT, TAB
	Enabled *bool       `json:"enabled,omitempty" yaml:"enabled,omitempty"` // nil means supported
}

// Supported reports whether phones of this model may be provisioned.
func (m Model) Supported() bool { return m.Enabled == nil || *m.Enabled }

// DeviceSettings are the settings a device takes from its Universal Device
// Template when it is created. They are copied, not referenced, so a device
// keeps its configuration when templates change.
type DeviceSettings struct {
	DevicePool         string `json:"devicePool,omitempty" yaml:"devicePool,omitempty"`
	CallManagerGroup   string `json:"callManagerGroup,omitempty" yaml:"callManagerGroup,omitempty"`
	IdleURL            string `json:"idleURL,omitempty" yaml:"idleURL,omitempty"`
	IdleTimeout        int    `json:"idleTimeout,omitempty" yaml:"idleTimeout,omitempty"` // seconds
	ServicesURL        string `json:"servicesURL,omitempty" yaml:"servicesURL,omitempty"`
	AuthenticationURL  string `json:"authenticationURL,omitempty" yaml:"authenticationURL,omitempty"`
	DirectoryURL       string `json:"directoryURL,omitempty" yaml:"directoryURL,omitempty"`
	SecurityProfile    string `json:"securityProfile,omitempty" yaml:"securityProfile,omitempty"`
	SIPProfile         string `json:"sipProfile,omitempty" yaml:"sipProfile,omitempty"`
	SoftkeyTemplate    string `json:"softkeyTemplate,omitempty" yaml:"softkeyTemplate,omitempty"`
	ButtonTemplate     string `json:"buttonTemplate,omitempty" yaml:"buttonTemplate,omitempty"`
	Transport          string `json:"transport,omitempty" yaml:"transport,omitempty"` // udp, tcp, tls
	UserLocale         string `json:"userLocale,omitempty" yaml:"userLocale,omitempty"`
	DescriptionPattern string `json:"descriptionPattern,omitempty" yaml:"descriptionPattern,omitempty"`
}

// UDT is a Universal Device Template.
type UDT struct {
	Name           string `json:"name" yaml:"name"`
	DeviceSettings `yaml:",inline"`
}

// ULT is a Universal Line Template.
type ULT struct {
	Name               string `json:"name" yaml:"name"`
	RoutePartition     string `json:"routePartition,omitempty" yaml:"routePartition,omitempty"`
	CallingSearchSpace string `json:"callingSearchSpace,omitempty" yaml:"callingSearchSpace,omitempty"`
	DisplayPattern     string `json:"displayPattern,omitempty" yaml:"displayPattern,omitempty"` // e.g. "#FirstName# #LastName#"
	LabelPattern       string `json:"labelPattern,omitempty" yaml:"labelPattern,omitempty"`     // e.g. "#Extension#"
	CallForwardAll     string `json:"callForwardAll,omitempty" yaml:"callForwardAll,omitempty"`
	VoicemailProfile   string `json:"voicemailProfile,omitempty" yaml:"voicemailProfile,omitempty"`
	MaxCalls           int    `json:"maxCalls,omitempty" yaml:"maxCalls,omitempty"`
	BusyTrigger        int    `json:"busyTrigger,omitempty" yaml:"busyTrigger,omitempty"`
}

// DefaultDeviceLimit is the user profile's default limit on owned phones.
const DefaultDeviceLimit = 10

// UserProfile carries the templates and self-provisioning rights of users.
type UserProfile struct {
	Name                 string      `json:"name" yaml:"name"`
	DeskPhoneUDT         string      `json:"deskPhoneUDT,omitempty" yaml:"deskPhoneUDT,omitempty"`
	MobileDesktopUDT     string      `json:"mobileDesktopUDT,omitempty" yaml:"mobileDesktopUDT,omitempty"`
	RemoteDestinationUDT string      `json:"remoteDestinationUDT,omitempty" yaml:"remoteDestinationUDT,omitempty"`
	ULT                  string      `json:"ult,omitempty" yaml:"ult,omitempty"`
	AllowSelfProvision   bool        `json:"allowSelfProvision" yaml:"allowSelfProvision"`
	DeviceLimit          int         `json:"deviceLimit" yaml:"deviceLimit"` // 0 or left out: DefaultDeviceLimit
	DefaultSystemProfile bool        `json:"defaultSystemProfile,omitempty" yaml:"defaultSystemProfile,omitempty"`
	WebexPolicy          WebexPolicy `json:"webexPolicy,omitempty" yaml:"webexPolicy,omitempty"` // "" follows the organisation
}

// Limit is the number of phones a user of the profile may own before
// self-provisioning refuses another. A DeviceLimit of 0 (left out when the
// profile was saved, or stored before the default was applied) is the
// product's default, 10. As in the product there is no "no limit": a
// larger number serves.
func (p UserProfile) Limit() int {
	if p.DeviceLimit <= 0 {
		return DefaultDeviceLimit
	}
	return p.DeviceLimit
}

// withDefaults fills what was left out with the product's defaults.
func (p UserProfile) withDefaults() UserProfile {
	p.DeviceLimit = p.Limit()
	return p
}

// FeatureGroupTemplate carries user defaults for quick user/phone add.
type FeatureGroupTemplate struct {
	Name        string `json:"name" yaml:"name"`
	UserProfile string `json:"userProfile" yaml:"userProfile"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
}

// CredentialState is a user's failed-logon bookkeeping.
type CredentialState struct {
	FailedAttempts int       `json:"failedAttempts"`
	FirstFailure   time.Time `json:"firstFailure,omitzero"`
	LockedAt       time.Time `json:"lockedAt,omitzero"`
}

// User is an end user.
type User struct {
	ID               string          `json:"userId"`
	LastName         string          `json:"lastName"`
	FirstName        string          `json:"firstName,omitempty"`
	Email            string          `json:"email,omitempty"`
	SelfServiceID    string          `json:"selfServiceId,omitempty"`
	PrimaryExtension string          `json:"primaryExtension,omitempty"`
	Partition        string          `json:"partition,omitempty"` // of the primary extension
	UserProfile      string          `json:"userProfile,omitempty"`
	Groups           []string        `json:"groups,omitempty"`
	WebexPolicy      WebexPolicy     `json:"webexPolicy,omitempty"` // "" follows profile, then organisation
	PINHash          string          `json:"-"`
	PasswordHash     string          `json:"-"`
	Credential       CredentialState `json:"credential"`
}

// Line is one line appearance of a device.
type Line struct {
	Button      int    `json:"button"`
	DN          string `json:"dn"`
	Partition   string `json:"partition,omitempty"`
	Label       string `json:"label,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Contact     string `json:"contact,omitempty"` // Contact user part the phone registers with
	MaxCalls    int    `json:"maxCalls,omitempty"`
	BusyTrigger int    `json:"busyTrigger,omitempty"`
}

// Device is a phone or a Webex App client.
type Device struct {
	Name          string         `json:"name"`
	Model         int            `json:"model"`
	Protocol      string         `json:"protocol"`
	Owner         string         `json:"owner,omitempty"`
	Description   string         `json:"description,omitempty"`
	State         DeviceState    `json:"state"`
	UDT           string         `json:"udt,omitempty"`
	Settings      DeviceSettings `json:"settings"`
	Lines         []Line         `json:"lines"`
	ConfigVersion string         `json:"configVersion"` // renewed on every write; the served versionStamp also follows the rest of the file
	CreatedAt     time.Time      `json:"createdAt"`
}

// DeviceFilter selects devices for listing. Zero fields match everything.
type DeviceFilter struct {
	NamePrefix string
	Owner      string
	State      DeviceState
	Model      int
	After      string // name to continue after, for paging
	Limit      int    // 0 means the store's default
}

// DNRange is the auto-registration directory number range, inclusive.
type DNRange struct {
	Start string `json:"startDN" yaml:"startDN"`
	End   string `json:"endDN" yaml:"endDN"`
}

// Bounds returns the range as numbers and the digit count every DN of the
// range is written with.
func (r DNRange) Bounds() (start, end int64, width int, err error) {
	if !isDigits(r.Start) || !isDigits(r.End) {
		return 0, 0, 0, invalidf("DN range %q..%q must be digits", r.Start, r.End)
	}
	if len(r.Start) != len(r.End) {
		return 0, 0, 0, invalidf("DN range %q..%q must have the same number of digits", r.Start, r.End)
	}
	if len(r.Start) > 15 {
		return 0, 0, 0, invalidf("DN range %q..%q is longer than 15 digits", r.Start, r.End)
	}
	start, _ = strconv.ParseInt(r.Start, 10, 64)
	end, _ = strconv.ParseInt(r.End, 10, 64)
	if start > end {
		return 0, 0, 0, invalidf("DN range start %s is after end %s", r.Start, r.End)
	}
	return start, end, len(r.Start), nil
}

// FormatDN writes n with the range's digit count.
func FormatDN(n int64, width int) string {
	s := strconv.FormatInt(n, 10)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}

// AutoRegistration is the cluster's auto-registration setting.
type AutoRegistration struct {
	Enabled   bool    `json:"enabled" yaml:"enabled"`
	UDT       string  `json:"udt" yaml:"udt"`
	ULT       string  `json:"ult" yaml:"ult"`
	Range     DNRange `json:"range" yaml:",inline"`
	Partition string  `json:"partition,omitempty" yaml:"partition,omitempty"`
}

// Active reports whether phones can auto-register: on, and a range whose
// start and end differ (equal values disable it, as in the product).
func (a AutoRegistration) Active() bool {
	return a.Enabled && a.Range.Start != a.Range.End
}

// CredentialPolicy governs failed logons.
type CredentialPolicy struct {
	FailedLogonThreshold int           `json:"failedLogonThreshold" yaml:"failedLogonThreshold"` // 0 = no limit
	ResetCounterAfter    time.Duration `json:"resetCounterAfter" yaml:"resetCounterAfter"`
	LockoutDuration      time.Duration `json:"lockoutDuration" yaml:"lockoutDuration"` // 0 = until an administrator unlocks
}

// DefaultCredentialPolicy is the product's default.
var DefaultCredentialPolicy = CredentialPolicy{
	FailedLogonThreshold: 3,
	ResetCounterAfter:    30 * time.Minute,
	LockoutDuration:      30 * time.Minute,
}

// Cluster holds the cluster-wide settings.
type Cluster struct {
	AutoRegistration AutoRegistration `json:"autoRegistration"`
	AuthMode         AuthMode         `json:"authMode"`
	AuthCodeHash     string           `json:"-"` // system authentication code, users-and-admin mode
	CredentialPolicy CredentialPolicy `json:"credentialPolicy"`
	WebexPolicy      WebexPolicy      `json:"webexPolicy"`
	WebexCoolDown    time.Duration    `json:"webexCoolDown"`
}

// DefaultCluster is the settings of a new cluster: auto-registration off,
// as in the product.
func DefaultCluster() Cluster {
	return Cluster{
		AuthMode:         AuthUsers,
		CredentialPolicy: DefaultCredentialPolicy,
		WebexPolicy:      WebexDesktopAndMobile,
		WebexCoolDown:    DefaultWebexCoolDown,
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// DefaultWebexCoolDown is how long after a Webex client device is deleted a
// device of the same type is not re-created for the user.
const DefaultWebexCoolDown = 10 * time.Minute
