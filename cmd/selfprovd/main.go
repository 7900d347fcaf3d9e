// Command selfprovd is the phone-facing side of a Cisco Unified CM
// stand-in: TFTP and HTTP config delivery, a SIP registrar with
// auto-registration, the self-provisioning XML service, Webex client
// auto-provisioning, and an admin API with metrics.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"selfprov/configs"
	"selfprov/internal/gctune"
	"selfprov/provision"
	"selfprov/store/sqlite"
	"selfprov/telemetry"
)

// gcPolicy: bindings are a few hundred bytes and caches are bounded, so
// the live heap is small; at GOGC=100 an auto-registration storm spent
// about a tenth of its CPU collecting. The 192 MiB floor keeps a boot
// storm's resident memory where GOGC=100 keeps it.
var gcPolicy = gctune.Policy{Percent: 400, Floor: 192 << 20}

func main() {
	stop := gcPolicy.Apply()
	code := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

// options are the command line; every flag but -debug.pprof is also a
// config key.
type options struct {
	configPath  string
	configCheck bool
	dataDir     string
	advertise   string
	listen      configs.Listen
	logLevel    string
	logJSON     bool
	pprof       string // not a config key: a debugging aid only
}

func parseFlags(args []string, stderr io.Writer) (*options, *flag.FlagSet, error) {
	o := &options{}
	fs := flag.NewFlagSet("selfprovd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: selfprovd [flags]\n       selfprovd import [-users FILE] [-phones FILE] [flags]   bulk import into the running daemon (import -h)\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.configPath, "config", "", "YAML configuration file (default: the built-in demo)")
	fs.BoolVar(&o.configCheck, "config.check", false, "validate the configuration and exit")
	fs.StringVar(&o.dataDir, "data-dir", "", "directory for the database and the admin token (config dataDir; default ./data)")
	fs.StringVar(&o.advertise, "advertise", "", "host or IP written into configs and URLs (config advertise; default a non-loopback address)")
	fs.StringVar(&o.listen.TFTP, "listen.tftp", "", "TFTP address (default :69)")
	fs.StringVar(&o.listen.Config, "listen.config", "", "HTTP config mirror address (default :6970)")
	fs.StringVar(&o.listen.SIP, "listen.sip", "", "SIP UDP and TCP address (default :5060)")
	fs.StringVar(&o.listen.SIPTLS, "listen.sip-tls", "", "SIP TLS address, used when tls.cert is set (default :5061)")
	fs.StringVar(&o.listen.Services, "listen.services", "", "phone-facing XML services address (default :8080)")
	fs.StringVar(&o.listen.Admin, "listen.admin", "", "admin API, metrics and health address (default 127.0.0.1:9080)")
	fs.StringVar(&o.listen.HTTPS, "listen.https", "", "HTTPS address of AXL, RisPort70 and UDS (default :8443)")
	fs.StringVar(&o.logLevel, "log.level", "", "debug, info, warn or error (default info)")
	fs.BoolVar(&o.logJSON, "log.json", false, "log JSON instead of text")
	fs.StringVar(&o.pprof, "debug.pprof", "", "serve Go's profiler (net/http/pprof) on this address, e.g. 127.0.0.1:6061; off by default")
	return o, fs, fs.Parse(args)
}

// loadConfig reads the config and lays the flags over it.
func loadConfig(o *options) (*configs.Config, error) {
	var cfg *configs.Config
	var err error
	if o.configPath == "" {
		cfg, err = configs.Demo()
	} else {
		cfg, err = configs.Load(o.configPath)
	}
	if err != nil {
		return nil, err
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.DataDir, o.dataDir)
	set(&cfg.Advertise, o.advertise)
	set(&cfg.Listen.TFTP, o.listen.TFTP)
	set(&cfg.Listen.Config, o.listen.Config)
	set(&cfg.Listen.SIP, o.listen.SIP)
	set(&cfg.Listen.SIPTLS, o.listen.SIPTLS)
	set(&cfg.Listen.Services, o.listen.Services)
	set(&cfg.Listen.Admin, o.listen.Admin)
	set(&cfg.Listen.HTTPS, o.listen.HTTPS)
	set(&cfg.LogLevel, o.logLevel)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Advertise == "" {
		cfg.Advertise = defaultAdvertise()
	}
	return cfg, nil
}

// defaultAdvertise picks the first non-loopback unicast address of an
// interface that is up, so phones on the LAN can reach the URLs.
func defaultAdvertise() string {
	ifaces, _ := net.Interfaces()
	var v6 string
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || !ipn.IP.IsGlobalUnicast() {
				continue
			}
			if ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
			if v6 == "" {
				v6 = ipn.IP.String()
			}
		}
	}
	if v6 != "" {
		return v6
	}
	return "127.0.0.1"
}

// boundPort returns configured with the port of bound when configured
// asked for port 0.
func boundPort(configured, bound string) string {
	host, port, err := net.SplitHostPort(configured)
	if err != nil || port != "0" {
		return configured
	}
	_, bport, err := net.SplitHostPort(bound)
	if err != nil {
		return configured
	}
	return net.JoinHostPort(host, bport)
}

func newLogger(w io.Writer, level string, asJSON bool) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if asJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// run is main without os.Exit, so tests can start the daemon in-process.
// ready, if set, receives the bound addresses once every server serves.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready chan<- Addrs) int {
	if len(args) > 0 && args[0] == "import" {
		return runImport(ctx, args[1:], stdout, stderr)
	}
	o, _, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	cfg, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "selfprovd: invalid configuration:\n%v\n", err)
		return 1
	}
	if o.configCheck {
		fmt.Fprintln(stdout, "configuration is valid")
		return 0
	}
	log := newLogger(stderr, cfg.LogLevel, o.logJSON)
	if o.pprof != "" {
		stopProfiler, err := serveProfiler(o.pprof, log)
		if err != nil {
			fmt.Fprintf(stderr, "selfprovd: -debug.pprof: %v\n", err)
			return 1
		}
		defer stopProfiler()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log, ready); err != nil {
		log.Error("selfprovd stopped", "err", err)
		return 1
	}
	return 0
}

// logCluster says at start how unknown phones and logins are treated:
// the settings in the database, which may differ from the configuration.
func logCluster(log *slog.Logger, c provision.Cluster) {
	ar := c.AutoRegistration
	switch {
	case ar.Active():
		log.Info("auto-registration on", "dn_range", ar.Range.Start+"-"+ar.Range.End, "udt", ar.UDT, "ult", ar.ULT)
	case ar.Enabled:
		log.Info("auto-registration off: its start and end DN are equal", "dn_range", ar.Range.Start+"-"+ar.Range.End)
	default:
		log.Info("auto-registration off: unknown phones are refused with AUTOREG_DISABLED", "dn_range", ar.Range.Start+"-"+ar.Range.End)
	}
	if c.AuthMode == provision.AuthNone {
		log.Warn("self-provisioning authentication mode is none: anyone who knows a user ID can provision a phone as that user; not recommended outside a lab", "auth_mode", string(c.AuthMode))
	} else {
		log.Info("self-provisioning authentication", "auth_mode", string(c.AuthMode), "auth_code_set", c.AuthCodeHash != "",
			"failed_logon_threshold", c.CredentialPolicy.FailedLogonThreshold)
	}
}

func rateText(n int) string {
	if n <= 0 {
		return "no limit"
	}
	return fmt.Sprintf("%d requests/s per source address", n)
}

// serve opens the store, binds every port, serves until ctx ends and then
// shuts down: stop accepting, drain under a timeout, close the store last.
func serve(ctx context.Context, cfg *configs.Config, log *slog.Logger, ready chan<- Addrs) error {
	st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "selfprov.db"))
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing store", "err", err)
		}
	}()
	// Bind first: configs and URLs carry the bound ports, which differ from
	// the configured ones when a port is 0.
	d, err := bind(cfg)
	if err != nil {
		return err
	}
	cfg.Listen.Services = boundPort(cfg.Listen.Services, d.addrs.Services)
	svc, err := provision.New(provision.Options{
		Store:   st,
		Logger:  log.With("component", "provision"),
		Models:  cfg.Models,
		URLVars: cfg.URLVars(),
		// Failed logins per source address, across every login path.
		FailedLogins: cfg.FailedLoginLimit(),
	})
	if err != nil {
		d.closeListeners()
		return err
	}
	if err := cfg.Seed(ctx, svc); err != nil {
		d.closeListeners()
		return err
	}
	if c, err := svc.Cluster(ctx); err == nil {
		logCluster(log, c)
	}
	if err := d.wireAdapters(ctx, cfg, svc, log, telemetry.NewRegistry()); err != nil {
		return err
	}
	errc := d.start()
	sipTLS := d.addrs.SIPTLS
	if sipTLS == "" {
		sipTLS = "off (tls.cert is not set)"
	}
	log.Info("selfprovd serving",
		"advertise", cfg.Advertise, "tftp", d.addrs.TFTP, "config", d.addrs.Config, "sip", d.addrs.SIP,
		"sip_tls", sipTLS, "services", d.addrs.Services, "admin", d.addrs.Admin, "data_dir", cfg.DataDir)
	log.Info("sip registrar", "udp", d.addrs.SIP, "tcp", d.addrs.SIP, "tls", sipTLS,
		"default_expires", cfg.SIP.DefaultExpires, "min_expires", cfg.SIP.MinExpires,
		"rate_per_source", rateText(cfg.SIP.RatePerSource))
	if ready != nil {
		ready <- d.addrs
	}
	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-errc:
		log.Error("a server failed; shutting down", "err", serveErr)
	}
	// A fresh context: the signal context is already cancelled.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.shutdown(sctx); err != nil {
		log.Warn("shutdown did not drain cleanly", "err", err)
	}
	return serveErr
}
