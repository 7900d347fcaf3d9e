// Package phonesim simulates Cisco IP phones and Webex App clients on the
// wire: boot file download over HTTP 6970 and TFTP, SIP REGISTER with the
// Cisco Contact parameters, service-control NOTIFY handling, and the
// self-provisioning screens of the idle URL. Fleets of thousands of phones
// share a few sockets. It speaks only the wire formats (phonecfg,
// phonexml, clientapi) and knows nothing of the server's insides.
package phonesim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"selfprov/phonecfg"
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
	// Answer is how the phones answer calls.
	Answer Answer

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
	callKeys  []string // UA routes of calls
	refresh   *time.Timer
	done      bool
	regMu     sync.Mutex // one REGISTER at a time
	bgMu      sync.Mutex // one NOTIFY-driven action at a time after Run
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
	if !p.tracing() {
		return
	}
	if !p.env.TraceDetail {
		detail = ""
	}
	p.env.Trace(Trace{Time: time.Now(), Device: p.name, Step: step, Dir: dir, Proto: proto, Line: printable(line), Detail: strings.ToValidUTF8(detail, "?")})
}

// tracing tells whether trace lines are wanted; callers whose line or
// detail costs a formatting or a copy ask first, so a load run without a
// trace formats nothing.
func (p *Phone) tracing() bool { return p.env.Trace != nil }

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
	p.unrouteLocked()
	p.mu.Unlock()
	return err
}
