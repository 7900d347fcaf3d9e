package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// serveProfiler serves net/http/pprof on its own listener, never on a
// phone-facing or the admin port, so profiling a loaded daemon is opt-in
// and apart from everything it measures.
func serveProfiler(addr string, log *slog.Logger) (stop func(), err error) {
	_, stop, err = listenProfiler(addr, log)
	return stop, err
}

// listenProfiler is serveProfiler returning the bound address.
func listenProfiler(addr string, log *slog.Logger) (net.Addr, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("profiler serving", "addr", ln.Addr().String())
	return ln.Addr(), func() { srv.Close() }, nil
}
