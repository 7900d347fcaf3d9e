package phonesim

import (
	"fmt"
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
	host := hostOf(r.Registrar)
	tp := strings.ToLower(r.Transport)
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\r\n", r.Registrar)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=%s;rport\r\n", r.Transport, r.Local, r.Branch)
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\n", r.AOR, host, r.FromTag)
	fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", r.AOR, host)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", r.CallID)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().UTC().Format(time.RFC1123))
	fmt.Fprintf(&b, "CSeq: %d REGISTER\r\n", r.CSeq)
	fmt.Fprintf(&b, "User-Agent: %s\r\n", r.Model.UserAgent())
	fmt.Fprintf(&b, "Contact: <sip:%s@%s;transport=%s>;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-%s>\";+u.sip!devicename.ccm.cisco.com=\"%s\";+u.sip!model.ccm.cisco.com=\"%d\"\r\n",
		r.ContactUser, r.Local, tp, r.MAC.Lower(), r.Device, r.Model.ID)
	fmt.Fprintf(&b, "Supported: %s\r\n", ciscoSupported)
	if r.Reason != "" {
		fmt.Fprintf(&b, "Reason: SIP;cause=200;text=\"cisco-alarm:14 Name=%s Load=%s Last=%s\"\r\n", r.Device, r.Model.Load, r.Reason)
	}
	fmt.Fprintf(&b, "Expires: %d\r\n", r.Expires)
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
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
