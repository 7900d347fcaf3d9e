package phonesim

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"selfprov/internal/sipheader"
	"selfprov/phonecfg"
)

type notifyEvent struct {
	sc ServiceControl
	at time.Time
}

// handle answers a request routed to this phone.
func (p *Phone) handle(req *sip.Request) (int, string) {
	if p.tracing() {
		body := strings.Join(strings.Fields(string(req.Body())), " ")
		p.trace("notify", "<-", "SIP", req.StartLine()+" "+eventOf(req)+" "+body, req.String())
	}
	code, reason := p.answer(req)
	if p.tracing() {
		p.trace("notify", "->", "SIP", fmt.Sprintf("SIP/2.0 %d %s", code, reason), "")
	}
	return code, reason
}

func eventOf(req *sip.Request) string {
	if h := sipheader.Get(req, "Event"); h != nil {
		return "(Event: " + h.Value() + ")"
	}
	return ""
}

func (p *Phone) answer(req *sip.Request) (int, string) {
	if req.Method != sip.NOTIFY {
		return 405, "Method Not Allowed"
	}
	ev := ""
	if h := sipheader.Get(req, "Event"); h != nil {
		ev = strings.ToLower(strings.TrimSpace(h.Value()))
	}
	var sc ServiceControl
	switch ev {
	case "check-sync":
		sc = ServiceControl{Action: "check-sync"}
	case "service-control":
		var err error
		sc, err = ParseServiceControl(req.Body())
		if err != nil {
			return 400, "Bad Request"
		}
		p.mu.Lock()
		cur := p.callID
		p.mu.Unlock()
		if sc.RegisterCallID != cur {
			// A phone ignores control for a registration it does not hold.
			return 400, "Bad Request"
		}
	default:
		return 489, "Bad Event"
	}
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done {
		// After its flow a held phone still obeys reset and restart, and
		// re-reads its config on check-version and check-sync.
		switch sc.Action {
		case "reset", "restart", "check-sync", "check-version":
			if p.Mode == ModeRegister {
				break
			}
			go p.background(sc)
		}
		return 200, "OK"
	}
	select {
	case p.events <- notifyEvent{sc, time.Now()}:
	default:
	}
	return 200, "OK"
}

func (p *Phone) background(sc ServiceControl) {
	ctx := p.ctx
	if ctx == nil || ctx.Err() != nil {
		return
	}
	// One NOTIFY-driven action at a time, in arrival order as far as the
	// goroutines allow.
	p.bgMu.Lock()
	defer p.bgMu.Unlock()
	start := time.Now()
	var err error
	switch sc.Action {
	case "check-sync", "check-version":
		// Read the config again; only a changed one makes the phone
		// register again (SIPCC compares the version stamps).
		err = p.checkVersion(ctx)
	default:
		err = p.restart(ctx, "held", sc.Action == "reset")
	}
	if p.env.Observe != nil {
		p.env.Observe("held/"+sc.Action, time.Since(start), err)
	}
}

func (p *Phone) checkVersion(ctx context.Context) error {
	p.mu.Lock()
	old := ""
	if p.cfg != nil {
		old = p.cfg.VersionStamp
	}
	p.mu.Unlock()
	b, _, err := p.fetch(ctx, "held/config", phonecfg.FileName(p.name))
	if err != nil {
		return fail("FETCH_FAILED", "held/config", err)
	}
	cfg, err := parseConfig(b)
	if err != nil {
		return fail("CONFIG_MALFORMED", "held/config", err)
	}
	if cfg.VersionStamp == old {
		p.trace("held/config", "--", "FILE", "version stamp unchanged: "+old, "")
		return nil
	}
	p.trace("held/config", "--", "FILE", "version stamp changed: "+old+" -> "+cfg.VersionStamp, "")
	return p.restart(ctx, "held", false)
}

// waitNotify waits for a reset or restart NOTIFY; the step lasts from
// since to its arrival.
func (p *Phone) waitNotify(ctx context.Context, step string, since time.Time) (ServiceControl, error) {
	t := p.env.NotifyTimeout
	if t <= 0 {
		t = 15 * time.Second
	}
	timer := time.NewTimer(t)
	defer timer.Stop()
	for {
		select {
		case ev := <-p.events:
			if ev.sc.Action != "reset" && ev.sc.Action != "restart" {
				continue
			}
			p.record(step, ev.at.Sub(since), nil)
			return ev.sc, nil
		case <-timer.C:
			err := fail("NOTIFY_TIMEOUT", step, fmt.Errorf("no service-control NOTIFY within %s", t))
			p.record(step, t, err)
			return ServiceControl{}, err
		case <-ctx.Done():
			return ServiceControl{}, ctx.Err()
		}
	}
}

// restart is what a phone does on reset or restart: unregister, read the
// config again (a reset reboots, so it reads CTL and ITL too) and register.
func (p *Phone) restart(ctx context.Context, phase string, reset bool) error {
	p.setState(StateResetting)
	if err := p.step(phase+"/unregister", func() error { return p.unregister(ctx, phase+"/unregister") }); err != nil {
		return err
	}
	p.setState(StateBooting)
	if err := p.bootFiles(ctx, phase, reset); err != nil {
		return err
	}
	p.setState(StateRegistering)
	last := "reset"
	if !reset {
		last = "restart"
	}
	return p.registerLine(ctx, phase, last)
}
