package admin

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"selfprov/internal/clip"
	"selfprov/provision"
)

// Paging: a page holds at most maxPage items, defaultPage unless asked.
const (
	defaultPage = 100
	maxPage     = 1000
)

// userInput is a user as an administrator writes it: the details and,
// optionally, new secrets. Credential state is never written here.
type userInput struct {
	ID               string                `json:"userId"`
	LastName         string                `json:"lastName"`
	FirstName        string                `json:"firstName"`
	Email            string                `json:"email"`
	SelfServiceID    string                `json:"selfServiceId"`
	PrimaryExtension string                `json:"primaryExtension"`
	Partition        string                `json:"partition"`
	UserProfile      string                `json:"userProfile"`
	Groups           []string              `json:"groups"`
	WebexPolicy      provision.WebexPolicy `json:"webexPolicy"` // "" follows the profile, then the organisation
	PIN              string                `json:"pin"`
	Password         string                `json:"password"`
}

func (in userInput) user() (provision.User, provision.Secrets) {
	return provision.User{
		ID: in.ID, LastName: in.LastName, FirstName: in.FirstName, Email: in.Email,
		SelfServiceID: in.SelfServiceID, PrimaryExtension: in.PrimaryExtension,
		Partition: in.Partition, UserProfile: in.UserProfile, Groups: in.Groups,
		WebexPolicy: in.WebexPolicy,
	}, provision.Secrets{PIN: in.PIN, Password: in.Password}
}

// query reads the allowed query parameters of r, refusing others and
// repeated ones.
func query(r *http.Request, allowed ...string) (map[string]string, error) {
	return parseQuery(r.URL.RawQuery, allowed...)
}

func parseQuery(raw string, allowed ...string) (map[string]string, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, invalid("query string is not valid: " + err.Error())
	}
	out := make(map[string]string, len(vals))
	for k, v := range vals {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return nil, invalid(fmt.Sprintf("unknown query parameter %q; this endpoint takes none", clip.String(k, 64)))
			}
			return nil, invalid(fmt.Sprintf("unknown query parameter %q; allowed: %s", clip.String(k, 64), strings.Join(allowed, ", ")))
		}
		if len(v) > 1 {
			return nil, invalid(fmt.Sprintf("query parameter %q is given %d times", k, len(v)))
		}
		out[k] = v[0]
	}
	return out, nil
}

func pageLimit(q map[string]string) (int, error) {
	s, ok := q["limit"]
	if !ok {
		return defaultPage, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPage {
		return 0, invalid(fmt.Sprintf("limit %q must be a number from 1 to %d", clip.String(s, 64), maxPage))
	}
	return n, nil
}

// page is one page of a listing; Next, when set, is the "after" value of
// the next page.
type page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "after", "limit")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, err := pageLimit(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	users, err := s.svc.Users(r.Context(), q["after"], limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := page[userView]{Items: make([]userView, 0, len(users))}
	for _, u := range users {
		p.Items = append(p.Items, viewUser(u))
	}
	if len(users) == limit {
		p.Next = users[len(users)-1].ID
	}
	writeJSON(w, http.StatusOK, p)
}

// userByID finds the user the path names, by user ID only (the core's
// User): a self-service ID does not address a user here.
func (s *Server) userByID(r *http.Request) (provision.User, error) {
	return s.svc.User(r.Context(), r.PathValue("id"))
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.userByID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewUser(u))
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	var in userInput
	if err := s.decodeBody(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, sec := in.user()
	u, err := s.svc.CreateUser(r.Context(), u, sec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/users/"+url.PathEscape(u.ID))
	writeJSON(w, http.StatusCreated, viewUser(u))
}

// updateUser replaces a user's details; secrets change only if given, and
// the credential state (failed attempts, lockout) is kept.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) {
	var in userInput
	if err := s.decodeBody(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if in.ID == "" {
		in.ID = id
	} else if in.ID != id {
		s.writeError(w, r, invalid(fmt.Sprintf("userId %q in the body differs from %q in the path", clip.String(in.ID, 64), clip.String(id, 64))))
		return
	}
	u, sec := in.user()
	u, err := s.svc.UpdateUser(r.Context(), u, sec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewUser(u))
}

// deleteUser removes a user; their devices stay, without an owner.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.DeleteUser(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type credentialsInput struct {
	PIN      string `json:"pin"`
	Password string `json:"password"`
}

// setCredentials sets a user's PIN, password or both.
func (s *Server) setCredentials(w http.ResponseWriter, r *http.Request) {
	var in credentialsInput
	if err := s.decodeBody(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.PIN == "" && in.Password == "" {
		s.writeError(w, r, invalid(`give "pin", "password" or both`))
		return
	}
	u, err := s.userByID(r)
	if err == nil {
		_, err = s.svc.UpdateUser(r.Context(), u, provision.Secrets{PIN: in.PIN, Password: in.Password})
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// unlockUser clears failed logons and a lockout.
func (s *Server) unlockUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.userByID(r)
	if err == nil {
		err = s.svc.Unlock(r.Context(), u.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type quickAddInput struct {
	User                 userInput `json:"user"`
	FeatureGroupTemplate string    `json:"featureGroupTemplate"`
	// DeviceMAC, when set, adds a desk phone of DeviceModel owned by the
	// user, line 1 their primary extension.
	DeviceMAC   string `json:"deviceMAC"`
	DeviceModel int    `json:"deviceModel"`
}

type quickAddResult struct {
	User   userView    `json:"user"`
	Device *deviceView `json:"device,omitempty"`
}

func (s *Server) quickAdd(w http.ResponseWriter, r *http.Request) {
	var in quickAddInput
	if err := s.decodeBody(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.User.UserProfile != "" {
		s.writeError(w, r, invalid("user.userProfile comes from the feature group template; leave it out"))
		return
	}
	if in.FeatureGroupTemplate == "" {
		s.writeError(w, r, invalid(`field "featureGroupTemplate" is required`))
		return
	}
	if in.DeviceMAC == "" && in.DeviceModel != 0 {
		s.writeError(w, r, invalid(`"deviceModel" needs "deviceMAC"`))
		return
	}
	u, sec := in.User.user()
	u, d, err := s.svc.QuickAdd(r.Context(), provision.QuickAdd{
		User: u, Secrets: sec, FeatureGroupTemplate: in.FeatureGroupTemplate,
		DeviceMAC: in.DeviceMAC, DeviceModel: in.DeviceModel,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/users/"+url.PathEscape(u.ID))
	res := quickAddResult{User: viewUser(u)}
	if d != nil {
		v := viewDevice(*d)
		res.Device = &v
	}
	writeJSON(w, http.StatusCreated, res)
}

// deviceFilter reads the device listing's query parameters.
func deviceFilter(raw string) (provision.DeviceFilter, error) {
	q, err := parseQuery(raw, "prefix", "owner", "state", "model", "after", "limit")
	if err != nil {
		return provision.DeviceFilter{}, err
	}
	f := provision.DeviceFilter{NamePrefix: q["prefix"], Owner: q["owner"], After: q["after"]}
	if f.Limit, err = pageLimit(q); err != nil {
		return provision.DeviceFilter{}, err
	}
	switch st := provision.DeviceState(q["state"]); st {
	case "", provision.StateAutoRegistered, provision.StateProvisioned:
		f.State = st
	default:
		return provision.DeviceFilter{}, invalid(fmt.Sprintf("state %q must be %s or %s", clip.String(string(st), 64), provision.StateAutoRegistered, provision.StateProvisioned))
	}
	if m, ok := q["model"]; ok {
		n, err := strconv.Atoi(m)
		if err != nil || n <= 0 {
			return provision.DeviceFilter{}, invalid(fmt.Sprintf("model %q must be a positive model id such as 36224", clip.String(m, 64)))
		}
		f.Model = n
	}
	return f, nil
}

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) {
	f, err := deviceFilter(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	devs, err := s.svc.Devices(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := page[deviceView]{Items: viewDevices(devs)}
	if len(devs) == f.Limit {
		p.Next = devs[len(devs)-1].Name
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) getDevice(w http.ResponseWriter, r *http.Request) {
	d, err := s.svc.Device(r.Context(), r.PathValue("name"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewDevice(d))
}

// deleteDevice removes a device and releases its auto-registration DN.
func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.DeleteDevice(r.Context(), r.PathValue("name")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// notify asks a registered device to reset or restart. 202 once the
// NOTIFY has left (the phone's answer is not awaited); 409 NOT_REGISTERED
// without a registration, 502 NOTIFY_FAILED when it could not be sent.
func (s *Server) notify(action provision.Action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := s.svc.Notify(r.Context(), name, action); err != nil {
			s.writeError(w, r, err)
			return
		}
		if canon, err := provision.CanonicalDeviceName(name); err == nil {
			name = canon
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"device": name, "action": string(action)})
	}
}

func (s *Server) listRegistrations(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "prefix")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var regs []Registration
	if s.regs != nil {
		regs = s.regs()
	}
	prefix := strings.ToUpper(q["prefix"])
	out := make([]Registration, 0, len(regs))
	for _, b := range regs {
		if strings.HasPrefix(strings.ToUpper(b.DeviceName), prefix) {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b Registration) int {
		return cmp.Or(cmp.Compare(a.DeviceName, b.DeviceName), cmp.Compare(a.Contact, b.Contact))
	})
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

// listCalls shows the calls in progress, oldest first.
func (s *Server) listCalls(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	var calls []Call
	if s.calls != nil {
		calls = slices.Clone(s.calls())
	}
	if calls == nil {
		calls = []Call{}
	}
	slices.SortFunc(calls, func(a, b Call) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.CallID, b.CallID))
	})
	writeJSON(w, http.StatusOK, map[string]any{"items": calls})
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	ms := s.svc.Models()
	slices.SortFunc(ms, func(a, b provision.Model) int { return cmp.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, map[string]any{"items": ms})
}
