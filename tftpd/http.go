package tftpd

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
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
	f, err := s.open(name)
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
	ctype := "application/octet-stream"
	if strings.HasSuffix(strings.ToLower(f.name), ".xml") {
		ctype = "text/xml; charset=utf-8"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	if f.kind == KindDevice || f.kind == KindDefault {
		h.Set("Cache-Control", "no-cache") // a changed device must be seen on the next fetch
	}
	s.m.http.WithLabelValues(f.kind.String(), "200").Inc()
	// ServeContent sets Content-Length and handles HEAD and Range (and,
	// for static files, conditional requests).
	http.ServeContent(w, r, f.name, f.modTime, f.r)
}

func (s *Server) httpError(w http.ResponseWriter, kind string, code int, msg string) {
	s.m.http.WithLabelValues(kind, strconv.Itoa(code)).Inc()
	http.Error(w, msg, code)
}

// HTTPServer wraps Handler in a server with timeouts: phones are on the
// LAN and files are small, but firmware from the static folder can be tens
// of megabytes, hence the long write timeout.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Minute,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    8 << 10,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
}
