package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"selfprov/internal/clip"
	"selfprov/provision"
)

// named is a collection of objects keyed by name: templates and profiles.
// The core's type is T; the API reads and writes its own view V.
type named[T, V any] struct {
	kind string
	list func(context.Context) ([]T, error)
	get  func(context.Context, string) (T, error)
	put  func(context.Context, T) error
	del  func(context.Context, string) error
	view func(T) V
	core func(V) T
	name func(*V) *string
}

// routeNamed serves GET base, and GET, PUT and DELETE base/{name}.
func routeNamed[T, V any](s *Server, base string, n named[T, V]) {
	s.mux.HandleFunc("GET "+base, func(w http.ResponseWriter, r *http.Request) {
		all, err := n.list(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		views := make([]V, 0, len(all))
		for _, t := range all {
			views = append(views, n.view(t))
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": views})
	})
	s.mux.HandleFunc("GET "+base+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		t, err := n.get(r.Context(), r.PathValue("name"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, n.view(t))
	})
	// PUT creates or replaces; the body's name may be left out, and must
	// otherwise equal the path's (renaming is a PUT and a DELETE).
	s.mux.HandleFunc("PUT "+base+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		var v V
		if err := s.decodeBody(w, r, &v); err != nil {
			s.writeError(w, r, err)
			return
		}
		name := r.PathValue("name")
		if p := n.name(&v); *p == "" {
			*p = name
		} else if *p != name {
			s.writeError(w, r, invalid(fmt.Sprintf("%s name %q in the body differs from %q in the path", n.kind, clip.String(*p, 64), clip.String(name, 64))))
			return
		}
		ctx := r.Context()
		_, err := n.get(ctx, name)
		existed := err == nil
		if err != nil && !errors.Is(err, provision.ErrNotFound) {
			s.writeError(w, r, err)
			return
		}
		if err := n.put(ctx, n.core(v)); err != nil {
			s.writeError(w, r, err)
			return
		}
		// Answer with what was stored: the core fills defaults in.
		if stored, err := n.get(ctx, name); err == nil {
			v = n.view(stored)
		}
		status := http.StatusOK
		if !existed {
			status = http.StatusCreated
			w.Header().Set("Location", base+"/"+url.PathEscape(name))
		}
		writeJSON(w, status, v)
	})
	// DELETE refuses with IN_USE while anything names the object.
	s.mux.HandleFunc("DELETE "+base+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		if err := n.del(r.Context(), r.PathValue("name")); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
