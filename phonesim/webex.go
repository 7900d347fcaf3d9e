package phonesim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"selfprov/clientapi"
)

// ModeWebex is a Webex App client: it signs in to client
// auto-provisioning, fetches its device config and registers.
const ModeWebex Mode = "webex"

// AppVersion is the Webex App version the simulated clients report.
const AppVersion = "45.6.0"

func (p *Phone) runWebex(ctx context.Context) error {
	if p.env.Webex == "" {
		return fail("NO_WEBEX_URL", "webex/signin", errors.New("Webex clients need the auto-provisioning base URL"))
	}
	if p.User == nil {
		return fail("NO_USER", "webex/signin", errors.New("no user for this client"))
	}
	var name string
	err := p.step("webex/signin", func() (err error) {
		name, err = p.createDevice(ctx)
		return err
	})
	if err != nil {
		return err
	}
	p.name = name
	if err := p.step("webex/config", func() error {
		b, _, err := p.fetch(ctx, "webex/config", name+".cnf.xml")
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return fail("NO_CONFIG", "webex/config", err)
			}
			return fail("FETCH_FAILED", "webex/config", err)
		}
		cfg, err := parseConfig(b)
		if err != nil {
			return fail("CONFIG_MALFORMED", "webex/config", err)
		}
		return p.applyConfig("webex/config", cfg)
	}); err != nil {
		return err
	}
	p.setState(StateRegistering)
	if err := p.registerLine(ctx, "webex", "initialized"); err != nil {
		return err
	}
	p.mu.Lock()
	dn := p.aor
	p.mu.Unlock()
	if p.User.Extension != "" && dn != p.User.Extension {
		return fail("WRONG_DN", "webex/register", fmt.Errorf("registered %s, want the user's extension %s", dn, p.User.Extension))
	}
	return nil
}

// createDevice signs in and returns the device name the cluster made.
func (p *Phone) createDevice(ctx context.Context) (string, error) {
	const step = "webex/signin"
	platform := p.User.Platform
	if platform == "" {
		platform = "windows"
	}
	body, _ := json.Marshal(clientapi.CreateRequest{UserID: p.User.ID, Platform: platform, AppVersion: AppVersion})
	url := strings.TrimRight(p.env.Webex, "/") + clientapi.PathCreateDevice
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", fail("BAD_URL", step, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	// The cluster acts only for the user whose own credentials the client
	// presents: user ID and PIN over HTTP Basic.
	req.SetBasicAuth(p.User.ID, p.User.PIN)
	p.trace(step, "->", "HTTP", "POST "+url+" (as "+p.User.ID+") "+string(body), "")
	res, err := p.env.httpClient().Do(req)
	if err != nil {
		p.trace(step, "<-", "HTTP", err.Error(), "")
		return "", fail("HTTP_FAILED", step, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return "", fail("HTTP_FAILED", step, err)
	}
	p.trace(step, "<-", "HTTP", res.Status+" "+strings.TrimSpace(string(b)), "")
	if res.StatusCode/100 != 2 {
		code := "HTTP_" + strconv.Itoa(res.StatusCode)
		var e clientapi.ErrorBody
		if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
			code = e.Error.Code
		} else if c := codeIn(string(b)); c != "" {
			code = c
		}
		return "", fail(code, step, fmt.Errorf("%s: %s", res.Status, strings.TrimSpace(string(b))))
	}
	var out clientapi.CreateResponse
	if err := json.Unmarshal(b, &out); err != nil || out.DeviceName == "" {
		return "", fail("BAD_RESPONSE", step, fmt.Errorf("no device name in %s", strings.TrimSpace(string(b))))
	}
	return out.DeviceName, nil
}
