package phonesim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"selfprov/phonecfg"
)

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
	if !p.tracing() {
		return p.env.Fetcher.Fetch(ctx, file, nil)
	}
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
	if p.tracing() && p.env.TraceDetail {
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
	if p.tracing() {
		p.trace(step, "--", "FILE", fmt.Sprintf("%s: registrar %s over %s, line %s", what, registrar, p.transportLocked(), p.aor), "")
	}
	return nil
}

func netJoin(host string, port int) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}
