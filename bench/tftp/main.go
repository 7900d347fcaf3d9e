// Command tftp measures config delivery: selfprovd serving 10,000 known
// devices over TFTP against Debian's tftpd-hpa (in.tftpd) and atftpd
// serving the same files from disk, in the same run.
//
//	go build -o /tmp/selfprovd ./cmd/selfprovd
//	go run ./bench/tftp -selfprovd /tmp/selfprovd
//	go run ./bench/tftp -selfprovd after=/tmp/selfprovd,before=/tmp/selfprovd.old
//
// It seeds a fresh database with the devices, starts each selfprovd build
// on loopback ports, writes every device's config (fetched from selfprovd)
// and a firmware file into a folder, and starts in.tftpd and atftpd on that
// folder. atftpd conflicts with tftpd-hpa as an installed package, so by
// default it is fetched with apt-get download and unpacked into the work
// folder. Then, alternating the servers, -repeat times:
//
//   - files: -n distinct configs at each concurrency, with a load client
//     built on pin/tftp's client;
//   - large: the firmware file with atftp at blksize 512, 1428, and 1428
//     with windowsize 8;
//   - attack: against a fresh selfprovd of each build, -attack-n read
//     requests asking for timeout 255 that are never acknowledged, from
//     one address and then from as many addresses, while a second client
//     on another address fetches configs in one try each.
//
// Every run is bounded in count and time. It prints medians and ratios.
// Every server is stopped by PID.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pin/tftp/v3"

	"selfprov/bench/internal/benchkit"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/tftp:", err)
		os.Exit(1)
	}
}

type result struct {
	Server    string  `json:"server"`
	C         int     `json:"c"`
	N         int     `json:"n"`
	OK        int64   `json:"ok"`
	Errors    int64   `json:"errors"`
	ElapsedS  float64 `json:"elapsed_s"`
	FilesPerS float64 `json:"files_per_s"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	FirstErr  string  `json:"first_error,omitempty"`
	// CPUusPerFile is the server's CPU time per file served, in
	// microseconds: on a shared machine a steadier measure of its cost
	// than files/s, which the load client and the neighbours share.
	CPUusPerFile float64 `json:"cpu_us_per_file,omitempty"`
}

// build is one selfprovd build under test.
type build struct{ label, path string }

// parseBinaries reads -selfprovd: "PATH" or "LABEL=PATH,LABEL=PATH", so
// that two builds (before and after a change) are measured in one run.
func parseBinaries(v string) ([]build, error) {
	var out []build
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		label, path, ok := strings.Cut(item, "=")
		if !ok {
			label, path = "selfprovd", item
		}
		for _, b := range out {
			if b.label == label {
				return nil, fmt.Errorf("-selfprovd: label %q twice", label)
			}
		}
		out = append(out, build{label, path})
	}
	if len(out) == 0 {
		return nil, errors.New("-selfprovd is required (go build -o /tmp/selfprovd ./cmd/selfprovd)")
	}
	return out, nil
}

// target is a server under test; pid, when not 0, is the process whose
// CPU time (its own and its waited-for children's) is charged to it.
type target struct {
	name, addr string
	pid        int
}

func run() error {
	bins := flag.String("selfprovd", "", "selfprovd binary to measure, or LABEL=PATH,LABEL=PATH to compare builds (required)")
	tftpdBin := flag.String("in.tftpd", "/usr/sbin/in.tftpd", "tftpd-hpa binary; empty skips it")
	atftpdBin := flag.String("atftpd", "download", "atftpd binary; \"download\" unpacks Debian's atftpd package into the work folder (it conflicts with tftpd-hpa as an installed package); empty skips it")
	atftpBin := flag.String("atftp", "atftp", "atftp client, which downloads the large file with windowsize")
	scenarios := flag.String("scenarios", "files,large,attack", "what to measure: files (many small configs), large (a firmware file with options), attack (a second client during a slot attack)")
	devices := flag.Int("devices", 10000, "known devices seeded")
	n := flag.Int("n", 10000, "downloads per run, each of a different device while n <= devices")
	conc := flag.String("c", "1,16,64", "concurrency levels")
	repeat := flag.Int("repeat", 3, "runs per server and concurrency")
	maxTime := flag.Duration("max-time", 120*time.Second, "bound on one run")
	largeSize := flag.Int("large-size", 4<<20, "size of the firmware file, bytes")
	largeN := flag.Int("large-n", 5, "downloads of the firmware file per server, option set and repeat")
	attackN := flag.Int("attack-n", 520, "read requests of the attack, never acknowledged")
	attackFor := flag.Duration("attack-for", 10*time.Second, "how long the second client fetches during the attack")
	dir := flag.String("dir", "", "work folder (default a new temporary folder, removed at the end)")
	jsonOut := flag.String("json", "", "also append every run as a JSON line to this file")
	logPath := flag.String("log", "", "write selfprovd's log (stderr) to this file")
	flag.Parse()
	binaries, err := parseBinaries(*bins)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, sc := range strings.Split(*scenarios, ",") {
		switch sc = strings.TrimSpace(sc); sc {
		case "files", "large", "attack":
			want[sc] = true
		default:
			return fmt.Errorf("-scenarios: unknown %q", sc)
		}
	}
	levels, err := benchkit.Ints("c", *conc, 1, 1024, "concurrency")
	if err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "selfprov-bench-tftp-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	ctx := context.Background()

	seeded := filepath.Join(*dir, "seed")
	names, err := benchkit.Devices(ctx, seeded, *devices)
	if err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	if *atftpdBin == "download" {
		if *atftpdBin, err = unpackAtftpd(filepath.Join(*dir, "atftpd")); err != nil {
			return fmt.Errorf("atftpd: %w", err)
		}
	}
	var jf *os.File
	if *jsonOut != "" {
		if jf, err = os.OpenFile(*jsonOut, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
			return err
		}
		defer jf.Close()
	}
	record := func(v any) {
		if jf != nil {
			b, _ := json.Marshal(v)
			fmt.Fprintln(jf, string(b))
		}
	}

	// Every selfprovd serves a copy of the seeded database; the others
	// serve the same bytes from a folder.
	var sps []*proc
	var targets []target
	for i, b := range binaries {
		data := filepath.Join(*dir, "data-"+strconv.Itoa(i))
		if err := copyDir(seeded, data); err != nil {
			return err
		}
		sp, err := startSelfprovd(b.path, data, *logPath)
		if err != nil {
			return fmt.Errorf("%s: %w", b.label, err)
		}
		defer sp.stop()
		fmt.Printf("%s pid %d: tftp %s, http %s\n", b.label, sp.cmd.Process.Pid, sp.tftp, sp.http)
		sps = append(sps, sp)
		targets = append(targets, target{b.label, sp.tftp, sp.cmd.Process.Pid})
	}
	root := filepath.Join(*dir, "root")
	size, err := benchkit.ExportConfigs(sps[0].http, names, root)
	if err != nil {
		return fmt.Errorf("writing files for the other servers: %w", err)
	}
	// The other builds render every config once too, so the memory
	// figures below compare like with like.
	for _, sp := range sps[1:] {
		if _, err := benchkit.ExportConfigs(sp.http, names, filepath.Join(*dir, "discard")); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %d files of %d bytes on average into %s\n", len(names), size/int64(len(names)), root)
	firmware, err := writeFirmware(root, *largeSize)
	if err != nil {
		return err
	}
	if *tftpdBin != "" {
		hpa, err := startTFTPDHPA(*tftpdBin, root)
		if err != nil {
			return err
		}
		defer hpa.stop()
		fmt.Printf("in.tftpd pid %d on %s\n", hpa.cmd.Process.Pid, hpa.tftp)
		targets = append(targets, target{"tftpd-hpa", hpa.tftp, hpa.cmd.Process.Pid})
	}
	if *atftpdBin != "" {
		at, err := startAtftpd(*atftpdBin, root)
		if err != nil {
			return err
		}
		defer at.stop()
		fmt.Printf("atftpd pid %d on %s\n", at.cmd.Process.Pid, at.tftp)
		targets = append(targets, target{"atftpd", at.tftp, at.cmd.Process.Pid})
	}
	for i, sp := range sps {
		hwm, rss := benchkit.Memory(sp.cmd.Process.Pid)
		fmt.Printf("%s after one fetch of every device: peak RSS %.1f MB, RSS %.1f MB\n", binaries[i].label, hwm, rss)
	}

	if want["files"] {
		// The machine is shared: the load beside the figures says how
		// much of it the servers had.
		fmt.Printf("load average before the runs: %s\n", loadavg())
		var all []result
		for _, c := range levels {
			for i := 0; i < *repeat; i++ {
				for _, tg := range targets {
					cpu0 := benchkit.CPUTime(tg.pid)
					r := load(tg.addr, names, *n, c, *maxTime)
					r.Server = tg.name
					if r.OK > 0 && tg.pid != 0 {
						r.CPUusPerFile = (benchkit.CPUTime(tg.pid) - cpu0).Seconds() * 1e6 / float64(r.OK)
					}
					all = append(all, r)
					fmt.Printf("  %-10s c=%-3d files/s=%7.0f p50=%7.2fms p99=%7.2fms max=%7.2fms cpu/file=%5.0fµs ok=%d errors=%d %s\n",
						r.Server, c, r.FilesPerS, r.P50ms, r.P99ms, r.MaxMs, r.CPUusPerFile, r.OK, r.Errors, r.FirstErr)
					record(r)
				}
			}
		}
		fmt.Printf("load average after the runs: %s\n", loadavg())
		fmt.Printf("\nfiles: medians of %d runs, %d downloads each, %d known devices\n", *repeat, *n, *devices)
		fmt.Printf("| c | server | files/s | p50 ms | p99 ms | vs %s | CPU µs/file | errors |\n|---|---|---|---|---|---|---|---|\n", targets[0].name)
		for _, c := range levels {
			first := medians(all, targets[0].name, c)
			for _, tg := range targets {
				m := medians(all, tg.name, c)
				ratio := "-"
				if first.FilesPerS > 0 {
					ratio = fmt.Sprintf("%.2f×", m.FilesPerS/first.FilesPerS)
				}
				fmt.Printf("| %d | %s | %.0f | %.2f | %.2f | %s | %.0f | %d |\n", c, tg.name, m.FilesPerS, m.P50ms, m.P99ms, ratio, m.CPUusPerFile, m.Errors)
			}
		}
		for i, sp := range sps {
			hwm, rss := benchkit.Memory(sp.cmd.Process.Pid)
			fmt.Printf("%s memory after the runs: peak RSS (VmHWM) %.1f MB, RSS %.1f MB\n", binaries[i].label, hwm, rss)
		}
	}
	if want["large"] {
		// selfprovd serves the firmware from its static folder, so each
		// build runs once more with a configuration that names it.
		lt := targets[len(sps):]
		for i, b := range binaries {
			sp, err := startStatic(b.path, filepath.Join(*dir, "static-"+strconv.Itoa(i)), root, *logPath)
			if err != nil {
				return fmt.Errorf("%s with a static folder: %w", b.label, err)
			}
			defer sp.stop()
			lt = append(lt, target{b.label, sp.tftp, sp.cmd.Process.Pid})
		}
		if err := large(lt, *atftpBin, firmware, *largeSize, *largeN, *repeat, record); err != nil {
			return err
		}
	}
	if want["attack"] {
		if err := attack(binaries, seeded, *dir, *logPath, names, *attackN, *attackFor, *repeat, record); err != nil {
			return err
		}
	}
	return nil
}

// copyDir copies the regular files of one folder into a new one.
func copyDir(from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

type proc struct {
	cmd  *exec.Cmd
	tftp string
	http string
	done chan struct{}
}

// stop ends the process by its PID: TERM, then KILL after 10 s.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

var servingLine = regexp.MustCompile(`tftp=(\S+) config=(\S+)`)

func startSelfprovd(bin, dataDir, logPath string, extra ...string) (*proc, error) {
	logw := io.Discard
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		logw = f // closed with the process
	}
	cmd := exec.Command(bin, "-data-dir", dataDir, "-advertise", "127.0.0.1",
		"-listen.tftp", "127.0.0.1:0", "-listen.config", "127.0.0.1:0", "-listen.sip", "127.0.0.1:0",
		"-listen.services", "127.0.0.1:0", "-listen.admin", "127.0.0.1:0", "-listen.https", "127.0.0.1:0", "-log.level", "info")
	cmd.Args = append(cmd.Args, extra...)
	// The bound addresses are read from the "selfprovd serving" line.
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	found := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			fmt.Fprintln(logw, sc.Text())
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- [2]string{m[1], m[2]}
				sent = true
			}
		}
	}()
	select {
	case a := <-found:
		p.tftp, p.http = a[0], "http://"+a[1]
		return p, nil
	case <-p.done:
		return nil, errors.New("selfprovd exited before serving")
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, errors.New("selfprovd did not report its addresses within 30 s")
	}
}

func startTFTPDHPA(bin, root string) (*proc, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	// -L foreground, -s chroot to root, -u nobody to drop privileges.
	cmd := exec.Command(bin, "-L", "-a", addr, "-s", "-u", "nobody", root)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, tftp: addr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, waitServing(p, "in.tftpd", root)
}

// waitServing waits until p answers a request for a file of root.
func waitServing(p *proc, name, root string) error {
	cl, _ := tftp.NewClient(p.tftp)
	cl.SetTimeout(200 * time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, _ := os.ReadDir(root)
		if len(entries) > 0 {
			if _, err := fetch(cl, entries[0].Name()); err == nil {
				return nil
			}
		}
		select {
		case <-p.done:
			return errors.New(name + " exited at start")
		default:
		}
		if time.Now().After(deadline) {
			p.stop()
			return errors.New(name + " did not answer within 10 s")
		}
	}
}

// load downloads n files, a different one each time (cycling when n
// exceeds the names), with c workers; bounded by n and maxTime.
func load(addr string, names []string, n, c int, maxTime time.Duration) result {
	cl, err := tftp.NewClient(addr)
	if err != nil {
		return result{C: c, N: n, FirstErr: err.Error()}
	}
	cl.SetTimeout(2 * time.Second)
	cl.SetRetries(3)
	var next, okN, errN atomic.Int64
	var firstErr atomic.Value
	lat := make([][]time.Duration, c)
	deadline := time.Now().Add(maxTime)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || time.Now().After(deadline) {
					return
				}
				t0 := time.Now()
				_, err := fetch(cl, names[int(i)%len(names)])
				d := time.Since(t0)
				if err != nil {
					errN.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				okN.Add(1)
				lat[w] = append(lat[w], d)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	q := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(p*float64(len(all)-1)+0.5)].Microseconds()) / 1000
	}
	r := result{C: c, N: n, OK: okN.Load(), Errors: errN.Load(), ElapsedS: el.Seconds(),
		FilesPerS: float64(okN.Load()) / el.Seconds(), P50ms: q(0.5), P99ms: q(0.99), MaxMs: q(1)}
	if v := firstErr.Load(); v != nil {
		r.FirstErr = v.(string)
	}
	return r
}

func fetch(cl *tftp.Client, name string) (int64, error) {
	wt, err := cl.Receive(name, "octet")
	if err != nil {
		return 0, err
	}
	return wt.WriteTo(io.Discard)
}

func medians(all []result, server string, c int) result {
	var rs []result
	for _, r := range all {
		if r.Server == server && r.C == c {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return result{}
	}
	med := func(f func(result) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		sort.Float64s(xs)
		return xs[len(xs)/2]
	}
	out := result{Server: server, C: c,
		FilesPerS: med(func(r result) float64 { return r.FilesPerS }),
		P50ms:     med(func(r result) float64 { return r.P50ms }),
		P99ms:     med(func(r result) float64 { return r.P99ms }),

		CPUusPerFile: med(func(r result) float64 { return r.CPUusPerFile }),
	}
	for _, r := range rs {
		out.Errors += r.Errors
	}
	return out
}

// loadavg is the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
