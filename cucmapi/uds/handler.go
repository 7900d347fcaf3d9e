// Package uds serves the public and user resources of CUCM's User Data
// Services (UDS) in UDS's XML: version, servers, clusterUser, the user
// search, and a user's own record (with the user's own credentials). A
// user's device list is the client provisioning adapter's.
package uds

import (
	"encoding/xml"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"selfprov/provision"
)

// Options configure a Handler.
type Options struct {
	Service *provision.Service
	// Host is the advertised host, written in URIs and as the server.
	Host string
	// Port is the HTTPS port written in URIs ("8443").
	Port string
	// Version is the UDS (CUCM) version reported.
	Version string
	Logger  *slog.Logger
}

// Handler serves UDS.
type Handler struct {
	o   Options
	mux *http.ServeMux
}

// Routes are the http.ServeMux patterns the handler serves.
var Routes = []string{
	"GET /cucm-uds/version",
	"GET /cucm-uds/servers",
	"GET /cucm-uds/clusterUser",
	"GET /cucm-uds/users",
	"GET /cucm-uds/user/{userid}",
}

// New returns a Handler.
func New(o Options) (*Handler, error) {
	if o.Service == nil {
		return nil, errors.New("uds: a core service is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Version == "" {
		o.Version = "14.0.1"
	}
	if o.Port == "" {
		o.Port = "8443"
	}
	h := &Handler{o: o, mux: http.NewServeMux()}
	h.mux.HandleFunc(Routes[0], h.version)
	h.mux.HandleFunc(Routes[1], h.servers)
	h.mux.HandleFunc(Routes[2], h.clusterUser)
	h.mux.HandleFunc(Routes[3], h.users)
	h.mux.HandleFunc(Routes[4], h.user)
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) base() string {
	return "https://" + h.o.Host + ":" + h.o.Port + "/cucm-uds"
}

type versionInformation struct {
	XMLName      xml.Name `xml:"versionInformation"`
	URI          string   `xml:"uri,attr"`
	Version      string   `xml:"version,attr"`
	Number       string   `xml:"version"`
	Capabilities struct {
		UsersResourceAuthEnabled bool `xml:"usersResourceAuthEnabled"`
	} `xml:"capabilities"`
}

func (h *Handler) version(w http.ResponseWriter, r *http.Request) {
	writeXML(w, http.StatusOK, versionInformation{URI: h.base() + "/version", Version: h.o.Version, Number: h.o.Version})
}

type servers struct {
	XMLName xml.Name `xml:"servers"`
	URI     string   `xml:"uri,attr"`
	Version string   `xml:"version,attr"`
	Servers []string `xml:"server"`
}

func (h *Handler) servers(w http.ResponseWriter, r *http.Request) {
	writeXML(w, http.StatusOK, servers{URI: h.base() + "/servers", Version: h.o.Version, Servers: []string{h.o.Host}})
}

type clusterUser struct {
	XMLName  xml.Name `xml:"clusterUser"`
	URI      string   `xml:"uri,attr"`
	Version  string   `xml:"version,attr"`
	Result   result   `xml:"result"`
	UserName string   `xml:"userName,omitempty"`
	Home     *home    `xml:"homeCluster,omitempty"`
}

type result struct {
	Found bool `xml:"found,attr"`
}

type home struct {
	PrimaryNode   string `xml:"primaryNode"`
	SecondaryNode string `xml:"secondaryNode"`
	TertiaryNode  string `xml:"tertiaryNode"`
}

// clusterUser tells whether this cluster is the user's home cluster.
func (h *Handler) clusterUser(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("username")
	resp := clusterUser{URI: h.base() + "/clusterUser?username=" + url.QueryEscape(name), Version: h.o.Version}
	if name == "" {
		writeError(w, http.StatusBadRequest, "the username parameter is required")
		return
	}
	u, err := h.o.Service.User(r.Context(), name)
	switch {
	case err == nil:
		resp.Result.Found, resp.UserName = true, u.ID
		resp.Home = &home{PrimaryNode: h.o.Host}
	case errors.Is(err, provision.ErrUserNotFound), errors.Is(err, provision.ErrNotFound):
	default:
		h.internal(w, err)
		return
	}
	writeXML(w, http.StatusOK, resp)
}

// userEntry is a user in the search and in the user resource.
type userEntry struct {
	XMLName     xml.Name `xml:"user"`
	URI         string   `xml:"uri,attr"`
	Version     string   `xml:"version,attr,omitempty"`
	ID          string   `xml:"id"`
	UserName    string   `xml:"userName"`
	FirstName   string   `xml:"firstName"`
	LastName    string   `xml:"lastName"`
	PhoneNumber string   `xml:"phoneNumber"`
	Email       string   `xml:"email"`
	Devices     *link    `xml:"devices,omitempty"`
}

type link struct {
	URI string `xml:"uri,attr"`
}

type userList struct {
	XMLName        xml.Name    `xml:"users"`
	URI            string      `xml:"uri,attr"`
	Version        string      `xml:"version,attr"`
	Start          int         `xml:"start,attr"`
	RequestedCount int         `xml:"requestedCount,attr"`
	ReturnedCount  int         `xml:"returnedCount,attr"`
	TotalCount     int         `xml:"totalCount,attr"`
	Users          []userEntry `xml:"user"`
}

func (h *Handler) entry(u provision.User) userEntry {
	return userEntry{URI: h.base() + "/user/" + url.PathEscape(u.ID), ID: u.ID, UserName: u.ID, FirstName: u.FirstName,
		LastName: u.LastName, PhoneNumber: u.PrimaryExtension, Email: u.Email}
}

// maxUsers bounds one search answer, as UDS's max does (64 by default).
const maxUsers = 64

// users searches users: last, first, name (either), email and number
// match the start of the field, case-insensitively; start and max page.
func (h *Handler) users(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, err1 := atoi(q.Get("start"), 0)
	limit, err2 := atoi(q.Get("max"), maxUsers)
	if err1 != nil || err2 != nil {
		writeError(w, http.StatusBadRequest, "start and max must be whole numbers")
		return
	}
	limit = min(max(limit, 1), maxUsers)
	pre := func(field, p string) bool {
		return p == "" || strings.HasPrefix(strings.ToLower(field), strings.ToLower(p))
	}
	resp := userList{URI: h.base() + "/users?" + q.Encode(), Version: h.o.Version, Start: start, RequestedCount: limit, Users: []userEntry{}}
	after := ""
	for {
		us, err := h.o.Service.Users(r.Context(), after, 1000)
		if err != nil {
			h.internal(w, err)
			return
		}
		for _, u := range us {
			name := q.Get("name")
			if !pre(u.LastName, q.Get("last")) || !pre(u.FirstName, q.Get("first")) || !pre(u.Email, q.Get("email")) ||
				!pre(u.PrimaryExtension, q.Get("number")) || !(pre(u.ID, name) || pre(u.FirstName, name) || pre(u.LastName, name)) {
				continue
			}
			if resp.TotalCount >= start && len(resp.Users) < limit {
				resp.Users = append(resp.Users, h.entry(u))
			}
			resp.TotalCount++
		}
		if len(us) < 1000 {
			break
		}
		after = us[len(us)-1].ID
	}
	resp.ReturnedCount = len(resp.Users)
	writeXML(w, http.StatusOK, resp)
}

// user is a user's own record, behind the user's own credentials.
func (h *Handler) user(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="Cisco UDS"`)
		writeError(w, http.StatusUnauthorized, "the user's credentials are required")
		return
	}
	u, _, err := h.o.Service.OwnDevices(r.Context(), provision.Credentials{UserID: id, Secret: secret, Source: provision.ParseSource(r.RemoteAddr)}, r.PathValue("userid"))
	switch {
	case err == nil:
	case errors.Is(err, provision.ErrAuthFailed), errors.Is(err, provision.ErrAccountLocked):
		w.Header().Set("WWW-Authenticate", `Basic realm="Cisco UDS"`)
		writeError(w, http.StatusUnauthorized, "user ID or password not valid")
		return
	case errors.Is(err, provision.ErrUserMismatch):
		writeError(w, http.StatusForbidden, "the credentials are not those of this user")
		return
	case errors.Is(err, provision.ErrTooManyAttempts):
		writeError(w, http.StatusTooManyRequests, "too many failed logins from this address; try again later")
		return
	case errors.Is(err, provision.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	default:
		h.internal(w, err)
		return
	}
	e := h.entry(u)
	e.Version = h.o.Version
	e.Devices = &link{URI: e.URI + "/devices"}
	writeXML(w, http.StatusOK, e)
}

func (h *Handler) internal(w http.ResponseWriter, err error) {
	h.o.Logger.Error("uds request failed", "err", err)
	writeError(w, http.StatusInternalServerError, "internal error")
}

type udsError struct {
	XMLName xml.Name `xml:"error"`
	Message string   `xml:"message"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeXML(w, status, udsError{Message: msg})
}

func writeXML(w http.ResponseWriter, status int, v any) {
	body, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`<error><message>internal error</message></error>`)
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(body)
	w.Write([]byte("\n"))
}

func atoi(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errors.New("not a whole number")
	}
	return n, nil
}
