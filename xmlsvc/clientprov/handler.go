package clientprov

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"

	"selfprov/clientapi"
	"selfprov/internal/clip"
	"selfprov/provision"
)

// The wire types live in clientapi, which clients import without the server.
type (
	CreateRequest      = clientapi.CreateRequest
	CreateResponse     = clientapi.CreateResponse
	DeviceLine         = clientapi.DeviceLine
	ErrorBody          = clientapi.ErrorBody
	ErrorDetail        = clientapi.ErrorDetail
	SupportedServices  = clientapi.SupportedServices
	SupportedService   = clientapi.SupportedService
	ClientAutoProvInfo = clientapi.ClientAutoProvInfo
	SupportedPlatform  = clientapi.SupportedPlatform
	Devices            = clientapi.Devices
	UDSDevice          = clientapi.UDSDevice
)

// statusOf maps outcome codes to HTTP statuses: the adapter's one table.
var statusOf = map[string]int{
	provision.CodeInvalid:            http.StatusBadRequest,
	provision.CodeAutoProvPlatform:   http.StatusBadRequest,
	provision.CodeAutoProvVersion:    http.StatusBadRequest,
	provision.CodeUserNotFound:       http.StatusNotFound,
	provision.CodeAutoProvEmail:      http.StatusForbidden,
	provision.CodeAutoProvPolicy:     http.StatusForbidden,
	provision.CodeNoPrimaryExtension: http.StatusUnprocessableEntity,
	provision.CodeAutoProvName:       http.StatusUnprocessableEntity,
	provision.CodeAutoProvNoTemplate: http.StatusUnprocessableEntity,
	provision.CodeInvalidModel:       http.StatusUnprocessableEntity,
	provision.CodeAutoProvCoolDown:   http.StatusTooManyRequests,
	provision.CodeDuplicate:          http.StatusConflict,
	provision.CodeUnavailable:        http.StatusServiceUnavailable,
	provision.CodeAuthFailed:         http.StatusUnauthorized,
	provision.CodeAccountLocked:      http.StatusUnauthorized,
	provision.CodeUserMismatch:       http.StatusForbidden,
	provision.CodeTooManyAttempts:    http.StatusTooManyRequests,
	codeAuthRequired:                 http.StatusUnauthorized,
	codeTooLarge:                     http.StatusRequestEntityTooLarge,
	codeMediaType:                    http.StatusUnsupportedMediaType,
}

// Codes of this adapter, for requests refused before they reach the core.
const (
	codeTooLarge     = "REQUEST_TOO_LARGE"
	codeMediaType    = "UNSUPPORTED_MEDIA_TYPE"
	codeInternal     = "INTERNAL"
	codeAuthRequired = "AUTH_REQUIRED"
)

// challenge is the WWW-Authenticate of every 401: the user's own
// credentials over HTTP Basic (user ID or email, password or PIN).
const challenge = `Basic realm="selfprov", charset="UTF-8"`

var errAuthRequired = &requestError{codeAuthRequired, "credentials required: HTTP Basic with your user ID or email and your password or PIN"}

// credentials reads HTTP Basic credentials and the source address of r;
// ok is false when the request carries no readable Basic credentials.
func credentials(r *http.Request) (provision.Credentials, bool) {
	user, secret, ok := r.BasicAuth()
	return provision.Credentials{UserID: user, Secret: secret, Source: provision.ParseSource(r.RemoteAddr)}, ok
}

type requestError struct {
	code string
	msg  string
}

func (e *requestError) Error() string { return e.code + ": " + e.msg }

// errorDetail turns err into the code and message answered; internal
// errors are logged, not shown.
func (h *Handler) errorDetail(r *http.Request, err error) (int, ErrorDetail) {
	var re *requestError
	if errors.As(err, &re) {
		return statusOf[re.code], ErrorDetail{Code: re.code, Message: re.msg}
	}
	code := provision.CodeOf(err)
	status, ok := statusOf[code]
	if !ok {
		h.log.Error("client auto-provisioning failed", "path", r.URL.Path, "code", code, "err", err)
		return http.StatusInternalServerError, ErrorDetail{Code: codeInternal, Message: "internal error"}
	}
	return status, ErrorDetail{Code: code, Message: err.Error()}
}

func (h *Handler) writeJSONError(w http.ResponseWriter, r *http.Request, err error, out *outcome) {
	status, d := h.errorDetail(r, err)
	out.code = d.Code
	errorHeaders(w, status, err)
	writeJSON(w, status, ErrorBody{Error: d})
}

// errorHeaders tell a client when to retry and how to authenticate.
func errorHeaders(w http.ResponseWriter, status int, err error) {
	if ra := provision.RetryAfter(err); ra > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ra.Seconds()))))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", challenge)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":{"code":"INTERNAL","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// DecodeCreateRequest reads one JSON object of at most max bytes: no
// trailing data, string fields only.
func DecodeCreateRequest(r io.Reader, max int64) (CreateRequest, error) {
	var req CreateRequest
	body, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, &requestError{codeTooLarge, fmt.Sprintf("request body is larger than %d bytes", max)}
		}
		return req, &requestError{provision.CodeInvalid, "reading request body: " + err.Error()}
	}
	if int64(len(body)) > max {
		return req, &requestError{codeTooLarge, fmt.Sprintf("request body is larger than %d bytes", max)}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, &requestError{provision.CodeInvalid, "request body is empty: want a JSON object with userId, platform and appVersion"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return CreateRequest{}, &requestError{provision.CodeInvalid, "malformed JSON: " + jsonErrorText(err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return CreateRequest{}, &requestError{provision.CodeInvalid, "malformed JSON: data after the object"}
	}
	return req, nil
}

func jsonErrorText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("field %q must be a %s", te.Field, te.Type)
		}
		return "want a JSON object"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v at offset %d", se, se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

func (h *Handler) createDevice(w http.ResponseWriter, r *http.Request, out *outcome) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			h.writeJSONError(w, r, &requestError{codeMediaType, fmt.Sprintf("content type %q: want application/json", clip.String(ct, 64))}, out)
			return
		}
	}
	creds, ok := credentials(r)
	if !ok {
		h.writeJSONError(w, r, errAuthRequired, out)
		return
	}
	req, err := DecodeCreateRequest(http.MaxBytesReader(w, r.Body, h.maxBody), h.maxBody)
	if err != nil {
		h.writeJSONError(w, r, err, out)
		return
	}
	d, created, err := h.svc.SignInClient(r.Context(), creds, provision.ClientRequest{
		User: req.UserID, Email: req.Email, Platform: req.Platform, AppVersion: req.AppVersion,
	})
	if err != nil {
		h.writeJSONError(w, r, err, out)
		return
	}
	m, _ := h.svc.Model(d.Model)
	resp := CreateResponse{
		DeviceName:      d.Name,
		DeviceType:      d.Name[:3],
		Created:         created,
		Model:           d.Model,
		Product:         m.Name,
		Owner:           d.Owner,
		Description:     d.Description,
		Protocol:        d.Protocol,
		SecurityProfile: d.Settings.SecurityProfile,
		ButtonTemplate:  d.Settings.ButtonTemplate,
		ConfigFile:      d.Name + ".cnf.xml",
		ConfigVersion:   d.ConfigVersion,
		Lines:           linesOf(d),
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		h.m.created.WithLabelValues(resp.DeviceType).Inc()
		w.Header().Set("Location", clientapi.PathUserDevices(d.Owner))
	}
	writeJSON(w, status, resp)
}

func linesOf(d provision.Device) []DeviceLine {
	out := make([]DeviceLine, 0, len(d.Lines))
	for _, l := range d.Lines {
		out = append(out, DeviceLine{Button: l.Button, DN: l.DN, Partition: l.Partition, Label: l.Label, DisplayName: l.DisplayName})
	}
	return out
}

func (h *Handler) supportedServices(w http.ResponseWriter, r *http.Request, out *outcome) {
	resp := SupportedServices{
		Version: "1.0",
		Services: []SupportedService{
			{Name: "clientAutoProv", Method: http.MethodPost, Path: clientapi.PathCreateDevice},
			{Name: "supportedServices", Method: http.MethodGet, Path: clientapi.PathSupportedServices},
			{Name: "userDevices", Method: http.MethodGet, Path: "/cucm-uds/user/{userid}/devices"},
		},
		ClientAutoProv: ClientAutoProvInfo{
			MinimumAppVersion: fmt.Sprintf("%d.%d", provision.MinClientMajor, provision.MinClientMinor),
		},
	}
	for _, p := range provision.ClientPlatforms() {
		sp := SupportedPlatform{Platform: p.Name, DeviceType: p.Prefix, Class: string(p.Class)}
		if m, err := h.svc.ClientModel(p.Prefix); err == nil {
			sp.Model, sp.Product = m.ID, m.Name
		}
		resp.ClientAutoProv.Platforms = append(resp.ClientAutoProv.Platforms, sp)
	}
	writeJSON(w, http.StatusOK, resp)
}
