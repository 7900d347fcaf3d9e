// Command phonesim simulates Cisco IP phones and Webex App clients against
// a selfprov (or CUCM-like) cluster: boot storms of thousands of phones with
// a latency and outcome report, calls between them, and "phonesim check",
// one phone (and one call) end to end with a step-by-step trace.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"selfprov/internal/gctune"
	"selfprov/phonesim"
)

// gcPolicy: a phone's exchanges allocate far more than a fleet keeps, and
// every cycle phonesim spends collecting is taken from the server under
// test when both share a machine. At GOGC=400 a 10,000-phone boot storm
// used 20% less of phonesim's user CPU and about 350 MB.
var gcPolicy = gctune.Policy{Percent: 400, Floor: 1 << 30}

func main() {
	gcStop := gcPolicy.Apply()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	gcStop()
	os.Exit(code)
}

const usage = `usage:
  phonesim [run] [flags]     a fleet of phones; a latency and outcome report
                             (-mode calls: then calls between them, with setup times)
  phonesim check [flags]     one phone end to end, tracing what is sent and received
                             (-mode call: then one call)
  phonesim users [flags]     write N users as a "selfprovd import -users" file that "run -users" reads

Run "phonesim run -h" or "phonesim check -h" for the flags.
`

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // some phone failed unexpectedly
	exitUsage  = 2
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runFleet(ctx, args, stdout, stderr)
	case "check":
		return runCheck(ctx, args, stdout, stderr)
	case "users":
		return runUsers(args, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "phonesim: unknown command %q\n%s", cmd, usage)
	return exitUsage
}

// common are the flags of both commands: where the cluster is and how the
// phones reach it.
type common struct {
	target, tftp, config, sip, transport, webex, localIP string
	tftpOnly, trust404                                   bool
	idleWait, timeout, notifyTimeout                     time.Duration
	registerAttempts, fetchRetries                       int
	mode                                                 string
}

// callFlags are the flags of calls: "run -mode calls" and "check -mode call".
type callFlags struct {
	setup                          string
	hold, ring, noAnsw, calleeHold time.Duration
	answer                         int
}

func (cf *callFlags) flags(fs *flag.FlagSet, holdDefault time.Duration) {
	fs.StringVar(&cf.setup, "calls-setup", "", "how the phones get their lines before calling: boot (auto-registration), selfprov or webex (default selfprov with users, else boot)")
	fs.DurationVar(&cf.hold, "call-hold", holdDefault, "an answered call lasts this long before the caller hangs up")
	fs.DurationVar(&cf.ring, "ring", 0, "the called phone rings this long between 180 Ringing and its answer")
	fs.IntVar(&cf.answer, "answer", 200, "the called phone's final response: 200, or e.g. 486 (busy) or 603 (decline)")
	fs.DurationVar(&cf.calleeHold, "callee-hold", 0, "the called phone hangs up this long after answering (0: it waits for the caller's BYE)")
	fs.DurationVar(&cf.noAnsw, "no-answer", 32*time.Second, "a call not answered by then is cancelled")
}

// setupMode is the mode the phones of a call run go through first.
func (cf *callFlags) setupMode(haveUsers bool) (phonesim.Mode, error) {
	if cf.setup == "" {
		if haveUsers {
			return phonesim.ModeSelfProvision, nil
		}
		return phonesim.ModeBoot, nil
	}
	m, err := phonesim.ParseMode(cf.setup)
	if err != nil || m == phonesim.ModeRegister {
		return "", fmt.Errorf("phonesim: -calls-setup %q: want boot, selfprov or webex (register-only phones have no line)", cf.setup)
	}
	return m, nil
}

func (cf *callFlags) check() error {
	if cf.answer < 200 || cf.answer > 699 {
		return fmt.Errorf("phonesim: -answer %d: want a final status, 200 to 699", cf.answer)
	}
	if cf.hold < 0 || cf.ring < 0 || cf.calleeHold < 0 || cf.noAnsw <= 0 {
		return fmt.Errorf("phonesim: -call-hold, -callee-hold and -ring must not be negative, -no-answer must be positive")
	}
	return nil
}

func (cf *callFlags) answerPolicy() phonesim.Answer {
	return phonesim.Answer{Code: cf.answer, Ring: cf.ring, Hold: cf.calleeHold}
}

func (c *common) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.target, "target", "127.0.0.1", "cluster host: TFTP on :69 and the HTTP config mirror on :6970 unless -tftp/-config say otherwise")
	fs.StringVar(&c.tftp, "tftp", "", "TFTP server host:port (default <target>:69)")
	fs.StringVar(&c.config, "config", "", "HTTP config mirror host:port (default <target>:6970)")
	fs.BoolVar(&c.tftpOnly, "tftp-only", false, "fetch files over TFTP only, like older firmware")
	fs.IntVar(&c.fetchRetries, "fetch-retries", 2, "retries of a download that failed for another reason than not found")
	fs.BoolVar(&c.trust404, "http-404-final", false, "take an HTTP 404 as final instead of asking TFTP as well (fewer requests in load tests)")
	fs.StringVar(&c.sip, "sip", "", "registrar host:port (default: the call manager in the phone's config)")
	fs.StringVar(&c.transport, "transport", "", "udp or tcp (default: the config's transportLayerProtocol)")
	fs.StringVar(&c.webex, "webex", "", "client auto-provisioning base URL for -mode webex (default http://<target>:8080)")
	fs.StringVar(&c.localIP, "local-ip", "", "addresses phones bind and put in Via/Contact, comma-separated, a.b.c.d-e for a range; phones spread over them (default: the route to the registrar)")
	fs.DurationVar(&c.idleWait, "idle-wait", -1, "wait before fetching the idle URL; negative means the config's idleTimeout")
	fs.DurationVar(&c.timeout, "timeout", 8*time.Second, "SIP transaction timeout")
	fs.DurationVar(&c.notifyTimeout, "notify-timeout", 15*time.Second, "how long a phone waits for a service-control NOTIFY")
	fs.IntVar(&c.registerAttempts, "register-attempts", 3, "REGISTERs sent when refused with 503 and Retry-After (honoured up to 10s)")
}

func withPort(hostport, host, port string) string {
	if hostport != "" {
		return hostport
	}
	return net.JoinHostPort(host, port)
}

func (c *common) env() (*phonesim.Env, error) {
	if _, err := phonesim.ParseMode(c.mode); err != nil {
		return nil, err
	}
	switch strings.ToLower(c.transport) {
	case "", "udp", "tcp":
	default:
		return nil, fmt.Errorf("phonesim: -transport %q: want udp or tcp", c.transport)
	}
	ua := phonesim.NewUA()
	ua.Timeout = c.timeout
	if c.localIP != "" {
		ips, err := phonesim.ParseIPs(c.localIP)
		if err != nil {
			return nil, err
		}
		ua.LocalIPs = ips
	}
	// GETs of files and screens on kept-alive connections, without
	// net/http's goroutine hand-offs; POSTs (client auto-provisioning)
	// on net/http's transport. The 10 s bound is the transport's, as a
	// client Timeout would start a timer goroutine per request.
	httpClient := &http.Client{
		Transport: &phonesim.KeepAliveTransport{
			Timeout: 10 * time.Second,
			Dial:    (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			Fallback: &http.Transport{
				MaxIdleConns: 1000, MaxIdleConnsPerHost: 1000, IdleConnTimeout: 30 * time.Second,
				DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			},
		},
	}
	env := &phonesim.Env{
		Fetcher: phonesim.Fetcher{
			TFTP:   withPort(c.tftp, c.target, "69"),
			HTTP:   withPort(c.config, c.target, "6970"),
			Client: httpClient,
		},
		UA:               ua,
		SIP:              c.sip,
		Transport:        strings.ToLower(c.transport),
		HTTP:             httpClient,
		IdleWait:         c.idleWait,
		NotifyTimeout:    c.notifyTimeout,
		RegisterAttempts: c.registerAttempts,
		Webex:            c.webex,
	}
	if c.tftpOnly {
		env.Fetcher.HTTP = ""
	}
	env.Fetcher.TrustHTTPNotFound = c.trust404
	env.Fetcher.Retries = c.fetchRetries
	if env.Webex == "" {
		env.Webex = "http://" + net.JoinHostPort(c.target, "8080")
	}
	return env, nil
}

func runFleet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("phonesim run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.flags(fs)
	var (
		n           = fs.Int("n", 100, "number of phones")
		models      = fs.String("models", "8845:40,8851:30,7841:30", "model mix, model:weight,...")
		usersFile   = fs.String("users", "", "users CSV: userid,pin[,extension[,platform]], or a file of \"phonesim users\"; phone i gets line i")
		rate        = fs.Float64("rate", 0, "phone arrivals per second (0: as fast as -c allows)")
		conc        = fs.Int("c", 200, "phones in their flow at once")
		startDelay  = fs.Duration("start-delay", 0, "random delay up to this before each phone boots")
		runTime     = fs.Duration("run-time", 10*time.Minute, "bound on the whole run")
		hold        = fs.Duration("hold", 0, "keep phones registered this long after the last one finishes")
		unregister  = fs.Bool("unregister", false, "unregister every phone at the end")
		seed        = fs.Uint("seed", 1, "MAC seed: phones are 0A:<seed 16 bits>:<index 24 bits>")
		first       = fs.Int("first", 0, "index of the first phone")
		expect      = fs.String("expect", "", "comma-separated outcome codes that are not failures")
		asJSON      = fs.Bool("json", false, "print the report as JSON")
		metricsAddr = fs.String("metrics.listen", "", "serve Prometheus metrics on this address while running")
		udpSockets  = fs.Int("udp-sockets", 4, "UDP sockets the fleet shares")
		tcpConns    = fs.Int("tcp-conns", 4, "TCP connections per registrar the fleet shares")
		progress    = fs.String("progress", "auto", "live progress line: auto (on a terminal), always or never")
		cpuProfile  = fs.String("cpuprofile", "", "write a CPU profile of the simulator to this file")
		calls       = fs.Int("calls", 0, "-mode calls: calls to place in all (0: as many as -call-time allows)")
		callConc    = fs.Int("call-c", 10, "-mode calls: calls in progress at once (at most half the lines)")
		callTime    = fs.Duration("call-time", time.Minute, "-mode calls: bound on the calls")
		cf          callFlags
	)
	cf.flags(fs, time.Second)
	fs.StringVar(&c.mode, "mode", "selfprov", "register, boot, selfprov, webex, or calls (the phones get their lines as -calls-setup says, then call each other)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "phonesim run: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	mix, err := phonesim.ParseModelMix(*models)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if *n <= 0 || *conc <= 0 || *seed > 0xffff || *first < 0 || *n+*first > 1<<24 {
		fmt.Fprintln(stderr, "phonesim run: -n and -c must be positive, -seed at most 65535, -first+-n at most 16777216")
		return exitUsage
	}
	var load *phonesim.CallLoad
	if c.mode == "calls" {
		if err := cf.check(); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		if *calls < 0 || *callConc <= 0 || *callTime <= 0 {
			fmt.Fprintln(stderr, "phonesim run: -calls must not be negative, -call-c and -call-time must be positive")
			return exitUsage
		}
		if *n < 2 {
			fmt.Fprintln(stderr, "phonesim run: -mode calls needs at least two phones (-n)")
			return exitUsage
		}
		m, err := cf.setupMode(*usersFile != "")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		c.mode = string(m)
		load = &phonesim.CallLoad{Concurrency: *callConc, Total: *calls, Duration: *callTime, Hold: cf.hold, NoAnswer: cf.noAnsw}
	}
	env, err := c.env()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	env.UA.UDPSockets, env.UA.TCPConns = *udpSockets, *tcpConns
	if c.localIP == "" {
		host := c.target
		if c.sip != "" {
			host, _, _ = net.SplitHostPort(c.sip)
		}
		var note string
		env.UA.LocalIPs, note = phonesim.DefaultLocalIPs(host)
		fmt.Fprintln(stderr, "phonesim run:", note)
	}
	defer env.UA.Close()
	env.Answer = cf.answerPolicy()
	fleet := &phonesim.Fleet{
		N: *n, Mode: phonesim.Mode(c.mode), Mix: mix, Seed: uint16(*seed), First: *first,
		Rate: *rate, Concurrency: *conc, StartDelay: *startDelay, RunTime: *runTime,
		Hold: *hold, Unregister: *unregister, Calls: load,
	}
	if *expect != "" {
		fleet.Expected = strings.Split(*expect, ",")
	}
	if *usersFile != "" {
		f, err := os.Open(*usersFile)
		if err != nil {
			fmt.Fprintln(stderr, "phonesim:", err)
			return exitUsage
		}
		fleet.Users, err = phonesim.LoadUsers(f)
		f.Close()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
	}
	if (fleet.Mode == phonesim.ModeSelfProvision || fleet.Mode == phonesim.ModeWebex) && len(fleet.Users) == 0 {
		fmt.Fprintf(stderr, "phonesim run: -mode %s needs -users\n", fleet.Mode)
		return exitUsage
	}
	if *metricsAddr != "" {
		reg := prometheus.NewRegistry()
		m, err := phonesim.NewMetrics(reg, env)
		if err != nil {
			fmt.Fprintln(stderr, "phonesim:", err)
			return exitFailed
		}
		env.Observe, fleet.OnResult, fleet.OnCall = m.Observe, m.Result, m.Call
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			fmt.Fprintf(stderr, "phonesim: -metrics.listen %s: %v\n", *metricsAddr, err)
			return exitUsage
		}
		srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "phonesim:", err)
			return exitUsage
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "phonesim:", err)
			return exitUsage
		}
		defer pprof.StopCPUProfile()
	}
	live := *progress == "always" || (*progress == "auto" && isTerminal(stderr))
	var mu sync.Mutex
	if live {
		fleet.Tick = func(p phonesim.Progress) {
			mu.Lock()
			fmt.Fprintf(stderr, "\r%-100s", p.StatusLine())
			mu.Unlock()
		}
	}
	rep := fleet.Run(ctx, env)
	if live {
		mu.Lock()
		fmt.Fprintln(stderr)
		mu.Unlock()
	}
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "phonesim:", err)
		return exitFailed
	}
	if n := rep.Outcomes["RATE_LIMITED"]; n > 0 {
		fmt.Fprintf(stderr, "phonesim run: %d phones were refused with 503 RATE_LIMITED: the registrar limits requests per source address (sip.ratePerSource); spread the fleet with -local-ip or lower -rate\n", n)
	}
	if rep.Unexpected > 0 || (rep.Calls != nil && rep.Calls.Unexpected > 0) {
		return exitFailed
	}
	return exitOK
}

// runUsers writes a users file: the bulk import of the users and the
// credentials a fleet logs in with, in one.
func runUsers(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("phonesim users", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := phonesim.UsersFile{}
	out := fs.String("o", "-", "output file (- for standard output)")
	fs.IntVar(&f.N, "n", 100, "number of users")
	fs.IntVar(&f.First, "first", 0, "index of the first user")
	fs.StringVar(&f.Prefix, "prefix", "sim", "user IDs are <prefix><index, 5 digits>")
	fs.IntVar(&f.Extension, "extension", 3000, "primary extension of user 0; user i has extension+i (outside the demo's auto-registration range 1000-1999 and its users' 2001-2003)")
	fs.StringVar(&f.PIN, "pin", "12345", "every user's PIN")
	fs.StringVar(&f.Profile, "profile", "Standard User Profile", "user profile (\"\" for the default system profile)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 || f.N <= 0 || f.First < 0 || f.Extension < 0 {
		fmt.Fprintln(stderr, "phonesim users: -n must be positive, -first and -extension not negative, and no arguments")
		return exitUsage
	}
	w := stdout
	if *out != "-" {
		file, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(stderr, "phonesim:", err)
			return exitFailed
		}
		defer file.Close()
		w = file
	}
	if err := phonesim.WriteUsers(w, f); err != nil {
		fmt.Fprintln(stderr, "phonesim:", err)
		return exitFailed
	}
	if *out != "-" {
		fmt.Fprintf(stderr, "phonesim users: %d users (%s%05d..%s%05d, extensions %d-%d, PIN %s) in %s\n",
			f.N, f.Prefix, f.First, f.Prefix, f.First+f.N-1, f.Extension+f.First, f.Extension+f.First+f.N-1, f.PIN, *out)
	}
	return exitOK
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("phonesim check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.flags(fs)
	var (
		macFlag   = fs.String("mac", "", "the phone's MAC (default a random locally administered one)")
		model     = fs.String("model", "8845", "phone model")
		user      = fs.String("user", "", "user ID to self-provision as")
		pin       = fs.String("pin", "", "the user's PIN (a Webex client signs in with -user and -pin over HTTP Basic)")
		extension = fs.String("extension", "", "the user's primary extension, checked at the end")
		platform  = fs.String("platform", "windows", "Webex App platform for -mode webex")
		verbose   = fs.Bool("v", false, "print every message in full")
		dial      = fs.String("dial", "", "-mode call: the DN to call (default: a second simulated phone is auto-registered and called)")
		want      = fs.Int("expect-status", 200, "-mode call: the final status the call must get")
		cf        callFlags
	)
	cf.flags(fs, 2*time.Second)
	fs.StringVar(&c.mode, "mode", "selfprov", "register, boot, selfprov, webex, or call (the phone gets its line as -calls-setup says, then places a call)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	callMode := c.mode == "call"
	if callMode {
		if err := cf.check(); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		m, err := cf.setupMode(*user != "")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		c.mode = string(m)
	}
	mix, err := phonesim.ParseModelMix(*model)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	mac := phonesim.FleetMAC(uint16(time.Now().UnixNano()), int(time.Now().UnixNano()>>16))
	if *macFlag != "" {
		if mac, err = phonesim.ParseMAC(*macFlag); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
	}
	env, err := c.env()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	env.UA.UDPSockets, env.UA.TCPConns = 1, 1
	env.Answer = cf.answerPolicy()
	defer env.UA.Close()
	var u *phonesim.User
	if *user != "" {
		u = &phonesim.User{ID: *user, PIN: *pin, Extension: *extension, Platform: *platform}
	}
	mode := phonesim.Mode(c.mode)
	if (mode == phonesim.ModeSelfProvision || mode == phonesim.ModeWebex) && u == nil {
		fmt.Fprintf(stderr, "phonesim check: -mode %s needs -user (and -pin)\n", mode)
		return exitUsage
	}
	start := time.Now()
	var mu sync.Mutex
	env.TraceDetail = *verbose
	env.Trace = func(t phonesim.Trace) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stdout, "%8.3fs %-18s %-4s %-2s %s\n", t.Time.Sub(start).Seconds(), t.Step, t.Proto, t.Dir, t.Line)
		if t.Detail != "" {
			for _, l := range strings.Split(strings.TrimRight(strings.ReplaceAll(t.Detail, "\r\n", "\n"), "\n"), "\n") {
				fmt.Fprintf(stdout, "%30s| %s\n", "", l)
			}
		}
	}
	p := phonesim.NewPhone(env, mac, mix.Pick(0), mode, u)
	fmt.Fprintf(stdout, "phonesim check: %s (%s), mode %s, TFTP %s, HTTP %s\n", p.Name(), p.Model.UserAgent(), mode, env.Fetcher.TFTP, orNone(env.Fetcher.HTTP))
	res := p.Run(ctx, ctx)
	defer p.Stop(context.Background(), false)
	mu.Lock()
	fmt.Fprintln(stdout)
	for _, s := range res.Steps {
		fmt.Fprintf(stdout, "  %-20s %8.1fms\n", s.Step, float64(s.Dur.Microseconds())/1000)
	}
	if res.Err != nil {
		fmt.Fprintf(stdout, "FAIL %s %s after %.3fs: %v\n", res.Device, res.Outcome, res.Total.Seconds(), res.Err)
		mu.Unlock()
		return exitFailed
	}
	if !callMode {
		fmt.Fprintf(stdout, "PASS %s registered line %s in %.3fs\n", res.Device, res.DN, res.Total.Seconds())
		mu.Unlock()
		return exitOK
	}
	mu.Unlock()
	return checkCall(ctx, env, p, mix, *dial, *want, cf, stdout, &mu)
}

// checkCall places one call from p, to dial or to a second phone booted
// for it, and says whether it got the wanted final status.
func checkCall(ctx context.Context, env *phonesim.Env, p *phonesim.Phone, mix phonesim.ModelMix, dial string, want int, cf callFlags, stdout io.Writer, mu *sync.Mutex) int {
	if dial == "" {
		mac := phonesim.FleetMAC(uint16(time.Now().UnixNano()>>8), int(time.Now().UnixNano()>>20))
		callee := phonesim.NewPhone(env, mac, mix.Pick(0), phonesim.ModeBoot, nil)
		res := callee.Run(ctx, ctx)
		defer callee.Stop(context.Background(), false)
		if res.Err != nil {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(stdout, "FAIL the called phone %s: %s: %v\n", res.Device, res.Outcome, res.Err)
			return exitFailed
		}
		dial = callee.DN()
	}
	r := p.Call(ctx, dial, phonesim.CallOptions{Hold: cf.hold, NoAnswer: cf.noAnsw})
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(stdout, "\n  %-20s %8.1fms\n  %-20s %8.1fms\n", "call/ringing", float64(r.Ringing.Microseconds())/1000, "call/setup", float64(r.Setup.Microseconds())/1000)
	what := fmt.Sprintf("%s (line %s) called %s: %s", p.Name(), p.DN(), dial, r.Outcome)
	switch {
	case r.Status != want:
		fmt.Fprintf(stdout, "FAIL %s, want %d (%v)\n", what, want, r.Err)
		return exitFailed
	case r.Status/100 == 2 && !r.Answered():
		fmt.Fprintf(stdout, "FAIL %s, but the hang-up failed: %v\n", what, r.Err)
		return exitFailed
	case r.Status/100 == 2:
		by := "the caller"
		if r.RemoteHangup {
			by = "the called phone"
		}
		fmt.Fprintf(stdout, "PASS %s after %.1fms, hung up by %s\n", what, float64(r.Setup.Microseconds())/1000, by)
	default:
		fmt.Fprintf(stdout, "PASS %s, as expected\n", what)
	}
	return exitOK
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
