package admin

import (
	"time"

	"selfprov/provision"
)

// The API's own shapes of users, devices and lines: the REST contract,
// kept apart from the core's types and the store's documents so that each
// can change without the other.

type credentialStateView struct {
	FailedAttempts int       `json:"failedAttempts"`
	FirstFailure   time.Time `json:"firstFailure,omitzero"`
	LockedAt       time.Time `json:"lockedAt,omitzero"`
}

type userView struct {
	ID               string                `json:"userId"`
	LastName         string                `json:"lastName"`
	FirstName        string                `json:"firstName,omitempty"`
	Email            string                `json:"email,omitempty"`
	SelfServiceID    string                `json:"selfServiceId,omitempty"`
	PrimaryExtension string                `json:"primaryExtension,omitempty"`
	Partition        string                `json:"partition,omitempty"`
	UserProfile      string                `json:"userProfile,omitempty"`
	Groups           []string              `json:"groups,omitempty"`
	WebexPolicy      provision.WebexPolicy `json:"webexPolicy,omitempty"`
	Credential       credentialStateView   `json:"credential"`
}

func viewUser(u provision.User) userView {
	return userView{
		ID: u.ID, LastName: u.LastName, FirstName: u.FirstName, Email: u.Email,
		SelfServiceID: u.SelfServiceID, PrimaryExtension: u.PrimaryExtension, Partition: u.Partition,
		UserProfile: u.UserProfile, Groups: u.Groups, WebexPolicy: u.WebexPolicy,
		Credential: credentialStateView{
			FailedAttempts: u.Credential.FailedAttempts, FirstFailure: u.Credential.FirstFailure, LockedAt: u.Credential.LockedAt,
		},
	}
}

// settingsView is a device's settings, as its template gave them or as
// they were edited since.
type settingsView struct {
	DevicePool         string `json:"devicePool,omitempty"`
	CallManagerGroup   string `json:"callManagerGroup,omitempty"`
	IdleURL            string `json:"idleURL,omitempty"`
	IdleTimeout        int    `json:"idleTimeout,omitempty"`
	ServicesURL        string `json:"servicesURL,omitempty"`
	AuthenticationURL  string `json:"authenticationURL,omitempty"`
	DirectoryURL       string `json:"directoryURL,omitempty"`
	SecurityProfile    string `json:"securityProfile,omitempty"`
	SIPProfile         string `json:"sipProfile,omitempty"`
	SoftkeyTemplate    string `json:"softkeyTemplate,omitempty"`
	ButtonTemplate     string `json:"buttonTemplate,omitempty"`
	Transport          string `json:"transport,omitempty"`
	UserLocale         string `json:"userLocale,omitempty"`
	DescriptionPattern string `json:"descriptionPattern,omitempty"`
}

func viewSettings(s provision.DeviceSettings) settingsView {
	return settingsView(s)
}

func (v settingsView) settings() provision.DeviceSettings { return provision.DeviceSettings(v) }

// appearanceView is one button of a device showing a line.
type appearanceView struct {
	Button      int    `json:"button"`
	DN          string `json:"dn"`
	Partition   string `json:"partition,omitempty"`
	Label       string `json:"label,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Contact     string `json:"contact,omitempty"` // assigned by the core; ignored in input
	MaxCalls    int    `json:"maxCalls,omitempty"`
	BusyTrigger int    `json:"busyTrigger,omitempty"`
}

func (a appearanceView) line() provision.Line {
	return provision.Line{Button: a.Button, DN: a.DN, Partition: a.Partition, Label: a.Label,
		DisplayName: a.DisplayName, MaxCalls: a.MaxCalls, BusyTrigger: a.BusyTrigger}
}

type deviceView struct {
	Name          string                `json:"name"`
	Model         int                   `json:"model"`
	Protocol      string                `json:"protocol"`
	Owner         string                `json:"owner,omitempty"`
	Description   string                `json:"description,omitempty"`
	State         provision.DeviceState `json:"state"`
	UDT           string                `json:"udt,omitempty"`
	Settings      settingsView          `json:"settings"`
	Lines         []appearanceView      `json:"lines"`
	ConfigVersion string                `json:"configVersion"`
	CreatedAt     time.Time             `json:"createdAt"`
}

func viewDevice(d provision.Device) deviceView {
	v := deviceView{
		Name: d.Name, Model: d.Model, Protocol: d.Protocol, Owner: d.Owner, Description: d.Description,
		State: d.State, UDT: d.UDT, Settings: viewSettings(d.Settings), ConfigVersion: d.ConfigVersion,
		CreatedAt: d.CreatedAt, Lines: make([]appearanceView, 0, len(d.Lines)),
	}
	for _, l := range d.Lines {
		v.Lines = append(v.Lines, appearanceView{
			Button: l.Button, DN: l.DN, Partition: l.Partition, Label: l.Label, DisplayName: l.DisplayName,
			Contact: l.Contact, MaxCalls: l.MaxCalls, BusyTrigger: l.BusyTrigger,
		})
	}
	return v
}

func viewDevices(ds []provision.Device) []deviceView {
	out := make([]deviceView, 0, len(ds))
	for _, d := range ds {
		out = append(out, viewDevice(d))
	}
	return out
}

// lineSettings are the settings of a line an administrator writes.
type lineSettings struct {
	Description         string `json:"description,omitempty"`
	AlertingName        string `json:"alertingName,omitempty"`
	CallingSearchSpace  string `json:"callingSearchSpace,omitempty"`
	CallForwardAll      string `json:"callForwardAll,omitempty"`
	CallForwardBusy     string `json:"callForwardBusy,omitempty"`
	CallForwardNoAnswer string `json:"callForwardNoAnswer,omitempty"`
	VoicemailProfile    string `json:"voicemailProfile,omitempty"`
}

// lineInput is a line as written: its DN and partition, and its settings.
type lineInput struct {
	DN        string `json:"dn"`
	Partition string `json:"partition"`
	lineSettings
}

type lineUseView struct {
	Device string `json:"device"`
	Button int    `json:"button"`
}

// lineView is a line as shown: appearances only when one line is read.
type lineView struct {
	DN        string `json:"dn"`
	Partition string `json:"partition"`
	lineSettings
	Appearances []lineUseView `json:"appearances,omitempty"`
}

func (in lineInput) line() provision.DirectoryNumber {
	s := in.lineSettings
	return provision.DirectoryNumber{
		DN: in.DN, Partition: in.Partition, Description: s.Description, AlertingName: s.AlertingName,
		CallingSearchSpace: s.CallingSearchSpace, CallForwardAll: s.CallForwardAll, CallForwardBusy: s.CallForwardBusy,
		CallForwardNoAnswer: s.CallForwardNoAnswer, VoicemailProfile: s.VoicemailProfile,
	}
}

func settingsOfLine(l provision.DirectoryNumber) lineSettings {
	return lineSettings{
		Description: l.Description, AlertingName: l.AlertingName, CallingSearchSpace: l.CallingSearchSpace,
		CallForwardAll: l.CallForwardAll, CallForwardBusy: l.CallForwardBusy, CallForwardNoAnswer: l.CallForwardNoAnswer,
		VoicemailProfile: l.VoicemailProfile,
	}
}

func viewLine(l provision.DirectoryNumber) lineView {
	v := lineView{DN: l.DN, Partition: l.Partition, lineSettings: settingsOfLine(l)}
	for _, a := range l.Appearances {
		v.Appearances = append(v.Appearances, lineUseView{Device: a.Device, Button: a.Button})
	}
	return v
}
