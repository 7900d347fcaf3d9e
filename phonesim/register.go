package phonesim

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ciscoSupported is the Supported header of a Cisco 88xx phone.
const ciscoSupported = "replaces,join,sdp-anat,norefersub,resource-priority,extended-refer,X-cisco-callinfo,X-cisco-serviceuri,X-cisco-escapecodes,X-cisco-service-control,X-cisco-srtp-fallback,X-cisco-monrec,X-cisco-config,X-cisco-sis-7.0.0,X-cisco-xsi-8.5.1"

// registerRequest is what differs between one phone's REGISTERs.
type registerRequest struct {
	Registrar   string // host:port of the Request-URI
	AOR         string // From/To user: the line DN, or the device name before a line exists
	ContactUser string // the line's contact, or the device name
	Local       string // host:port of the leg
	Transport   string // UDP or TCP
	Branch      string
	CallID      string
	FromTag     string
	CSeq        int
	Expires     int
	MAC         MAC
	Device      string // +u.sip!devicename
	Model       Model
	Reason      string // Last= of the cisco-alarm on a full register; "" on a refresh
}

// bytes renders the REGISTER the way a Cisco phone sends it (protocol.md §3).
func (r registerRequest) bytes() []byte {
	// Appended piece by piece rather than formatted: every phone of a
	// storm sends five of these.
	host := hostOf(r.Registrar)
	b := make([]byte, 0, 1024)
	b = append(b, "REGISTER sip:"...)
	b = append(b, r.Registrar...)
	b = append(b, " SIP/2.0\r\nVia: SIP/2.0/"...)
	b = append(b, r.Transport...)
	b = append(b, ' ')
	b = append(b, r.Local...)
	b = append(b, ";branch="...)
	b = append(b, r.Branch...)
	b = append(b, ";rport\r\nFrom: <sip:"...)
	b = append(b, r.AOR...)
	b = append(b, '@')
	b = append(b, host...)
	b = append(b, ">;tag="...)
	b = append(b, r.FromTag...)
	b = append(b, "\r\nTo: <sip:"...)
	b = append(b, r.AOR...)
	b = append(b, '@')
	b = append(b, host...)
	b = append(b, ">\r\nCall-ID: "...)
	b = append(b, r.CallID...)
	b = append(b, "\r\nMax-Forwards: 70\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, "Mon, 02 Jan 2006 15:04:05 GMT") // RFC 3261's SIP-date, in GMT
	b = append(b, "\r\nCSeq: "...)
	b = strconv.AppendInt(b, int64(r.CSeq), 10)
	b = append(b, " REGISTER\r\nUser-Agent: "...)
	b = append(b, r.Model.UserAgent()...)
	b = append(b, "\r\nContact: <sip:"...)
	b = append(b, r.ContactUser...)
	b = append(b, '@')
	b = append(b, r.Local...)
	b = append(b, ";transport="...)
	b = append(b, strings.ToLower(r.Transport)...)
	b = append(b, ">;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-"...)
	b = hex.AppendEncode(b, r.MAC[:])
	b = append(b, ">\";+u.sip!devicename.ccm.cisco.com=\""...)
	b = append(b, r.Device...)
	b = append(b, "\";+u.sip!model.ccm.cisco.com=\""...)
	b = strconv.AppendInt(b, int64(r.Model.ID), 10)
	b = append(b, "\"\r\nSupported: "+ciscoSupported+"\r\n"...)
	if r.Reason != "" {
		b = append(b, "Reason: SIP;cause=200;text=\"cisco-alarm:14 Name="...)
		b = append(b, r.Device...)
		b = append(b, " Load="...)
		b = append(b, r.Model.Load...)
		b = append(b, " Last="...)
		b = append(b, r.Reason...)
		b = append(b, "\"\r\n"...)
	}
	b = append(b, "Expires: "...)
	b = strconv.AppendInt(b, int64(r.Expires), 10)
	b = append(b, "\r\nContent-Length: 0\r\n\r\n"...)
	return b
}

// ServiceControl is the body of a service-control NOTIFY.
type ServiceControl struct {
	Action         string // reset, restart, check-version, apply-config, ...
	RegisterCallID string // without the braces
	ConfigVersion  string
	Fields         map[string]string
}

// ParseServiceControl reads the text/plain key=value body of a
// service-control NOTIFY. Values may be wrapped in braces.
func ParseServiceControl(body []byte) (ServiceControl, error) {
	sc := ServiceControl{Fields: map[string]string{}}
	for i, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return sc, fmt.Errorf("phonesim: service-control line %d %q: want key=value", i+1, line)
		}
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, "{") && strings.HasSuffix(v, "}") {
			v = v[1 : len(v)-1]
		}
		sc.Fields[k] = v
		switch strings.ToLower(k) {
		case "action":
			sc.Action = strings.ToLower(v)
		case "registercallid":
			sc.RegisterCallID = v
		case "configversionstamp":
			sc.ConfigVersion = v
		}
	}
	if sc.Action == "" {
		return sc, fmt.Errorf("phonesim: service-control body has no action")
	}
	return sc, nil
}

// ServiceControlCallID returns the RegisterCallId of a service-control
// body, or "" when there is none.
func ServiceControlCallID(body []byte) string {
	if len(body) == 0 {
		return ""
	}
	sc, err := ParseServiceControl(body)
	if err != nil {
		return ""
	}
	return sc.RegisterCallID
}
