package phonesim_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"selfprov/phonesim"
	"selfprov/phonesim/phonesimtest"
)

// TestStorm is the boot-storm benchmark against selfprovd, run on demand:
//
//	SELFPROV_STORM=10000 go test -run TestStorm -v -timeout 30m ./phonesim/
//
// N phones boot from cold, auto-register, self-provision as their users
// and register again; then the same phones register again (register-only).
// SELFPROV_STORM_C bounds phones in flight (default 500: on two cores more
// in flight only lengthens every queue, and the p99s with it),
// SELFPROV_STORM_RATE paces arrivals per second (default: all at once),
// SELFPROV_STORM_IDLE overrides the idle timeout wait (default: the
// config's), SELFPROV_STORM_TRANSPORT forces udp or tcp.
func TestStorm(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SELFPROV_STORM"))
	if n <= 0 {
		t.Skip("set SELFPROV_STORM=<phones> to run the boot storm")
	}
	conc := 500
	if c, err := strconv.Atoi(os.Getenv("SELFPROV_STORM_C")); err == nil && c > 0 {
		conc = c
	}
	rate, _ := strconv.ParseFloat(os.Getenv("SELFPROV_STORM_RATE"), 64)
	cfg, lines := phonesimtest.DemoWithUsers(t, "../configs/demo.yaml", n)
	d := phonesimtest.StartDaemon(t, cfg)
	users, err := phonesim.LoadUsers(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	env := daemonEnv(t, d)
	// Phones come from 100 loopback addresses, as a floor of phones would
	// come from many; the registrar limits requests per source address.
	env.UA.LocalIPs, _ = phonesim.ParseIPs("127.0.1.1-100")
	env.Transport = os.Getenv("SELFPROV_STORM_TRANSPORT")
	if v := os.Getenv("SELFPROV_STORM_IDLE"); v != "" {
		if env.IdleWait, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	env.NotifyTimeout = 60 * time.Second
	mix := phonesim.ModelMix{{Model: phonesim.Models["8845"], Weight: 4}, {Model: phonesim.Models["8851"], Weight: 3}, {Model: phonesim.Models["7841"], Weight: 3}}

	boot := &phonesim.Fleet{N: n, Mode: phonesim.ModeSelfProvision, Seed: 0x5701, Users: users, Mix: mix,
		Concurrency: conc, Rate: rate, RunTime: 20 * time.Minute}
	rep := boot.Run(context.Background(), env)
	report(t, d, "boot storm (cold -> auto-registered -> self-provisioned -> registered as the user)", rep)
	if rep.OK != n {
		t.Errorf("boot storm: %d of %d phones finished", rep.OK, n)
	}

	reg := &phonesim.Fleet{N: n, Mode: phonesim.ModeRegister, Seed: 0x5701, Mix: mix,
		Concurrency: 500, RunTime: 10 * time.Minute}
	env.SIP = d.SIP
	if env.Transport == "" {
		env.Transport = "udp"
	}
	rep = reg.Run(context.Background(), env)
	report(t, d, "register-only storm ("+env.Transport+", the same phones, known devices)", rep)
	if rep.OK != n {
		t.Errorf("register storm: %d of %d phones finished", rep.OK, n)
	}
}

func report(t *testing.T, d *phonesimtest.Daemon, title string, rep *phonesim.Report) {
	t.Helper()
	var sb strings.Builder
	rep.WriteTable(&sb)
	rss, peak, err := d.Memory()
	if err != nil {
		t.Log(err)
	}
	worst := ""
	var worstP99 float64
	for _, s := range rep.Steps {
		if s.Step != "total" && s.P99 > worstP99 {
			worst, worstP99 = s.Step, s.P99
		}
	}
	t.Logf("%s\n%s\nselfprovd RSS %.0f MB now, %.0f MB peak; worst step p99 %s %.0f ms; %.0f phones/s",
		title, sb.String(), float64(rss)/(1<<20), float64(peak)/(1<<20), worst, worstP99*1000, rep.PhonesPerSec)
}
