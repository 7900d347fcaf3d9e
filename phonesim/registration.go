package phonesim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"selfprov/internal/sipheader"
)

func (p *Phone) transportLocked() string {
	if p.env.Transport != "" {
		return strings.ToLower(p.env.Transport)
	}
	if p.cfg != nil && p.cfg.Transport != "" {
		return p.cfg.Transport
	}
	return "tcp"
}

func (p *Phone) registerLine(ctx context.Context, phase, reason string) error {
	p.mu.Lock()
	tp := p.transportLocked()
	p.mu.Unlock()
	if tp != "udp" && tp != "tcp" {
		return fail("TRANSPORT_UNSUPPORTED", phase+"/register", fmt.Errorf("transport %s", tp))
	}
	return p.step(phase+"/register", func() error { return p.register(ctx, phase+"/register", tp, reason) })
}

// register sends a full REGISTER (a new Call-ID when the phone has none)
// and schedules its refresh.
func (p *Phone) register(ctx context.Context, step, transport, reason string) error {
	p.regMu.Lock()
	defer p.regMu.Unlock()
	p.mu.Lock()
	if err := p.legLocked(transport); err != nil {
		p.mu.Unlock()
		return fail("SIP_CONNECT", step, err)
	}
	if p.callID == "" {
		p.boot++
		p.callID = callID(p.MAC, p.boot, hostOf(p.leg.Local))
		p.fromTag = fromTag(p.MAC)
		p.cseq = 100
	}
	p.route()
	expires := 3600
	if p.cfg != nil && p.cfg.RegisterExpires > 0 {
		expires = p.cfg.RegisterExpires
	}
	p.mu.Unlock()
	_, err := p.send(ctx, step, expires, reason)
	return err
}

// legLocked picks the shared socket to the registrar, dialling again when
// a TCP connection closed.
func (p *Phone) legLocked(transport string) error {
	if p.leg != nil && p.leg.Remote == p.registrar && strings.EqualFold(p.leg.Transport, transport) && !p.leg.dead() {
		return nil
	}
	leg, err := p.env.UA.Leg(transport, p.registrar, p.Index)
	if err != nil {
		return err
	}
	p.leg = leg
	return nil
}

// route points the UA's NOTIFY routing at this phone's current identity,
// and its calls: INVITEs to the registered Contact user (what a proxy
// sends) or to the DN (a call made straight to the phone).
func (p *Phone) route() {
	p.unrouteLocked()
	p.keys = append(p.keys[:0], p.callID, p.contact, p.name)
	for _, k := range p.keys {
		p.env.UA.Handle(k, p.handle)
	}
	p.callKeys = append(p.callKeys[:0], p.contact)
	if p.aor != p.contact {
		p.callKeys = append(p.callKeys, p.aor)
	}
	for _, k := range p.callKeys {
		p.env.UA.HandleCalls(k, p.endpoint)
	}
}

func (p *Phone) unrouteLocked() {
	for _, k := range p.keys {
		p.env.UA.Handle(k, nil)
	}
	for _, k := range p.callKeys {
		p.env.UA.HandleCalls(k, nil)
	}
	p.keys, p.callKeys = p.keys[:0], p.callKeys[:0]
}

// maxRetryAfter bounds how long a phone honours a 503 Retry-After.
const maxRetryAfter = 10 * time.Second

// send sends one REGISTER with the current identity; the caller holds
// regMu. A 503 with Retry-After is retried after that time, as phones do.
func (p *Phone) send(ctx context.Context, step string, expires int, reason string) (int, error) {
	for attempt := 1; ; attempt++ {
		granted, retry, err := p.sendOnce(ctx, step, expires, reason)
		if retry <= 0 || attempt >= p.env.registerAttempts() {
			return granted, err
		}
		p.trace(step, "--", "SIP", fmt.Sprintf("retrying after %s", retry), "")
		t := time.NewTimer(retry)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		}
	}
}

func (p *Phone) sendOnce(ctx context.Context, step string, expires int, reason string) (int, time.Duration, error) {
	p.mu.Lock()
	p.cseq++
	r := registerRequest{
		Registrar: p.registrar, AOR: p.aor, ContactUser: p.contact, Local: p.leg.Local,
		Transport: p.leg.Transport, Branch: branch(), CallID: p.callID, FromTag: p.fromTag,
		CSeq: p.cseq, Expires: expires, MAC: p.MAC, Device: p.name, Model: p.Model, Reason: reason,
	}
	leg := p.leg
	p.mu.Unlock()
	msg := r.bytes()
	if p.tracing() {
		p.trace(step, "->", "SIP", fmt.Sprintf("REGISTER sip:%s (%s, AOR %s, Expires %d)", r.Registrar, r.Transport, r.AOR, expires), string(msg))
	}
	res, err := leg.Do(ctx, r.Branch, msg)
	if err != nil {
		p.trace(step, "<-", "SIP", err.Error(), "")
		if errors.Is(err, ErrTimeout) {
			return 0, 0, fail("SIP_TIMEOUT", step, err)
		}
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		return 0, 0, fail("SIP_TRANSPORT", step, err)
	}
	if p.tracing() {
		p.trace(step, "<-", "SIP", res.StartLine()+warningOf(res), res.String())
	}
	if res.StatusCode/100 != 2 {
		code := "SIP_" + strconv.Itoa(res.StatusCode)
		if c := codeIn(warningOf(res)); c != "" {
			code = c
		}
		return 0, retryAfter(res), fail(code, step, errors.New(res.StartLine()+warningOf(res)))
	}
	if expires == 0 {
		return 0, 0, nil
	}
	granted := grantedExpires(res, expires)
	p.mu.Lock()
	p.expires = granted
	p.scheduleRefreshLocked(granted)
	p.mu.Unlock()
	return granted, 0, nil
}

// retryAfter is the wait a 503 asks for, bounded; 0 means do not retry.
func retryAfter(res *sip.Response) time.Duration {
	h := sipheader.Get(res, "Retry-After")
	if res.StatusCode != 503 || h == nil {
		return 0
	}
	v, _, _ := strings.Cut(strings.TrimSpace(h.Value()), ";")
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	// Up to a second of jitter, so a refused burst does not come back as one.
	return min(time.Duration(n)*time.Second, maxRetryAfter) + time.Duration(1+rand32()%1000)*time.Millisecond
}

func warningOf(res *sip.Response) string {
	if h := sipheader.Get(res, "Warning"); h != nil {
		return " (Warning: " + h.Value() + ")"
	}
	return ""
}

// grantedExpires reads the registrar's Expires: the Contact's expires
// parameter, else the Expires header, else what was asked.
func grantedExpires(res *sip.Response, asked int) int {
	if c := res.Contact(); c != nil {
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return n
			}
		}
	}
	if h := sipheader.Get(res, "Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n > 0 {
			return n
		}
	}
	return asked
}

// refreshDelta is sipStack timerRegisterDelta: refresh this long before
// the binding expires.
const refreshDelta = 5 * time.Second

func (p *Phone) scheduleRefreshLocked(granted int) {
	if p.refresh != nil {
		p.refresh.Stop()
	}
	d := time.Duration(granted) * time.Second
	if d > 2*refreshDelta {
		d -= refreshDelta
	} else {
		d /= 2
	}
	p.refresh = time.AfterFunc(d, p.refreshNow)
}

func (p *Phone) refreshNow() {
	ctx := p.ctx
	if ctx == nil || ctx.Err() != nil {
		return
	}
	p.regMu.Lock()
	defer p.regMu.Unlock()
	p.mu.Lock()
	expires := 3600
	if p.cfg != nil && p.cfg.RegisterExpires > 0 {
		expires = p.cfg.RegisterExpires
	}
	start := time.Now()
	err := p.legLocked(p.leg.Transport)
	p.mu.Unlock()
	if err == nil {
		_, err = p.send(ctx, "refresh", expires, "")
	}
	if p.env.Observe != nil && ctx.Err() == nil {
		p.env.Observe("refresh", time.Since(start), err)
	}
}

// unregister removes the binding (Expires 0) and forgets the Call-ID, so
// the next REGISTER starts a new registration.
func (p *Phone) unregister(ctx context.Context, step string) error {
	p.regMu.Lock()
	defer p.regMu.Unlock()
	p.mu.Lock()
	if p.refresh != nil {
		p.refresh.Stop()
	}
	registered := p.callID != "" && p.leg != nil
	p.mu.Unlock()
	if !registered {
		return nil
	}
	_, err := p.send(ctx, step, 0, "")
	p.mu.Lock()
	p.callID = ""
	p.mu.Unlock()
	return err
}
