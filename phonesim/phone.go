// Package phonesim simulates Cisco IP phones and Webex App clients on the
// wire: boot file download over HTTP 6970 and TFTP, SIP REGISTER with the
// Cisco Contact parameters, service-control NOTIFY handling, and the
// self-provisioning screens of the idle URL. Fleets of thousands of phones
// share a few sockets. It speaks only the wire formats (phonecfg,
// phonexml) and knows nothing of the server's insides.
package phonesim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"selfprov/phonecfg"
	"selfprov/phonexml"
)

// Mode is how far a simulated phone goes.
type Mode string

const (
	// ModeRegister only REGISTERs, as the device it is: no files, no screens.
	ModeRegister Mode = "register"
	// ModeBoot downloads its files and registers, auto-registering when
	// the phone is unknown.
	ModeBoot Mode = "boot"
	// ModeSelfProvision boots, then logs in at the idle URL as its user,
	// confirms, and registers again with the user's extension.
	ModeSelfProvision Mode = "selfprov"
)

// ParseMode reads a Mode.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeRegister, ModeBoot, ModeSelfProvision, ModeWebex:
		return m, nil
	}
	return "", fmt.Errorf("phonesim: mode %q: want register, boot, selfprov or webex", s)
}

// User is the person a phone self-provisions for.
type User struct {
	ID        string
	PIN       string
	Extension string // expected primary extension; "" skips the check
	Platform  string // Webex App platform: windows, mac, android, iphone, ipad
}

// State is where a phone is in its flow, for progress display.
type State int

const (
	StateWaiting State = iota
	StateBooting
	StateRegistering
	StateAutoRegistered
	StateIdle
	StateSelfProvisioning
	StateResetting
	StateDone
	StateFailed
	numStates
)

var stateNames = [numStates]string{"waiting", "booting", "registering", "autoreg", "idle", "selfprov", "resetting", "done", "failed"}

func (s State) String() string { return stateNames[s] }

// Trace is one thing a phone sent, received or noticed.
type Trace struct {
	Time   time.Time
	Device string
	Step   string
	Dir    string // "->" sent, "<-" received, "--" a note
	Proto  string // SIP, HTTP, TFTP
	Line   string // one-line summary
	Detail string // the full message, when Env.TraceDetail is set
}

// Env is what the phones of one run share.
type Env struct {
	Fetcher Fetcher
	UA      *UA
	// SIP overrides the registrar host:port taken from the config.
	SIP string
	// Transport overrides the config's transport: "udp" or "tcp".
	Transport string
	// HTTP is used for the idle URL, screens and Webex sign-in.
	HTTP *http.Client
	// IdleWait is how long a phone waits before fetching the idle URL;
	// negative means the config's idleTimeout, as a real phone does.
	IdleWait time.Duration
	// NotifyTimeout bounds the wait for a service-control NOTIFY (default 15 s).
	NotifyTimeout time.Duration
	// RegisterAttempts bounds how often a REGISTER refused with 503 and
	// Retry-After is sent (default 3); phones keep trying, a run must end.
	RegisterAttempts int
	// Webex is the base URL (http://host:port) of client auto-provisioning.
	Webex string
	// Trace, if set, receives every step's messages; it is called from
	// the phones' and the sockets' goroutines at once.
	Trace       func(Trace)
	TraceDetail bool
	// Observe, if set, receives each finished step, from many goroutines.
	Observe func(step string, d time.Duration, err error)

	states [numStates]counter
}

func (e *Env) registerAttempts() int {
	if e.RegisterAttempts > 0 {
		return e.RegisterAttempts
	}
	return 3
}

// Failure is why a phone did not finish: an outcome code and the step.
type Failure struct {
	Code string
	Step string
	Err  error
}

func (f *Failure) Error() string {
	if f.Err == nil {
		return f.Step + ": " + f.Code
	}
	return f.Step + ": " + f.Code + ": " + f.Err.Error()
}

func (f *Failure) Unwrap() error { return f.Err }

func fail(code, step string, err error) error { return &Failure{Code: code, Step: step, Err: err} }

// OutcomeOK is the outcome of a phone that finished its flow.
const OutcomeOK = "OK"

// Outcome is the code of err: OK for nil.
func Outcome(err error) string {
	if err == nil {
		return OutcomeOK
	}
	var f *Failure
	if errors.As(err, &f) {
		return f.Code
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "CANCELLED"
	}
	return "ERROR"
}

// StepTime is how long one step took.
type StepTime struct {
	Step string
	Dur  time.Duration
}

// Result is what one phone did.
type Result struct {
	Device  string
	Outcome string
	Err     error
	Steps   []StepTime
	DN      string // line 1 the phone ended registered with
	Total   time.Duration
}

// Phone is one simulated desk phone.
type Phone struct {
	MAC   MAC
	Model Model
	User  *User
	Mode  Mode
	// Index spreads phones over the shared sockets.
	Index int

	env     *Env
	name    string
	state   State
	stateMu sync.Mutex
	steps   []StepTime
	events  chan notifyEvent
	ctx     context.Context // for refreshes and NOTIFY-driven restarts after Run

	mu        sync.Mutex // guards the registration identity below
	cfg       *phonecfg.Config
	autoReg   bool
	leg       *Leg
	registrar string
	aor       string
	contact   string
	callID    string
	fromTag   string
	cseq      int
	boot      int
	expires   int
	keys      []string // UA routes
	refresh   *time.Timer
	done      bool
	regMu     sync.Mutex // one REGISTER at a time
	bgMu      sync.Mutex // one NOTIFY-driven action at a time after Run
}

type notifyEvent struct {
	sc ServiceControl
	at time.Time
}

// NewPhone returns a phone of env.
func NewPhone(env *Env, mac MAC, model Model, mode Mode, user *User) *Phone {
	name := mac.DeviceName()
	if mode == ModeWebex {
		platform := "windows"
		if user != nil && user.Platform != "" {
			platform = user.Platform
		}
		model = ClientModels[platform]
		if user != nil {
			// Until sign-in names the device.
			name = "webex:" + user.ID + "/" + platform
		}
	}
	return &Phone{MAC: mac, Model: model, Mode: mode, User: user, env: env,
		name: name, events: make(chan notifyEvent, 8)}
}

// Name is the device name.
func (p *Phone) Name() string { return p.name }

func (p *Phone) setState(s State) {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	p.env.states[p.state].add(-1)
	p.env.states[s].add(1)
	p.state = s
}

func (p *Phone) trace(step, dir, proto, line, detail string) {
	if p.env.Trace == nil {
		return
	}
	if !p.env.TraceDetail {
		detail = ""
	}
	p.env.Trace(Trace{Time: time.Now(), Device: p.name, Step: step, Dir: dir, Proto: proto, Line: printable(line), Detail: strings.ToValidUTF8(detail, "?")})
}

// step runs fn as a named step and records its duration.
func (p *Phone) step(step string, fn func() error) error {
	start := time.Now()
	err := fn()
	p.record(step, time.Since(start), err)
	return err
}

func (p *Phone) record(step string, d time.Duration, err error) {
	if err == nil {
		p.steps = append(p.steps, StepTime{step, d})
	}
	if p.env.Observe != nil {
		p.env.Observe(step, d, err)
	}
}

// Run takes the phone through its mode's flow. ctx bounds the flow; hold
// keeps the phone registered (refreshing, answering NOTIFYs) after the
// flow until it ends.
func (p *Phone) Run(ctx, hold context.Context) Result {
	p.ctx = hold
	p.setState(StateBooting)
	start := time.Now()
	var err error
	switch p.Mode {
	case ModeRegister:
		err = p.runRegister(ctx)
	case ModeWebex:
		err = p.runWebex(ctx)
	default:
		err = p.runDesk(ctx)
	}
	res := Result{Device: p.name, Outcome: Outcome(err), Err: err, Steps: p.steps, Total: time.Since(start)}
	p.mu.Lock()
	res.DN = p.aor
	p.done = true
	p.mu.Unlock()
	if err != nil {
		// A failed phone is out of the run: late NOTIFYs for it get 481
		// and it refreshes nothing.
		_ = p.Stop(ctx, false)
		p.setState(StateFailed)
	} else {
		p.setState(StateDone)
	}
	return res
}

func (p *Phone) runRegister(ctx context.Context) error {
	p.mu.Lock()
	p.registrar = p.env.SIP
	p.aor, p.contact = p.name, p.name
	p.mu.Unlock()
	if p.registrar == "" {
		return fail("NO_REGISTRAR", "register", errors.New("register-only phones need the registrar address"))
	}
	p.setState(StateRegistering)
	tp := p.env.Transport
	if tp == "" {
		tp = "udp"
	}
	return p.step("register", func() error { return p.register(ctx, "register", tp, "initialized") })
}

func (p *Phone) runDesk(ctx context.Context) error {
	if err := p.bootFiles(ctx, "boot", true); err != nil {
		return err
	}
	p.setState(StateRegistering)
	regStart := time.Now()
	if err := p.registerLine(ctx, "boot", "initialized"); err != nil {
		return err
	}
	if p.autoReg {
		// The registrar created the device; its restart NOTIFY tells the
		// phone to read its new config.
		p.setState(StateAutoRegistered)
		if _, err := p.waitNotify(ctx, "autoreg/notify", regStart); err != nil {
			return err
		}
		if err := p.restart(ctx, "autoreg", false); err != nil {
			return err
		}
		if p.autoReg {
			return fail("NO_CONFIG", "autoreg/config", errors.New("still no device config after auto-registration"))
		}
	}
	if p.Mode != ModeSelfProvision {
		return nil
	}
	oldDN := p.aor
	if err := p.selfProvision(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	dn := p.aor
	p.mu.Unlock()
	switch {
	case p.User.Extension != "" && dn != p.User.Extension:
		return fail("WRONG_DN", "user/register", fmt.Errorf("registered %s, want the user's extension %s", dn, p.User.Extension))
	case p.User.Extension == "" && dn == oldDN:
		return fail("WRONG_DN", "user/register", fmt.Errorf("still registered with the auto-registration DN %s", dn))
	}
	return nil
}

// bootFiles downloads CTL, ITL and the config file.
func (p *Phone) bootFiles(ctx context.Context, phase string, trustFiles bool) error {
	if trustFiles {
		for _, f := range []struct{ step, file string }{
			{phase + "/ctl", "CTL" + p.name + ".tlv"},
			{phase + "/itl", "ITL" + p.name + ".tlv"},
		} {
			err := p.step(f.step, func() error {
				_, _, err := p.fetch(ctx, f.step, f.file)
				if err != nil && !errors.Is(err, ErrNotFound) {
					return fail("FETCH_FAILED", f.step, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return p.step(phase+"/config", func() error { return p.fetchConfig(ctx, phase+"/config") })
}

func (p *Phone) fetch(ctx context.Context, step, file string) ([]byte, Via, error) {
	return p.env.Fetcher.Fetch(ctx, file, func(proto Via, dir, line string) {
		p.trace(step, dir, string(proto), line, "")
	})
}

// fetchConfig reads SEP<MAC>.cnf.xml, falling back to XMLDefault.cnf.xml.
func (p *Phone) fetchConfig(ctx context.Context, step string) error {
	b, _, err := p.fetch(ctx, step, phonecfg.FileName(p.name))
	if errors.Is(err, ErrNotFound) {
		b, _, err = p.fetch(ctx, step, phonecfg.DefaultFile)
		if errors.Is(err, ErrNotFound) {
			return fail("NO_CONFIG", step, errors.New("neither the device config nor XMLDefault.cnf.xml is served (auto-registration off?)"))
		}
	}
	if err != nil {
		return fail("FETCH_FAILED", step, err)
	}
	cfg, err := parseConfig(b)
	if err != nil {
		return fail("CONFIG_MALFORMED", step, err)
	}
	if p.env.TraceDetail {
		p.trace(step, "<-", "FILE", "config", string(b))
	}
	return p.applyConfig(step, cfg)
}

// applyConfig takes the registrar, transport and line identity from cfg.
func (p *Phone) applyConfig(step string, cfg *phonecfg.Config) error {
	registrar := p.env.SIP
	if registrar == "" {
		host, port, err := cfg.SIPServer()
		if err != nil {
			return fail("CONFIG_MALFORMED", step, err)
		}
		registrar = netJoin(host, port)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = cfg
	p.autoReg = cfg.Default != nil
	p.registrar = registrar
	p.aor, p.contact = p.name, p.name
	for _, l := range cfg.Lines {
		if l.FeatureID == phonecfg.FeatureLine && l.DN != "" {
			p.aor, p.contact = l.DN, l.DN
			if l.Contact != "" {
				p.contact = l.Contact
			}
			break
		}
	}
	what := "device config"
	if p.autoReg {
		what = "XMLDefault (unknown phone)"
	}
	p.trace(step, "--", "FILE", fmt.Sprintf("%s: registrar %s over %s, line %s", what, registrar, p.transportLocked(), p.aor), "")
	return nil
}

func netJoin(host string, port int) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

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

// route points the UA's NOTIFY routing at this phone's current identity.
func (p *Phone) route() {
	for _, k := range p.keys {
		p.env.UA.Handle(k, nil)
	}
	p.keys = append(p.keys[:0], p.callID, p.contact, p.name)
	for _, k := range p.keys {
		p.env.UA.Handle(k, p.handle)
	}
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
	p.trace(step, "->", "SIP", fmt.Sprintf("REGISTER sip:%s (%s, AOR %s, Expires %d)", r.Registrar, r.Transport, r.AOR, expires), string(msg))
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
	p.trace(step, "<-", "SIP", res.StartLine()+warningOf(res), res.String())
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
	h := res.GetHeader("Retry-After")
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
	if h := res.GetHeader("Warning"); h != nil {
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
	if h := res.GetHeader("Expires"); h != nil {
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

// Stop ends refreshes and, if unregister is set, removes the binding.
func (p *Phone) Stop(ctx context.Context, unregister bool) error {
	p.mu.Lock()
	if p.refresh != nil {
		p.refresh.Stop()
	}
	p.mu.Unlock()
	var err error
	if unregister {
		err = p.unregister(ctx, "unregister")
	}
	p.mu.Lock()
	for _, k := range p.keys {
		p.env.UA.Handle(k, nil)
	}
	p.keys = nil
	p.mu.Unlock()
	return err
}

// handle answers a request routed to this phone.
func (p *Phone) handle(req *sip.Request) (int, string) {
	body := strings.Join(strings.Fields(string(req.Body())), " ")
	p.trace("notify", "<-", "SIP", req.StartLine()+" "+eventOf(req)+" "+body, req.String())
	code, reason := p.answer(req)
	p.trace("notify", "->", "SIP", fmt.Sprintf("SIP/2.0 %d %s", code, reason), "")
	return code, reason
}

func eventOf(req *sip.Request) string {
	if h := req.GetHeader("Event"); h != nil {
		return "(Event: " + h.Value() + ")"
	}
	return ""
}

func (p *Phone) answer(req *sip.Request) (int, string) {
	if req.Method != sip.NOTIFY {
		return 405, "Method Not Allowed"
	}
	ev := ""
	if h := req.GetHeader("Event"); h != nil {
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

// selfProvision fetches the idle URL, logs in and confirms, then follows
// the reset NOTIFY to the user's registration.
func (p *Phone) selfProvision(ctx context.Context) error {
	p.mu.Lock()
	cfg := p.cfg
	p.mu.Unlock()
	if cfg.IdleURL == "" {
		return fail("NO_IDLE_URL", "selfprov/idle", errors.New("the device config has no idle URL"))
	}
	if p.User == nil {
		return fail("NO_USER", "selfprov/login", errors.New("no user credentials for this phone"))
	}
	p.setState(StateIdle)
	wait := p.env.IdleWait
	if wait < 0 {
		wait = time.Duration(cfg.IdleTimeout) * time.Second
	}
	if wait > 0 {
		p.trace("selfprov/idle", "--", "HTTP", fmt.Sprintf("idle for %s before fetching the idle URL", wait), "")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	p.setState(StateSelfProvisioning)
	var obj phonexml.Object
	err := p.step("selfprov/idle", func() (err error) {
		obj, err = p.screen(ctx, "selfprov/idle", cfg.IdleURL)
		return err
	})
	if err != nil {
		return err
	}
	input, ok := obj.(*phonexml.Input)
	if !ok {
		return screenFailure("selfprov/idle", obj, "a login screen")
	}
	var params [][2]string
	for _, it := range input.Items {
		params = append(params, [2]string{it.QueryStringParam, p.fieldValue(it)})
	}
	submit := phonexml.SubmitURL(input.URL, params...)
	err = p.step("selfprov/login", func() (err error) {
		obj, err = p.screen(ctx, "selfprov/login", submit)
		return err
	})
	if err != nil {
		return err
	}
	confirm := continueKey(obj)
	if confirm == "" {
		return screenFailure("selfprov/login", obj, "a confirm screen")
	}
	confirmStart := time.Now()
	err = p.step("selfprov/confirm", func() (err error) {
		obj, err = p.screen(ctx, "selfprov/confirm", confirm)
		return err
	})
	if err != nil {
		return err
	}
	if c := screenCode(obj); c != "" {
		return screenFailure("selfprov/confirm", obj, "the success screen")
	}
	p.setState(StateResetting)
	if _, err := p.waitNotify(ctx, "user/notify", confirmStart); err != nil {
		return err
	}
	return p.restart(ctx, "user", true)
}

// fieldValue fills one login field from the user.
func (p *Phone) fieldValue(it phonexml.InputItem) string {
	q := strings.ToLower(it.QueryStringParam + " " + it.DisplayName)
	switch {
	case strings.Contains(strings.ToUpper(it.InputFlags), "P") || strings.Contains(q, "pin") || strings.Contains(q, "pass"):
		return p.User.PIN
	case strings.Contains(q, "user") || strings.Contains(q, "id"):
		return p.User.ID
	}
	return it.DefaultValue
}

// continueKey is the URL of the soft key that goes on (Continue, OK,
// Submit) on a confirm screen, or "".
func continueKey(obj phonexml.Object) string {
	var keys []phonexml.SoftKeyItem
	switch o := obj.(type) {
	case *phonexml.Text:
		keys = o.SoftKeys
	case *phonexml.Menu:
		keys = o.SoftKeys
	default:
		return ""
	}
	for _, k := range keys {
		u := strings.ToLower(k.URL)
		if (strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) && !strings.EqualFold(k.Name, "Exit") && !strings.EqualFold(k.Name, "Cancel") {
			return k.URL
		}
	}
	return ""
}

var codeRE = regexp.MustCompile(`\b(?:[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|DB-[0-9]+)\b`)

// codeIn finds an outcome code such as AUTH_FAILED in s.
func codeIn(s string) string { return codeRE.FindString(s) }

func screenText(obj phonexml.Object) string {
	switch o := obj.(type) {
	case *phonexml.Text:
		return o.Title + " " + o.Prompt + " " + o.Text
	case *phonexml.Input:
		return o.Title + " " + o.Prompt
	case *phonexml.Menu:
		return o.Title + " " + o.Prompt
	case *phonexml.Error:
		return o.Error()
	}
	return ""
}

func screenCode(obj phonexml.Object) string { return codeIn(screenText(obj)) }

func screenFailure(step string, obj phonexml.Object, want string) error {
	text := strings.Join(strings.Fields(screenText(obj)), " ")
	code := screenCode(obj)
	if code == "" {
		code = "UNEXPECTED_SCREEN"
	}
	return fail(code, step, fmt.Errorf("got %s %q, want %s", obj.Tag(), text, want))
}

// screen GETs an IP Phone XML service URL with the headers a phone sends.
func (p *Phone) screen(ctx context.Context, step, url string) (phonexml.Object, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fail("BAD_URL", step, err)
	}
	req.Header.Set("x-CiscoIPPhoneModelName", p.Model.HTTPModelName())
	req.Header.Set("x-CiscoIPPhoneDisplay", "800, 480, 24, C")
	req.Header.Set("x-CiscoIPPhoneSDKVersion", p.Model.Firmware)
	req.Header.Set("Accept", "x-CiscoIPPhone/*;version=3.3.3")
	req.Header.Set("Accept-Language", "en_US")
	p.trace(step, "->", "HTTP", "GET "+url, "")
	res, err := p.env.httpClient().Do(req)
	if err != nil {
		p.trace(step, "<-", "HTTP", err.Error(), "")
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fail("HTTP_FAILED", step, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, phonexml.MaxObjectSize+1))
	if err != nil {
		return nil, fail("HTTP_FAILED", step, err)
	}
	if res.StatusCode != http.StatusOK {
		p.trace(step, "<-", "HTTP", res.Status, string(b))
		return nil, fail("HTTP_"+strconv.Itoa(res.StatusCode), step, fmt.Errorf("GET %s: %s", url, res.Status))
	}
	obj, err := phonexml.Parse(b)
	if err != nil {
		p.trace(step, "<-", "HTTP", res.Status+" (not an IP Phone XML object)", string(b))
		return nil, fail("SCREEN_MALFORMED", step, err)
	}
	p.trace(step, "<-", "HTTP", res.Status+" "+obj.Tag()+" "+summary(obj), string(b))
	return obj, nil
}

func summary(obj phonexml.Object) string {
	s := strings.Join(strings.Fields(screenText(obj)), " ")
	if k := continueKey(obj); k != "" {
		s += " [continue: " + k + "]"
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strconv.Quote(s)
}
