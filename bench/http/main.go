// Command http measures the HTTP config mirror (:6970): selfprovd serving
// 10,000 known devices against Debian's nginx serving the same files from
// disk, with wrk as the load client, in the same run and alternating the
// servers. bench/http/bench.sh builds selfprovd and runs it.
//
//	go build -o /tmp/selfprovd ./cmd/selfprovd
//	go run ./bench/http -selfprovd /tmp/selfprovd
//
// It seeds a fresh database with the devices, starts selfprovd on loopback
// ports, writes every device's config (fetched from selfprovd) into a
// folder, starts nginx on that folder (2 workers, sendfile, keep-alive),
// then runs wrk against each server in turn with random.lua, which asks
// for a name drawn at random from a list per request: all known names, and
// a mix in which one request in ten is for an unknown device (404). Every
// run lasts -duration. It prints medians, the same-run ratio, and
// selfprovd's peak resident memory. Both servers are stopped by PID.
//
// wrk keeps every connection busy: the faster server makes the client,
// which shares the machine's cores, do more, and the client's own waits
// enter its tail. So at 16 connections or more a second phase offers
// every server the same request rate (-paced, a fraction of the slower
// server's closed-loop median) from a paced client, wrk2's method: each
// request is due at a fixed time and its latency counts from then (see
// pacedRun).
//
// -threads takes several wrk thread counts, comma-separated (default 2,
// one a core). The closed-loop tail depends on how the client's threads
// and the server's share the two cores: with two wrk threads, nginx's two
// workers sometimes pair off with them, one pair a core, and its p99
// falls to about 1 ms in those rounds, from 4 to 7 ms in the others
// (the kernel's 4 ms tick: a thread woken behind a busy one waits for
// it). Other thread counts show how much of a tail is that pairing.
//
// -selfprovd takes several binaries, comma-separated, to compare builds:
// each is started on a database of its own, and every round runs them
// and nginx in an order rotated by one, so each build's figures stand
// beside nginx's of the same round.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"selfprov/bench/internal/benchkit"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/http:", err)
		os.Exit(1)
	}
}

type result struct {
	Server   string  `json:"server"`
	Mix      string  `json:"mix"`
	C        int     `json:"c"`
	Threads  int     `json:"threads,omitempty"` // wrk's; 0 in a paced run (its own client)
	Requests int64   `json:"requests"`
	ReqPerS  float64 `json:"req_per_s"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	Non2xx   int64   `json:"non_2xx"`
	Errors   int64   `json:"socket_errors"`
	// CPUusPerReq is the server's CPU time (every process of it) per
	// answer: on two cores shared with the client, what a server takes is
	// what the client does not get.
	CPUusPerReq float64 `json:"cpu_us_per_req,omitempty"`
	// LagP99ms, in a paced run: how late the client's sender was at the
	// requests' due times (its own sleeps and scheduling).
	LagP99ms float64 `json:"client_lag_p99_ms,omitempty"`
	Paced    bool    `json:"paced,omitempty"`
	Load     float64 `json:"load,omitempty"` // of a paced run: the fraction of the slower server's closed-loop median
	Err      string  `json:"error,omitempty"`
}

func run() error {
	bin := flag.String("selfprovd", "", "selfprovd binary to measure (required); several, comma-separated, are compared with each other")
	nginxBin := flag.String("nginx", "/usr/sbin/nginx", "nginx binary; empty skips the comparison")
	nginxWorkers := flag.String("nginx.workers", "2", "nginx's worker_processes (auto: one a CPU it may run on)")
	wrkBin := flag.String("wrk", "wrk", "wrk binary")
	threadList := flag.String("threads", "2", "wrk's thread counts (each at most one a connection); the paced phase's rate comes from the first")
	devices := flag.Int("devices", 10000, "known devices seeded")
	conc := flag.String("c", "64,1", "connection counts")
	mixes := flag.String("mix", "known,unknown10", "request mixes: known (every name a seeded device), unknown10 (one in ten unknown, 404)")
	repeat := flag.Int("repeat", 5, "runs per server, mix and connection count")
	duration := flag.Duration("duration", 5*time.Second, "length of one wrk run")
	dir := flag.String("dir", "", "work folder (default a new temporary folder, removed at the end)")
	jsonOut := flag.String("json", "", "also append every run as a JSON line to this file")
	logPath := flag.String("log", "", "write selfprovd's log (stderr) to this file")
	pprofAddr := flag.String("pprof", "", "start selfprovd with -debug.pprof on this address")
	arrivals := flag.String("arrivals", "poisson", "the paced phase's schedule: poisson (each connection an independent client) or even (even gaps, connections in turn)")
	paced := flag.String("paced", "0.5,0.8", "then offer every server the same request rate, these fractions of the slower one's closed-loop median, at each connection count of 16 or more (0 skips)")
	flag.Parse()
	if *bin == "" {
		return errors.New("-selfprovd is required (go build -o /tmp/selfprovd ./cmd/selfprovd)")
	}
	var loads []float64
	for _, s := range strings.Split(*paced, ",") {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || f < 0 || f > 2 {
			return fmt.Errorf("-paced %q: fractions from 0 to 2", s)
		}
		if f > 0 {
			loads = append(loads, f)
		}
	}
	if *arrivals != "poisson" && *arrivals != "even" {
		return fmt.Errorf("-arrivals %q: poisson or even", *arrivals)
	}
	levels, err := benchkit.Ints("c", *conc, 1, 1024, "connections")
	if err != nil {
		return err
	}
	threads, err := benchkit.Ints("threads", *threadList, 1, 64, "wrk's threads")
	if err != nil {
		return err
	}
	script, err := filepath.Abs(filepath.Join(filepath.Dir(os.Args[0]), "random.lua"))
	if err != nil {
		return err
	}
	if _, err := os.Stat(script); err != nil {
		// go run builds into a temporary folder: look beside the source.
		if script, err = filepath.Abs("bench/http/random.lua"); err != nil {
			return err
		}
		if _, err := os.Stat(script); err != nil {
			return fmt.Errorf("random.lua not found beside the binary nor in bench/http: %w", err)
		}
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "selfprov-bench-http-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	// nginx's workers run as nobody when started by root.
	if err := os.Chmod(*dir, 0o755); err != nil {
		return err
	}
	ctx := context.Background()

	bins := strings.Split(*bin, ",")
	var names []string
	for i := range bins {
		if names, err = benchkit.Devices(ctx, filepath.Join(*dir, dataName(i)), *devices); err != nil {
			return fmt.Errorf("seeding: %w", err)
		}
	}
	lists := map[string]string{}
	paths := map[string][]string{} // the same lists, for the paced client
	for _, m := range strings.Split(*mixes, ",") {
		p := filepath.Join(*dir, m+".txt")
		var list []string
		for _, n := range names {
			list = append(list, "/"+n)
		}
		switch m {
		case "known":
		case "unknown10":
			// One unknown name for every nine known ones.
			for i := 0; i < len(names)/9; i++ {
				list = append(list, fmt.Sprintf("/SEP%012X.cnf.xml", 0x0C2D00000000+i))
			}
		default:
			return fmt.Errorf("-mix %q: known or unknown10", m)
		}
		paths[m] = list
		if err := os.WriteFile(p, []byte(strings.Join(list, "\n")+"\n"), 0o644); err != nil {
			return err
		}
		lists[m] = p
	}

	type target struct {
		name, url string
		pid       int
	}
	var targets []target
	var sp *proc
	for i, b := range bins {
		logp, pp := *logPath, *pprofAddr
		if i > 0 {
			logp, pp = "", "" // the first build's only
		}
		p, err := startSelfprovd(b, filepath.Join(*dir, dataName(i)), logp, pp)
		if err != nil {
			return err
		}
		defer p.stop()
		name := "selfprovd"
		if len(bins) > 1 {
			name = filepath.Base(b)
		}
		fmt.Printf("%s pid %d: http %s\n", name, p.cmd.Process.Pid, p.http)
		targets = append(targets, target{name, p.http, p.cmd.Process.Pid})
		if sp == nil {
			sp = p
		}
	}
	servers := len(targets)
	if *nginxBin != "" {
		root := filepath.Join(*dir, "root")
		size, err := benchkit.ExportConfigs(sp.http, names, root)
		if err != nil {
			return fmt.Errorf("writing files for nginx: %w", err)
		}
		fmt.Printf("wrote %d files of %d bytes on average into %s\n", len(names), size/int64(len(names)), root)
		ng, err := startNginx(*nginxBin, *dir, root, *nginxWorkers)
		if err != nil {
			return err
		}
		defer ng.stop()
		fmt.Printf("nginx pid %d on %s\n", ng.cmd.Process.Pid, ng.http)
		if err := sameAnswers(sp.http, ng.http, names); err != nil {
			return err
		}
		targets = append(targets, target{"nginx", ng.http, ng.cmd.Process.Pid})
	}
	for _, tg := range targets[:servers] {
		hwm, rss := benchkit.Memory(tg.pid)
		fmt.Printf("%s after one fetch of every device: peak RSS %.1f MB, RSS %.1f MB\n", tg.name, hwm, rss)
	}

	var jf *os.File
	if *jsonOut != "" {
		if jf, err = os.OpenFile(*jsonOut, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
			return err
		}
		defer jf.Close()
	}
	mixList := strings.Split(*mixes, ",")
	var all []result
	for _, m := range mixList {
		for _, c := range levels {
			for _, t := range threadCounts(threads, c) {
				for i := 0; i < *repeat; i++ {
					// Rotate which server goes first, so none always runs
					// right after the same other's load.
					order := append(append([]target(nil), targets[i%len(targets):]...), targets[:i%len(targets)]...)
					for _, tg := range order {
						cpu0 := benchkit.CPUTime(tg.pid)
						r := runWrk(*wrkBin, script, lists[m], tg.url, c, t, *duration)
						r.Server, r.Mix = tg.name, m
						r.CPUusPerReq = cpuPerRequest(benchkit.CPUTime(tg.pid)-cpu0, r.Requests)
						all = append(all, r)
						fmt.Printf("  %-9s %-9s c=%-3d t=%-2d req/s=%8.0f p50=%6.2fms p99=%6.2fms cpu/req=%5.1fµs non2xx=%d errors=%d %s\n",
							r.Server, m, c, t, r.ReqPerS, r.P50ms, r.P99ms, r.CPUusPerReq, r.Non2xx, r.Errors, r.Err)
						if jf != nil {
							b, _ := json.Marshal(r)
							fmt.Fprintln(jf, string(b))
						}
					}
				}
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")

	fmt.Printf("\nmedians of %d runs of %s each, %d known devices; load average at the end: %s",
		*repeat, *duration, *devices, load)
	fmt.Println("| mix | c | wrk threads | server | req/s | p50 ms | p99 ms | CPU µs/req | nginx req/s | p50 ms | p99 ms | CPU µs/req | ratio (median of same-round ratios) | p99 ratio |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, m := range mixList {
		for _, c := range levels {
			for _, t := range threadCounts(threads, c) {
				n := medians(all, "nginx", m, c, t)
				for _, tg := range targets[:servers] {
					s := medians(all, tg.name, m, c, t)
					ratio, p99 := "-", "-"
					if rs := pairRatios(all, tg.name, m, c, t, func(r result) float64 { return r.ReqPerS }); len(rs) > 0 {
						ratio = fmt.Sprintf("%.2f× (min %.2f, max %.2f)", median(rs), rs[0], rs[len(rs)-1])
					}
					if rs := pairRatios(all, tg.name, m, c, t, func(r result) float64 { return r.P99ms }); len(rs) > 0 {
						p99 = fmt.Sprintf("%.2f× (min %.2f, max %.2f)", median(rs), rs[0], rs[len(rs)-1])
					}
					fmt.Printf("| %s | %d | %d | %s | %.0f | %.2f | %.2f | %.1f | %.0f | %.2f | %.2f | %.1f | %s | %s |\n",
						m, c, t, tg.name, s.ReqPerS, s.P50ms, s.P99ms, s.CPUusPerReq, n.ReqPerS, n.P50ms, n.P99ms, n.CPUusPerReq, ratio, p99)
				}
			}
		}
	}
	if len(loads) > 0 && *nginxBin != "" {
		// The same offered load for every server: what is left of a
		// server's tail is its own, not the shared client's.
		pacedAll := map[float64][]result{}
		var pacedLevels []int // one connection leaves no client contention to take out
		for _, c := range levels {
			if c >= 16 {
				pacedLevels = append(pacedLevels, c)
			}
		}
		slower := func(m string, c int) float64 {
			rate := 0.0
			for _, tg := range targets {
				if s := medians(all, tg.name, m, c, threadCounts(threads, c)[0]).ReqPerS; s > 0 && (rate == 0 || s < rate) {
					rate = s
				}
			}
			return rate
		}
		for _, load := range loads {
			for _, m := range mixList {
				for _, c := range pacedLevels {
					rate := load * slower(m, c)
					if rate <= 0 {
						continue
					}
					for i := 0; i < *repeat; i++ {
						order := append(append([]target(nil), targets[i%len(targets):]...), targets[:i%len(targets)]...)
						for _, tg := range order {
							cpu0 := benchkit.CPUTime(tg.pid)
							r := pacedRun(tg.url, paths[m], c, rate, *duration, *arrivals == "poisson")
							r.Server, r.Mix, r.Load = tg.name, m, load
							r.CPUusPerReq = cpuPerRequest(benchkit.CPUTime(tg.pid)-cpu0, r.Requests)
							pacedAll[load] = append(pacedAll[load], r)
							if jf != nil {
								b, _ := json.Marshal(r)
								fmt.Fprintln(jf, string(b))
							}
							fmt.Printf("  paced %-9s %-9s c=%-3d offered=%6.0f/s answered=%8.0f/s p50=%6.2fms p99=%6.2fms cpu/req=%5.1fµs client lag p99=%5.2fms non2xx=%d errors=%d %s\n",
								r.Server, m, c, rate, r.ReqPerS, r.P50ms, r.P99ms, r.CPUusPerReq, r.LagP99ms, r.Non2xx, r.Errors, r.Err)
						}
					}
				}
			}
		}
		fmt.Printf("\nthe same request rate to every server (a fraction of the slower one's closed-loop median), %s arrivals, medians of %d runs; latency counts from each request's due time\n", *arrivals, *repeat)
		fmt.Println("| load | mix | c | server | answered/s | p50 ms | p99 ms | nginx p50 ms | p99 ms | p99 ratio (median of same-round ratios) | client lag p99 ms, beside nginx | CPU µs/req, nginx's |")
		fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
		for _, load := range loads {
			runs := pacedAll[load]
			for _, m := range mixList {
				for _, c := range pacedLevels {
					n := medians(runs, "nginx", m, c, 0)
					for _, tg := range targets[:servers] {
						s := medians(runs, tg.name, m, c, 0)
						p99 := "-"
						if rs := pairRatios(runs, tg.name, m, c, 0, func(r result) float64 { return r.P99ms }); len(rs) > 0 {
							p99 = fmt.Sprintf("%.2f× (min %.2f, max %.2f)", median(rs), rs[0], rs[len(rs)-1])
						}
						fmt.Printf("| %.0f %% | %s | %d | %s | %.0f | %.2f | %.2f | %.2f | %.2f | %s | %.2f, %.2f | %.1f, %.1f |\n",
							load*100, m, c, tg.name, s.ReqPerS, s.P50ms, s.P99ms, n.P50ms, n.P99ms, p99, s.LagP99ms, n.LagP99ms, s.CPUusPerReq, n.CPUusPerReq)
					}
				}
			}
		}
	}
	fmt.Println()
	for _, tg := range targets[:servers] {
		hwm, rss := benchkit.Memory(tg.pid)
		fmt.Printf("%s memory after the runs: peak RSS (VmHWM) %.1f MB, RSS %.1f MB\n", tg.name, hwm, rss)
	}
	return nil
}

// cpuPerRequest is a server's CPU time per answer in microseconds; 0
// without answers.
func cpuPerRequest(cpu time.Duration, requests int64) float64 {
	if requests <= 0 {
		return 0
	}
	return cpu.Seconds() * 1e6 / float64(requests)
}

// dataName is the data folder of the i-th selfprovd build.
func dataName(i int) string {
	if i == 0 {
		return "data"
	}
	return fmt.Sprintf("data%d", i+1)
}

type proc struct {
	cmd  *exec.Cmd
	http string
	done chan struct{}
}

// stop ends the process by its PID: TERM, then KILL after 10 s. nginx
// takes TERM as "fast shutdown" and stops its workers.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

var servingLine = regexp.MustCompile(`config=(\S+)`)

func startSelfprovd(bin, dataDir, logPath, pprofAddr string) (*proc, error) {
	logw := io.Discard
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		logw = f // closed with the process
	}
	args := []string{"-data-dir", dataDir, "-advertise", "127.0.0.1",
		"-listen.tftp", "127.0.0.1:0", "-listen.config", "127.0.0.1:0", "-listen.sip", "127.0.0.1:0",
		"-listen.services", "127.0.0.1:0", "-listen.admin", "127.0.0.1:0", "-listen.https", "127.0.0.1:0",
		"-listen.sip-tls", "127.0.0.1:0", "-log.level", "info"}
	if pprofAddr != "" {
		args = append(args, "-debug.pprof", pprofAddr)
	}
	cmd := exec.Command(bin, args...)
	// The bound address is read from the "selfprovd serving" line.
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			fmt.Fprintln(logw, sc.Text())
			if !sent && strings.Contains(sc.Text(), "selfprovd serving") {
				if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
					found <- m[1]
					sent = true
				}
			}
		}
	}()
	select {
	case a := <-found:
		p.http = "http://" + a
		return p, nil
	case <-p.done:
		return nil, errors.New("selfprovd exited before serving")
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, errors.New("selfprovd did not report its addresses within 30 s")
	}
}

// nginxConf is the minimal configuration: -nginx.workers, sendfile,
// keep-alive without a per-connection request cap (wrk would otherwise
// reconnect every 1,000 requests), no access log (selfprovd keeps none
// either), and text/xml; charset=utf-8 for .xml as selfprovd answers.
const nginxConf = `worker_processes %[4]s;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events { worker_connections 1024; }
http {
	types { text/xml xml; }
	default_type application/octet-stream;
	charset utf-8;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_timeout 65;
	keepalive_requests 1000000;
	access_log off;
	client_body_temp_path %[1]s/nginx-tmp;
	proxy_temp_path %[1]s/nginx-tmp;
	fastcgi_temp_path %[1]s/nginx-tmp;
	uwsgi_temp_path %[1]s/nginx-tmp;
	scgi_temp_path %[1]s/nginx-tmp;
	server {
		listen %[2]s;
		root %[3]s;
	}
}
`

func startNginx(bin, dir, root, workers string) (*proc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, addr, root, workers), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "nginx-error.log"), "-g", "daemon off;")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, http: "http://" + addr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	// Ready when it answers.
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := client.Get(p.http + "/"); err == nil {
			resp.Body.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, errors.New("nginx exited at start")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, errors.New("nginx did not answer within 10 s")
		}
	}
}

// sameAnswers checks that both servers give the same status, body,
// Content-Type and Content-Length for a sample of known and unknown names.
func sameAnswers(a, b string, names []string) error {
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(url string) (int, string, string, []byte, error) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, "", "", nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Length"), body, err
	}
	sample := []string{names[0], names[len(names)/2], names[len(names)-1], "SEP0C2D00000000.cnf.xml"}
	for _, n := range sample {
		sa, ta, la, ba, err := get(a + "/" + n)
		if err != nil {
			return err
		}
		sb, tb, lb, bb, err := get(b + "/" + n)
		if err != nil {
			return err
		}
		if sa != sb || (sa == 200 && (ta != tb || la != lb || !bytes.Equal(ba, bb))) {
			return fmt.Errorf("%s: selfprovd answers %d %q %s bytes, nginx %d %q %s bytes", n, sa, ta, la, sb, tb, lb)
		}
	}
	return nil
}

// threadCounts are the wrk thread counts to run at c connections: each
// at most c (wrk gives every thread a connection at least), in the order
// asked, without repeats.
func threadCounts(asked []int, c int) []int {
	var out []int
	for _, t := range asked {
		t = max(1, min(t, c))
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// runWrk runs wrk once with the given threads (at most c: see
// threadCounts) and reads its summary.
func runWrk(bin, script, list, url string, c, threads int, d time.Duration) result {
	cmd := exec.Command(bin, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(c),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--latency", "--timeout", "5s",
		"-s", script, url, "--", list)
	out, err := cmd.CombinedOutput()
	r := result{C: c, Threads: threads}
	if err != nil {
		r.Err = fmt.Sprintf("wrk: %v: %s", err, out)
		return r
	}
	return parseWrk(string(out), r)
}

var (
	reqLine   = regexp.MustCompile(`(\d+) requests in`)
	rpsLine   = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	pctLine   = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	non2xx    = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	sockErrs  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	unitScale = map[string]float64{"us": 0.001, "ms": 1, "s": 1000}
)

func parseWrk(out string, r result) result {
	if m := reqLine.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := rpsLine.FindStringSubmatch(out); m != nil {
		r.ReqPerS, _ = strconv.ParseFloat(m[1], 64)
	} else {
		r.Err = "no Requests/sec in wrk's output: " + out
	}
	for _, m := range pctLine.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		v *= unitScale[m[3]]
		if m[1] == "50" {
			r.P50ms = v
		} else {
			r.P99ms = v
		}
	}
	if m := non2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := sockErrs.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.Errors += n
		}
	}
	return r
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

// medians are server's median figures over its runs of a mix, connection
// count and wrk thread count (0: the paced runs).
func medians(all []result, server, mix string, c, threads int) result {
	var rps, p50, p99, lag, cpu []float64
	for _, r := range all {
		if r.Server == server && r.Mix == mix && r.C == c && r.Threads == threads && r.Err == "" {
			rps, p50, p99, lag = append(rps, r.ReqPerS), append(p50, r.P50ms), append(p99, r.P99ms), append(lag, r.LagP99ms)
			cpu = append(cpu, r.CPUusPerReq)
		}
	}
	return result{Server: server, Mix: mix, C: c, Threads: threads, ReqPerS: median(rps), P50ms: median(p50), P99ms: median(p99), LagP99ms: median(lag),
		CPUusPerReq: median(cpu)}
}

// pairRatios are server's figure (requests/s or p99) over nginx's in each
// round (the runs made one after the other), sorted.
func pairRatios(all []result, server, mix string, c, threads int, figure func(result) float64) []float64 {
	var s, n []float64
	for _, r := range all {
		if r.Mix != mix || r.C != c || r.Threads != threads || r.Err != "" {
			continue
		}
		switch r.Server {
		case server:
			s = append(s, figure(r))
		case "nginx":
			n = append(n, figure(r))
		}
	}
	var out []float64
	for i := 0; i < len(s) && i < len(n); i++ {
		if n[i] > 0 {
			out = append(out, s[i]/n[i])
		}
	}
	sort.Float64s(out)
	return out
}
