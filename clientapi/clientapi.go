// Package clientapi is the wire format of Webex App auto-provisioning:
// the JSON of createDevice and supportedServices and the UDS-like device
// list. It imports nothing of the server, so simulated clients can use it.
package clientapi

import (
	"encoding/xml"
	"net/url"
)

// Paths of the endpoints.
const (
	PathCreateDevice      = "/devicemanagement/v1/clientAutoProv/createDevice"
	PathSupportedServices = "/ucmservices/v1/supportedServices"
)

// PathUserDevices is the UDS-like device list of a user.
func PathUserDevices(userID string) string {
	return "/cucm-uds/user/" + url.PathEscape(userID) + "/devices"
}

// CreateRequest is the createDevice body.
type CreateRequest struct {
	// UserID is the user ID, or an email address that is the user's.
	UserID string `json:"userId"`
	// Email, when set, must be the user's email address.
	Email string `json:"email,omitempty"`
	// Platform: windows, mac (CSF); android (BOT); iphone (TCT); ipad, chromebook (TAB).
	Platform string `json:"platform"`
	// AppVersion is the Webex App version, 41.12 or newer.
	AppVersion string `json:"appVersion"`
}

// DeviceLine is a line of a device in answers.
type DeviceLine struct {
	Button      int    `json:"button" xml:"button,attr"`
	DN          string `json:"directoryNumber" xml:"directoryNumber"`
	Partition   string `json:"partition" xml:"partition"`
	Label       string `json:"label,omitempty" xml:"label,omitempty"`
	DisplayName string `json:"displayName,omitempty" xml:"displayName,omitempty"`
}

// CreateResponse is the createDevice answer: 201 when the device was
// created, 200 when the user already had it.
type CreateResponse struct {
	DeviceName      string       `json:"deviceName"`
	DeviceType      string       `json:"deviceType"` // CSF, BOT, TCT, TAB
	Created         bool         `json:"created"`
	Model           int          `json:"model"`
	Product         string       `json:"product"`
	Owner           string       `json:"owner"`
	Description     string       `json:"description"`
	Protocol        string       `json:"protocol"`
	SecurityProfile string       `json:"securityProfile"`
	ButtonTemplate  string       `json:"buttonTemplate"`
	ConfigFile      string       `json:"configFile"` // fetched over TFTP or HTTP :6970
	ConfigVersion   string       `json:"configVersion"`
	Lines           []DeviceLine `json:"lines"`
}

// ErrorBody is every error answer: {"error": {"code": ..., "message": ...}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error" xml:"-"`
}

// ErrorDetail carries the outcome code.
type ErrorDetail struct {
	Code    string `json:"code" xml:"code"`
	Message string `json:"message" xml:"message"`
}

// SupportedServices is the supportedServices answer.
type SupportedServices struct {
	Version  string             `json:"version"`
	Services []SupportedService `json:"services"`
	// ClientAutoProv describes what createDevice accepts.
	ClientAutoProv ClientAutoProvInfo `json:"clientAutoProv"`
}

// SupportedService is one service of the cluster.
type SupportedService struct {
	Name   string `json:"name"`
	Method string `json:"method"`
	Path   string `json:"path"`
}

// ClientAutoProvInfo lists the accepted app versions and platforms.
type ClientAutoProvInfo struct {
	MinimumAppVersion string              `json:"minimumAppVersion"`
	Platforms         []SupportedPlatform `json:"platforms"`
}

// SupportedPlatform is a platform and the device type it gets.
type SupportedPlatform struct {
	Platform   string `json:"platform"`
	DeviceType string `json:"deviceType"`
	Class      string `json:"class"`
	Model      int    `json:"model,omitempty"`
	Product    string `json:"product,omitempty"`
}

// Devices is the answer of GET /cucm-uds/user/{userid}/devices.
type Devices struct {
	XMLName xml.Name    `json:"-" xml:"devices"`
	URI     string      `json:"uri" xml:"uri,attr"`
	Version string      `json:"version" xml:"version,attr"`
	UserID  string      `json:"userId" xml:"userId,attr"`
	Devices []UDSDevice `json:"devices" xml:"device"`
}

// UDSDevice is one device of the list.
type UDSDevice struct {
	URI         string       `json:"uri" xml:"uri,attr"`
	ID          string       `json:"id" xml:"id"`
	Name        string       `json:"name" xml:"name"`
	Description string       `json:"description" xml:"description"`
	Model       string       `json:"model" xml:"model"`
	ModelNumber int          `json:"modelNumber" xml:"modelNumber"`
	Type        string       `json:"type" xml:"type"` // device class: desk, desktop, mobile, tablet
	Protocol    string       `json:"protocol" xml:"protocol"`
	Lines       []DeviceLine `json:"lines" xml:"lines>line"`
}
