package registrar

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// logRecorder keeps the records logged at info level and above.
type logRecorder struct {
	mu   sync.Mutex
	recs []map[string]any
}

func (r *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler           { return r }
func (r *logRecorder) WithGroup(string) slog.Handler                { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]any{"msg": rec.Message, "level": rec.Level}
	rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Any(); return true })
	r.mu.Lock()
	r.recs = append(r.recs, m)
	r.mu.Unlock()
	return nil
}

// refusals returns the "register refused" records so far.
func (r *logRecorder) refusals() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, m := range r.recs {
		if m["msg"] == "register refused" {
			out = append(out, m)
		}
	}
	return out
}

// TestRefusedRegistersLogged: a REGISTER answered other than 200 is logged
// at info with its code, reason and Warning, at most once per source and
// code per interval; the ones held back are counted on the next line, or
// by the sweep.
func TestRefusedRegistersLogged(t *testing.T) {
	rec := &logRecorder{}
	e := newEnv(t, envOpt{opts: func(o *Options) {
		o.Logger = slog.New(rec)
		o.RefusalLogInterval = time.Minute
		o.SweepInterval = time.Hour // the test sweeps itself
	}})
	c := e.dial(t, "UDP")
	bad := func(n int) {
		for i := range n {
			c.register(reg{mac: mac(0x7800), expires: "soon", cseq: 300 + i})
			if res := c.response(); res.StatusCode != 400 {
				t.Fatalf("got %d, want 400", res.StatusCode)
			}
		}
	}
	bad(5)
	c.register(reg{mac: mac(0x7800), expires: "10", cseq: 400})
	if res := c.response(); res.StatusCode != 423 {
		t.Fatalf("got %d, want 423", res.StatusCode)
	}
	// A softphone's 200 is not logged, and carries no Cisco Supported.
	c.register(reg{mac: mac(0x7801), dn: "SEP" + strings.ToUpper(mac(0x7801)), contact: "<sip:soft@" + c.local + ">", cseq: 401})
	if res := c.response(); res.StatusCode != 200 || header(res, "Supported") != "" {
		t.Fatalf("softphone REGISTER: %d, Supported %q", res.StatusCode, header(res, "Supported"))
	}
	got := rec.refusals()
	if len(got) != 2 {
		t.Fatalf("%d lines, want one for the 400s and one for the 423: %v", len(got), got)
	}
	first := got[0]
	if first["level"] != slog.LevelInfo || first["code"] != int64(400) || first["reason"] != "Bad Expires Header" ||
		!strings.Contains(first["warning"].(string), "INVALID_ARGUMENT") || first["source"] != "127.0.0.1" || first["suppressed"] != int64(0) {
		t.Fatalf("first line %v", first)
	}
	if got[1]["code"] != int64(423) {
		t.Fatalf("second line %v", got[1])
	}

	// After the interval, the next 400 is logged with the 4 held back.
	e.clock.Advance(time.Minute)
	bad(1)
	got = rec.refusals()
	if len(got) != 3 || got[2]["code"] != int64(400) || got[2]["suppressed"] != int64(4) {
		t.Fatalf("after the interval: %v", got)
	}
	// Held back and never followed by another: the sweep reports them.
	bad(2)
	e.clock.Advance(time.Minute)
	e.srv.refusals.sweep(e.clock.Now())
	got = rec.refusals()
	if len(got) != 4 || got[3]["code"] != int64(400) || got[3]["suppressed"] != int64(2) {
		t.Fatalf("after the sweep: %v", got)
	}
}
