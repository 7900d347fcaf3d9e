package tftpd

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Handler is the HTTP mirror of the TFTP names: GET and HEAD of
// /<name>, the same allow-list and content, 404 for anything not found.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.httpError(w, "refused", http.StatusMethodNotAllowed, "only GET and HEAD")
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/")
	req, err := Classify(name)
	var f *file
	if err == nil {
		// A config already rendered needs no store read, so no context.
		if e, _ := s.content.cachedDevice(req); e != nil {
			f = cachedFile(e)
		} else {
			f, err = s.openRequest(req)
		}
	}
	switch {
	case errors.Is(err, ErrBadName):
		s.httpError(w, kindRefused, http.StatusBadRequest, err.Error())
		return
	case errors.Is(err, ErrNotFound):
		s.httpError(w, kindNotFound, http.StatusNotFound, "not found")
		return
	case err != nil:
		s.log.Warn("http config request failed", "file", clip(name), "err", err)
		s.httpError(w, "error", http.StatusInternalServerError, "internal error")
		return
	}
	defer f.Close()
	h := w.Header()
	if strings.HasSuffix(strings.ToLower(f.name), ".xml") {
		h["Content-Type"] = xmlType
	} else {
		h["Content-Type"] = octetType
	}
	if f.kind == KindDevice || f.kind == KindDefault {
		h["Cache-Control"] = noCache // a changed device must be seen on the next fetch
	}
	s.m.http.WithLabelValues(f.kind.String(), "200").Inc()
	if f.data != nil && r.Header["Range"] == nil {
		// A generated file, whole: its bytes go into the response buffer
		// with the header, one write to the socket. ServeContent would
		// copy through ReadFrom, which flushes the header on its own.
		// Without a modification time or an ETag, no conditional request
		// applies to it.
		h["Accept-Ranges"] = acceptBytes
		h["Content-Length"] = f.length
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(f.data)
		}
		return
	}
	// ServeContent sets Content-Length and handles HEAD and Range (and,
	// for static files, conditional requests).
	http.ServeContent(w, r, f.name, f.modTime, f.r)
}

// Header values shared by every answer; net/http only reads them.
var (
	xmlType     = []string{"text/xml; charset=utf-8"}
	octetType   = []string{"application/octet-stream"}
	noCache     = []string{"no-cache"}
	acceptBytes = []string{"bytes"}
)

func (s *Server) httpError(w http.ResponseWriter, kind string, code int, msg string) {
	s.m.http.WithLabelValues(kind, strconv.Itoa(code)).Inc()
	http.Error(w, msg, code)
}
