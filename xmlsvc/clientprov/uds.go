package clientprov

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"

	"selfprov/provision"
)

// UDS-like device list. Cisco UDS answers XML; a client that asks for
// application/json gets the same document as JSON.

// udsError is the XML form of an error answer.
type udsError struct {
	XMLName xml.Name `xml:"error"`
	ErrorDetail
}

func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "application/json") {
			return true
		}
	}
	return false
}

func (h *Handler) userDevices(w http.ResponseWriter, r *http.Request, out *outcome) {
	asJSON := wantsJSON(r)
	creds, ok := credentials(r)
	var u provision.User
	var ds []provision.Device
	err := error(errAuthRequired)
	if ok {
		u, ds, err = h.svc.OwnDevices(r.Context(), creds, r.PathValue("userid"))
	}
	if err != nil {
		if asJSON {
			h.writeJSONError(w, r, err, out)
			return
		}
		status, d := h.errorDetail(r, err)
		out.code = d.Code
		errorHeaders(w, status, err)
		writeXML(w, status, udsError{ErrorDetail: d})
		return
	}
	base := "/cucm-uds/user/" + url.PathEscape(u.ID)
	resp := Devices{URI: base + "/devices", Version: "1.0", UserID: u.ID, Devices: []UDSDevice{}}
	for _, d := range ds {
		m, _ := h.svc.Model(d.Model)
		resp.Devices = append(resp.Devices, UDSDevice{
			URI:         base + "/device/" + url.PathEscape(d.Name),
			ID:          d.Name,
			Name:        d.Name,
			Description: d.Description,
			Model:       m.Name,
			ModelNumber: d.Model,
			Type:        string(m.Class),
			Protocol:    d.Protocol,
			Lines:       linesOf(d),
		})
	}
	if asJSON {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	writeXML(w, http.StatusOK, resp)
}

func writeXML(w http.ResponseWriter, status int, v any) {
	body, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`<error><code>INTERNAL</code><message>internal error</message></error>`)
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(append(body, '\n'))
}
