package admin

import "selfprov/provision"

// The API's own shapes of templates and profiles, field for field the
// REST contract, kept apart from the core's types as users, devices and
// lines are.

// udtView is a universal device template: its name and the settings it
// gives a device.
type udtView struct {
	Name string `json:"name"`
	settingsView
}

func viewUDT(t provision.UDT) udtView {
	return udtView{Name: t.Name, settingsView: viewSettings(t.DeviceSettings)}
}

func (v udtView) udt() provision.UDT {
	return provision.UDT{Name: v.Name, DeviceSettings: v.settings()}
}

// ultView is a universal line template.
type ultView struct {
	Name               string `json:"name"`
	RoutePartition     string `json:"routePartition,omitempty"`
	CallingSearchSpace string `json:"callingSearchSpace,omitempty"`
	DisplayPattern     string `json:"displayPattern,omitempty"`
	LabelPattern       string `json:"labelPattern,omitempty"`
	CallForwardAll     string `json:"callForwardAll,omitempty"`
	VoicemailProfile   string `json:"voicemailProfile,omitempty"`
	MaxCalls           int    `json:"maxCalls,omitempty"`
	BusyTrigger        int    `json:"busyTrigger,omitempty"`
}

func viewULT(t provision.ULT) ultView { return ultView(t) }

func (v ultView) ult() provision.ULT { return provision.ULT(v) }

// userProfileView is a user profile: the templates and self-provisioning
// rights of its users.
type userProfileView struct {
	Name                 string                `json:"name"`
	DeskPhoneUDT         string                `json:"deskPhoneUDT,omitempty"`
	MobileDesktopUDT     string                `json:"mobileDesktopUDT,omitempty"`
	RemoteDestinationUDT string                `json:"remoteDestinationUDT,omitempty"`
	ULT                  string                `json:"ult,omitempty"`
	AllowSelfProvision   bool                  `json:"allowSelfProvision"`
	DeviceLimit          int                   `json:"deviceLimit"`
	DefaultSystemProfile bool                  `json:"defaultSystemProfile,omitempty"`
	WebexPolicy          provision.WebexPolicy `json:"webexPolicy,omitempty"`
}

func viewUserProfile(p provision.UserProfile) userProfileView { return userProfileView(p) }

func (v userProfileView) userProfile() provision.UserProfile { return provision.UserProfile(v) }

// featureGroupTemplateView is a feature group template: the user profile
// it gives imported users.
type featureGroupTemplateView struct {
	Name        string `json:"name"`
	UserProfile string `json:"userProfile"`
	Description string `json:"description,omitempty"`
}

func viewFeatureGroupTemplate(t provision.FeatureGroupTemplate) featureGroupTemplateView {
	return featureGroupTemplateView(t)
}

func (v featureGroupTemplateView) featureGroupTemplate() provision.FeatureGroupTemplate {
	return provision.FeatureGroupTemplate(v)
}

// partitionView is a route partition.
type partitionView struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

func viewPartition(p provision.Partition) partitionView { return partitionView(p) }

func (v partitionView) partition() provision.Partition { return provision.Partition(v) }

// cssView is a calling search space: its partitions in lookup order,
// always a list.
type cssView struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Partitions  []string `json:"partitions"`
}

func viewCSS(c provision.CallingSearchSpace) cssView {
	v := cssView(c)
	if v.Partitions == nil {
		v.Partitions = []string{}
	}
	return v
}

func (v cssView) css() provision.CallingSearchSpace { return provision.CallingSearchSpace(v) }
