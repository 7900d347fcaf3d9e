package xmlsvc

import (
	"context"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"selfprov/internal/clip"
	"selfprov/phonexml"
	"selfprov/provision"
)

// Codes of outcomes the adapter decides itself; everything else is the
// core's code (provision.Code*).
const (
	codeOK               = "OK"
	codeTokenInvalid     = "CONFIRM_TOKEN_INVALID"
	codeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	codeRenderFailed     = "RENDER_FAILED"
	codeAuthRequired     = "AUTH_REQUIRED"
)

// challenge is the WWW-Authenticate of the UDS mount's 401 answers.
const challenge = `Basic realm="selfprov", charset="UTF-8"`

// udsStatus maps the codes that are about the credentials to HTTP
// statuses on the UDS mount, where clients authenticate over HTTP Basic;
// every other answer is a screen with 200, as on the phones' mount.
var udsStatus = map[string]int{
	codeAuthRequired:              http.StatusUnauthorized,
	provision.CodeAuthFailed:      http.StatusUnauthorized,
	provision.CodeAccountLocked:   http.StatusUnauthorized,
	provision.CodeUserMismatch:    http.StatusForbidden,
	provision.CodeTooManyAttempts: http.StatusTooManyRequests,
}

// flow is one mount of the self-provisioning screens.
type flow struct {
	name                       string // metric and log label: xps, uds
	idle, login, confirm, exit string
	// basic: every request carries the user's own credentials over HTTP
	// Basic (the UDS private resources, SPEC §7); the login is those
	// credentials, so the idle URL answers the confirm screen at once.
	basic bool
}

var (
	xpsFlow = flow{name: "xps", idle: PathIdle, login: PathLogin, confirm: PathConfirm, exit: PathExit}
	udsFlow = flow{name: "uds", idle: PathUDS, login: PathUDS + "/login", confirm: PathUDS + "/confirm", exit: PathUDS + "/exit", basic: true}
)

func (s *Server) routes() {
	for _, f := range []flow{xpsFlow, udsFlow} {
		s.mux.Handle(f.idle, s.step(f, "idle", s.idle))
		s.mux.Handle(f.login, s.step(f, "login", s.login))
		s.mux.Handle(f.confirm, s.step(f, "confirm", s.confirm))
		s.mux.Handle(f.exit, s.step(f, "exit", s.exit))
	}
	s.mux.Handle(PathUDS+"/idle", s.step(udsFlow, "idle", s.idle))
	s.mux.HandleFunc(PathAuthenticate, s.authenticate)
}

// call is one request of the flow.
type call struct {
	r      *http.Request
	f      flow
	q      map[string]string
	base   string // scheme://host of the screens' URLs
	device string // canonical name once known
	user   string
	family string                // catalogue family of the device, once known
	creds  provision.Credentials // HTTP Basic, on a flow.basic mount
}

func (c *call) layout() layout { return phoneLayout(c.r, c.family) }

// url builds a flow URL for the device with extra parameters.
func (c *call) url(path string, params ...string) string {
	v := url.Values{}
	v.Set("name", c.device)
	for i := 0; i+1 < len(params); i += 2 {
		v.Set(params[i], params[i+1])
	}
	// Encode sorts keys: name before token, stable for golden files.
	return c.base + path + "?" + v.Encode()
}

// result is what a step answers.
type result struct {
	screen  string // metric label: login, confirm, success, exit, outcome
	obj     phonexml.Object
	code    string
	err     error  // logged, not shown
	noCache bool   // keep the page off the phone's back stack
	after   func() // run after the response is written
}

// step wraps a flow step: method and query checks, rendering, metrics and
// the log line.
func (s *Server) step(f flow, name string, fn func(context.Context, *call) result) http.Handler {
	duration := s.m.duration.WithLabelValues(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		c := &call{r: r, f: f, base: s.base(r)}
		var res result
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			res = s.outcome(c, &provision.Error{Code: codeMethodNotAllowed, Message: "Phones request screens with GET."})
		} else if q, err := parseQuery(r.URL.RawQuery); err != nil {
			res = s.outcome(c, &provision.Error{Code: provision.CodeInvalid, Message: "The request is not valid: " + strings.TrimPrefix(err.Error(), "query: ") + "."})
		} else if user, secret, ok := r.BasicAuth(); f.basic && !ok {
			c.q = q
			res = s.outcome(c, &provision.Error{Code: codeAuthRequired, Message: "Sign in with your user ID or email and your password or PIN."})
		} else {
			c.q = q
			c.creds = provision.Credentials{UserID: user, Secret: secret, Source: provision.ParseSource(r.RemoteAddr)}
			res = fn(r.Context(), c)
		}
		status := http.StatusOK
		if res.code == codeMethodNotAllowed {
			status = http.StatusMethodNotAllowed
		}
		if st, ok := udsStatus[res.code]; ok && f.basic {
			status = st
			if st == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", challenge)
			}
			if ra := provision.RetryAfter(res.err); ra > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ra.Seconds()))))
			}
		}
		code := res.code
		if code == "" {
			code = codeOK
		}
		// Counted before the screen goes out, so whoever sees the screen
		// also sees it counted.
		s.m.outcomes.WithLabelValues(name, code).Inc()
		s.write(w, c, res, status)
		if res.after != nil {
			s.after.Add(1)
			go func() {
				defer s.after.Done()
				res.after()
			}()
		}
		duration.Observe(time.Since(start).Seconds())
		level := slog.LevelInfo
		if name == "idle" && code == codeOK {
			level = slog.LevelDebug // phones fetch the idle URL every idle timeout
		}
		if res.err != nil && provision.CodeOf(res.err) == "INTERNAL" {
			level = slog.LevelError
		}
		if !s.log.Enabled(r.Context(), level) {
			return // the line's attributes are not even put together
		}
		attrs := []any{"step", name, "flow", f.name, "device", c.deviceForLog(), "code", code, "screen", res.screen,
			"remote_addr", r.RemoteAddr, "duration_seconds", time.Since(start).Seconds()}
		if c.user != "" {
			attrs = append(attrs, "user", c.user)
		}
		if res.err != nil {
			attrs = append(attrs, "err", res.err)
		}
		s.log.Log(r.Context(), level, "self-provisioning step", attrs...)
	})
}

func (c *call) deviceForLog() string {
	if c.device != "" {
		return c.device
	}
	if c.q != nil {
		return clip.String(c.q["name"], 32)
	}
	return ""
}

// write renders the screen. Rendering fails only on a bug (a limit of the
// object format broken); the phone then gets an error object.
func (s *Server) write(w http.ResponseWriter, c *call, res result, status int) {
	body, err := phonexml.Render(res.obj)
	if err != nil {
		s.log.Error("render screen", "screen", res.screen, "device", c.device, "err", err)
		body, _ = phonexml.Render(&phonexml.Error{Number: phonexml.ErrorInternal})
		res.screen, status = "error", http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", phonexml.ContentType)
	h.Set("Cache-Control", "no-store")
	if res.noCache {
		h.Set("Expires", "-1")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	s.m.screens.WithLabelValues(res.screen, c.layout().family).Inc()
	w.WriteHeader(status)
	w.Write(body)
	if res.after != nil {
		if f, ok := w.(http.Flusher); ok {
			f.Flush() // the phone has its screen before the reset is sent
		}
	}
}

// base is the scheme and host the screens' URLs start with.
func (s *Server) base(r *http.Request) string {
	if s.baseURL != "" {
		return s.baseURL
	}
	if validHost(r.Host) {
		return "http://" + r.Host
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return "http://" + a.String()
	}
	return "http://localhost"
}

// validHost accepts host[:port] of letters, digits, dots, hyphens and
// bracketed IPv6, short enough that the screens' URLs stay within the 256
// characters phones accept.
func validHost(h string) bool {
	if h == "" || len(h) > 80 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// deviceParam reads the device name; phones fill #DEVICENAME# into name=,
// the authenticationURL sends devicename=.
func (c *call) deviceParam() (string, error) {
	name := c.q["name"]
	if name == "" {
		name = c.q["devicename"]
	}
	if name == "" {
		return "", &provision.Error{Code: provision.CodeInvalid, Message: "The URL names no device (name=SEP…)."}
	}
	canon, err := provision.CanonicalDeviceName(name)
	if err != nil {
		return "", &provision.Error{Code: provision.CodeDeviceNotFound, Message: "No phone is named " + clip.String(name, 20) + "."}
	}
	c.device = canon
	return canon, nil
}

// idle opens the flow: the first check (the device exists and is
// auto-registered), then the login screen.
func (s *Server) idle(ctx context.Context, c *call) result {
	if c.f.basic {
		return s.login(ctx, c)
	}
	name, err := c.deviceParam()
	if err != nil {
		return s.outcome(c, err)
	}
	dev, mode, err := s.svc.LoginPrompt(ctx, name)
	if dev.Name != "" {
		c.family = s.family(dev.Model)
	}
	if err != nil {
		return s.outcome(c, err)
	}
	return result{screen: "login", obj: loginScreen(c, mode)}
}

// login runs the checks in SPEC order through the core and answers the
// confirm screen or the first failing check.
func (s *Server) login(ctx context.Context, c *call) result {
	name, err := c.deviceParam()
	if err != nil {
		return s.outcome(c, err)
	}
	var plan provision.Plan
	if c.f.basic {
		c.user = clip.String(c.creds.UserID, 64)
		plan, err = s.svc.LoginUser(ctx, name, c.creds)
	} else {
		userID, secret := c.q["userid"], c.q["pin"]
		c.user = clip.String(userID, 64)
		for _, chk := range []error{checkField("User ID", userID), checkField("PIN", secret)} {
			if chk != nil {
				s.m.logins.WithLabelValues("invalid").Inc()
				return s.outcome(c, &provision.Error{Code: provision.CodeInvalid, Message: chk.Error() + "."})
			}
		}
		plan, err = s.svc.Login(ctx, name, provision.Credentials{UserID: userID, Secret: secret, Source: provision.ParseSource(c.r.RemoteAddr)})
	}
	switch code := provision.CodeOf(err); code {
	case "":
		s.m.logins.WithLabelValues("ok").Inc()
	case provision.CodeAuthFailed:
		s.m.logins.WithLabelValues("auth_failed").Inc()
	case provision.CodeAccountLocked:
		s.m.logins.WithLabelValues("locked").Inc()
		s.m.lockouts.Inc()
	case provision.CodeTooManyAttempts:
		s.m.logins.WithLabelValues("too_many_attempts").Inc()
	case "INTERNAL":
		s.m.logins.WithLabelValues("error").Inc()
	default:
		s.m.logins.WithLabelValues("refused").Inc()
	}
	if err != nil {
		return s.outcome(c, err)
	}
	c.user, c.family = plan.User.ID, plan.Model.Family
	tok, err := s.tokens.issue(plan.Device.Name, plan.User.ID)
	if err != nil {
		return s.outcome(c, &provision.Error{Code: provision.CodeUnavailable, Message: "Too many phones are being provisioned; try again shortly."})
	}
	return result{screen: "confirm", obj: confirmScreen(c, plan, tok), noCache: true}
}

// confirm consumes the token and provisions; the reset follows the
// response.
func (s *Server) confirm(ctx context.Context, c *call) result {
	name, err := c.deviceParam()
	if err != nil {
		return s.outcome(c, err)
	}
	tok := c.q["token"]
	if checkField("token", tok) != nil {
		return s.outcome(c, &provision.Error{Code: codeTokenInvalid, Message: errTokenInvalid.Error()})
	}
	user, err := s.tokens.take(name, tok)
	if err != nil {
		return s.outcome(c, &provision.Error{Code: codeTokenInvalid, Message: "This confirmation is not valid: it was used, expired, or belongs to another phone. Start again."})
	}
	c.user = user
	var dev provision.Device
	if c.f.basic {
		dev, err = s.svc.SelfProvisionAs(ctx, name, user, c.creds)
	} else {
		dev, err = s.svc.SelfProvision(ctx, name, user)
	}
	if err != nil {
		return s.outcome(c, err)
	}
	c.family = s.family(dev.Model)
	res := result{screen: "success", obj: successScreen(c, dev), noCache: true}
	res.after = func() { s.reset(dev.Name) }
	return res
}

// reset asks the phone to reset so it fetches its new configuration. It
// runs after the success screen is written, detached from the request.
func (s *Server) reset(device string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.notifyTimeout)
	defer cancel()
	if err := s.svc.Notify(ctx, device, provision.ActionReset); err != nil {
		s.m.resetsErr.Inc()
		s.log.Warn("reset after self-provisioning", "device", device, "code", provision.CodeOf(err), "err", err)
	}
}

// exit leaves the device as it was and drops its pending confirmation
// when the token matches.
func (s *Server) exit(ctx context.Context, c *call) result {
	if c.f.basic {
		if _, err := s.svc.AuthenticateUser(ctx, c.creds); err != nil {
			return s.outcome(c, err)
		}
	}
	if name, err := c.deviceParam(); err == nil {
		if tok := c.q["token"]; tok != "" && checkField("token", tok) == nil {
			if user, err := s.tokens.take(name, tok); err == nil {
				c.user = user
			}
		}
	}
	return result{screen: "exit", obj: exitScreen(c), noCache: true}
}

// outcome is the Text screen naming the code of err.
func (s *Server) outcome(c *call, err error) result {
	code := provision.CodeOf(err)
	return result{screen: "outcome", obj: outcomeScreen(c, code, phoneMessage(err)), code: code, err: err, noCache: true}
}

func (s *Server) family(model int) string {
	m, _ := s.svc.Model(model)
	return m.Family
}

// authenticate answers a phone's authenticationURL: the exact body
// AUTHORIZED when the user's credentials are right and the user owns the
// device, else UNAUTHORIZED; ERROR when the request cannot be read. In mode
// none no credential is checked for self-provisioning, so pushes are never
// authorised then.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	answer, code, device, user := "UNAUTHORIZED", "", "", ""
	defer func() {
		if code == "" {
			code = codeOK
		}
		s.m.authURL.WithLabelValues(answer).Inc()
		s.m.outcomes.WithLabelValues("authenticate", code).Inc()
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
		w.Write([]byte(answer)) // no trailing newline: phones compare exactly
		s.m.duration.WithLabelValues("authenticate").Observe(time.Since(start).Seconds())
		s.log.Info("push authentication", "device", device, "user", user, "code", code, "answer", answer, "remote_addr", r.RemoteAddr)
	}()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		answer, code = "ERROR", codeMethodNotAllowed
		return
	}
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		answer, code = "ERROR", provision.CodeInvalid
		return
	}
	userID, secret, name := param(q, "UserID"), param(q, "Password"), param(q, "devicename")
	device, user = clip.String(name, 32), clip.String(userID, 64)
	if userID == "" || name == "" || checkField("UserID", userID) != nil || checkField("Password", secret) != nil {
		answer, code = "ERROR", provision.CodeInvalid
		return
	}
	dev, err := s.svc.AuthorizePush(r.Context(), name, provision.Credentials{UserID: userID, Secret: secret, Source: provision.ParseSource(r.RemoteAddr)})
	if dev.Name != "" {
		device = dev.Name
	}
	if err != nil {
		code = provision.CodeOf(err)
		if code == provision.CodeAccountLocked {
			s.m.lockouts.Inc()
		}
		if code == "INTERNAL" {
			answer = "ERROR"
		}
		return
	}
	answer = "AUTHORIZED"
}

// param looks a parameter up by name, then case-insensitively: firmware
// differs in the case of UserID and devicename.
func param(q map[string]string, name string) string {
	if v, ok := q[name]; ok {
		return v
	}
	for k, v := range q {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
