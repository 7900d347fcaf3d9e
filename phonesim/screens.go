package phonesim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"selfprov/phonexml"
)

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
	header := []string{
		"x-CiscoIPPhoneModelName", p.Model.HTTPModelName(),
		"x-CiscoIPPhoneDisplay", "800, 480, 24, C",
		"x-CiscoIPPhoneSDKVersion", p.Model.Firmware,
		"Accept", "x-CiscoIPPhone/*;version=3.3.3",
		"Accept-Language", "en_US",
	}
	if p.tracing() {
		p.trace(step, "->", "HTTP", "GET "+url, "")
	}
	res, err := httpGet(ctx, p.env.httpClient(), url, header, phonexml.MaxObjectSize)
	if err != nil {
		p.trace(step, "<-", "HTTP", err.Error(), "")
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, errBadURL) {
			return nil, fail("BAD_URL", step, err)
		}
		return nil, fail("HTTP_FAILED", step, err)
	}
	b := res.Body
	if res.StatusCode != http.StatusOK {
		p.trace(step, "<-", "HTTP", res.Status, string(b))
		return nil, fail("HTTP_"+strconv.Itoa(res.StatusCode), step, fmt.Errorf("GET %s: %s", url, res.Status))
	}
	obj, err := phonexml.Parse(b)
	if err != nil {
		p.trace(step, "<-", "HTTP", res.Status+" (not an IP Phone XML object)", string(b))
		return nil, fail("SCREEN_MALFORMED", step, err)
	}
	if p.tracing() {
		p.trace(step, "<-", "HTTP", res.Status+" "+obj.Tag()+" "+summary(obj), string(b))
	}
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
