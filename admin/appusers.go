package admin

import (
	"net/http"

	"selfprov/provision"
)

// Application users log in to AXL and RisPort70; they are managed here
// under /api/v1/app-users, apart from end users. Passwords are written,
// never shown.

type appUserView struct {
	UserID string   `json:"userId"`
	Roles  []string `json:"roles"`
}

type appUserInput struct {
	Password string   `json:"password"`
	Roles    []string `json:"roles"`
}

func viewAppUser(u provision.AppUser) appUserView {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return appUserView{UserID: u.ID, Roles: roles}
}

func (s *Server) routeAppUsers(mux *http.ServeMux, prefix string) {
	mux.HandleFunc("GET "+prefix, s.listAppUsers)
	mux.HandleFunc("GET "+prefix+"/{id}", s.getAppUser)
	mux.HandleFunc("PUT "+prefix+"/{id}", s.putAppUser)
	mux.HandleFunc("DELETE "+prefix+"/{id}", s.deleteAppUser)
}

func (s *Server) listAppUsers(w http.ResponseWriter, r *http.Request) {
	us, err := s.svc.AppUsers(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := page[appUserView]{Items: make([]appUserView, 0, len(us))}
	for _, u := range us {
		p.Items = append(p.Items, viewAppUser(u))
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) getAppUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.svc.AppUser(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewAppUser(u))
}

// putAppUser creates or replaces an application user; a password left
// out keeps the stored one.
func (s *Server) putAppUser(w http.ResponseWriter, r *http.Request) {
	var in appUserInput
	if err := s.decodeBody(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.svc.PutAppUser(r.Context(), provision.AppUser{ID: r.PathValue("id"), Roles: in.Roles}, in.Password)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewAppUser(u))
}

func (s *Server) deleteAppUser(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.DeleteAppUser(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
