package main

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestProfiler(t *testing.T) {
	addr, stop, err := listenProfiler("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr.String() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("%d\n%.200s", resp.StatusCode, body)
	}
	if _, _, err := listenProfiler("127.0.0.1:bad", slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a bad address was accepted")
	}
}
