package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// firmwareName is the large file: a phone load, as the static folder holds.
const firmwareName = "sip8845_65.14-2-1-0201-10.loads"

func writeFirmware(root string, size int) (string, error) {
	b := make([]byte, size)
	_, _ = rand.Read(b)
	return firmwareName, os.WriteFile(filepath.Join(root, firmwareName), b, 0o644)
}

// unpackAtftpd fetches Debian's atftpd package and unpacks it into dir,
// without installing it.
func unpackAtftpd(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	dl := exec.Command("apt-get", "download", "atftpd")
	dl.Dir = dir
	if out, err := dl.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download atftpd: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "atftpd_*.deb"))
	if len(debs) == 0 {
		return "", errors.New("apt-get download atftpd left no package")
	}
	root := filepath.Join(dir, "root")
	if out, err := exec.Command("dpkg-deb", "-x", debs[0], root).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x: %v\n%s", err, out)
	}
	return filepath.Join(root, "usr", "sbin", "atftpd"), nil
}

func freeUDP() (string, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer pc.Close()
	return pc.LocalAddr().String(), nil
}

func startAtftpd(bin, root string) (*proc, error) {
	addr, err := freeUDP()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--daemon", "--no-fork", "--port", port, "--bind-address", "127.0.0.1",
		"--user", "nobody", "--group", "nogroup", "--logfile", "/dev/null", "--maxthread", "1024", root)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, tftp: addr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, waitServing(p, "atftpd", root)
}

// startStatic starts selfprovd with a configuration naming root as its
// static folder.
func startStatic(bin, dataDir, root, logPath string) (*proc, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dataDir, "selfprov.yaml")
	if err := os.WriteFile(cfg, []byte("staticDir: "+strconv.Quote(root)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return startSelfprovd(bin, dataDir, logPath, "-config", cfg)
}

// optionSet is one way of asking for the firmware file.
type optionSet struct {
	name string
	args []string // atftp --option arguments
}

var optionSets = []optionSet{
	{"512 (no options)", nil},
	{"blksize 1428", []string{"--option", "blksize 1428"}},
	{"blksize 1428 windowsize 8", []string{"--option", "blksize 1428", "--option", "windowsize 8"}},
}

type largeResult struct {
	Scenario string  `json:"scenario"`
	Server   string  `json:"server"`
	Options  string  `json:"options"`
	OK       int     `json:"ok"`
	Errors   int     `json:"errors"`
	P50ms    float64 `json:"p50_ms"`
	MinMs    float64 `json:"min_ms"`
	MBperS   float64 `json:"mb_per_s"` // at the median
	FirstErr string  `json:"first_error,omitempty"`
}

// large downloads the firmware file n·repeat times per server and option
// set with the atftp client. A download's
// time includes starting atftp (a few milliseconds).
func large(targets []target, atftp, name string, size, n, repeat int, record func(any)) error {
	dir, err := os.MkdirTemp("", "selfprov-bench-large-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	got := filepath.Join(dir, "got")
	times := map[[2]string][]time.Duration{}
	errs := map[[2]string]int{}
	firstErr := map[[2]string]string{}
	// One download at a time round the servers and option sets, so a
	// burst of load from elsewhere on the machine falls on all alike.
	for i := 0; i < n*repeat; i++ {
		for _, os_ := range optionSets {
			for _, tg := range targets {
				host, port, _ := net.SplitHostPort(tg.addr)
				key := [2]string{tg.name, os_.name}
				_ = os.Remove(got)
				args := append(append([]string(nil), os_.args...), "-g", "-r", name, "-l", got, host, port)
				t0 := time.Now()
				out, err := exec.Command(atftp, args...).CombinedOutput()
				d := time.Since(t0)
				st, serr := os.Stat(got)
				if err != nil || serr != nil || st.Size() != int64(size) {
					errs[key]++
					if firstErr[key] == "" {
						firstErr[key] = fmt.Sprintf("%v %v %s", err, serr, bytes.TrimSpace(out))
					}
					continue
				}
				times[key] = append(times[key], d)
			}
		}
	}
	fmt.Printf("\nlarge: a %.1f MiB file with atftp, median of %d downloads per server and options\n", float64(size)/(1<<20), n*repeat)
	// On a shared machine the fastest download shows what the server can
	// do when nothing else runs; the median what it did.
	fmt.Println("| server | options | median ms | MB/s | vs 512 | fastest ms | vs 512 | errors |\n|---|---|---|---|---|---|---|---|")
	for _, tg := range targets {
		var base, baseMin float64
		for _, os_ := range optionSets {
			key := [2]string{tg.name, os_.name}
			ts := times[key]
			slices.Sort(ts)
			res := largeResult{Scenario: "large", Server: tg.name, Options: os_.name, OK: len(ts), Errors: errs[key], FirstErr: firstErr[key]}
			if len(ts) > 0 {
				med := ts[len(ts)/2]
				res.P50ms = float64(med.Microseconds()) / 1000
				res.MinMs = float64(ts[0].Microseconds()) / 1000
				res.MBperS = float64(size) / med.Seconds() / 1e6
			}
			if base == 0 {
				base, baseMin = res.P50ms, res.MinMs
			}
			ratio, ratioMin := "-", "-"
			if res.P50ms > 0 {
				ratio = fmt.Sprintf("%.2f×", base/res.P50ms)
				ratioMin = fmt.Sprintf("%.2f×", baseMin/res.MinMs)
			}
			fmt.Printf("| %s | %s | %.1f | %.1f | %s | %.1f | %s | %d %s |\n", tg.name, os_.name, res.P50ms, res.MBperS, ratio, res.MinMs, ratioMin, res.Errors, res.FirstErr)
			record(res)
		}
	}
	return nil
}

type attackResult struct {
	Scenario string  `json:"scenario"`
	Server   string  `json:"server"`
	From     string  `json:"attack_from"`
	Attempts int     `json:"attempts"`
	OK       int     `json:"ok"`
	Rate     float64 `json:"success_rate"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	FirstErr string  `json:"first_error,omitempty"`
}

// attack starts a fresh selfprovd of each build, sends it attackN read
// requests from 127.0.0.1 that ask for timeout 255 and are never
// acknowledged, and meanwhile has a second client on 127.0.0.2 fetch a
// config every 50 ms for the given time, each in one request.
func attack(bins []build, seeded, dir, logPath string, names []string, attackN int, dur time.Duration, repeat int, record func(any)) error {
	for _, spread := range []bool{false, true} {
		if err := attackRuns(bins, seeded, dir, logPath, names, attackN, spread, dur, repeat, record); err != nil {
			return err
		}
	}
	return nil
}

// attackRuns measures one kind of attack: from one address, or spread
// over attackN addresses (as with spoofed sources), which no per-source
// bound stops.
func attackRuns(bins []build, seeded, dir, logPath string, names []string, attackN int, spread bool, dur time.Duration, repeat int, record func(any)) error {
	from := "127.0.0.1"
	if spread {
		from = fmt.Sprintf("%d addresses in 127.1.0.0/16", attackN)
	}
	all := map[string][]attackResult{}
	for r := 0; r < repeat; r++ {
		for i, b := range bins {
			data := filepath.Join(dir, fmt.Sprintf("attack-%d-%d", r, i))
			if err := copyDir(seeded, data); err != nil {
				return err
			}
			sp, err := startSelfprovd(b.path, data, logPath)
			if err != nil {
				return err
			}
			res, err := attackOnce(sp.tftp, names, attackN, spread, dur)
			sp.stop()
			_ = os.RemoveAll(data)
			if err != nil {
				return err
			}
			res.Server, res.From = b.label, from
			all[b.label] = append(all[b.label], res)
			record(res)
			fmt.Printf("  attack from %s: %-10s second client ok %d/%d (%.0f%%) p50=%.2fms p99=%.2fms %s\n",
				from, b.label, res.OK, res.Attempts, 100*res.Rate, res.P50ms, res.P99ms, res.FirstErr)
		}
	}
	fmt.Printf("\nattack: %d unacknowledged requests (timeout 255) from %s; a second client on 127.0.0.2 for %v; medians of %d runs\n", attackN, from, dur, repeat)
	fmt.Println("| server | success rate | p50 ms | p99 ms |\n|---|---|---|---|")
	for _, b := range bins {
		rs := all[b.label]
		med := func(f func(attackResult) float64) float64 {
			xs := make([]float64, len(rs))
			for i, r := range rs {
				xs[i] = f(r)
			}
			slices.Sort(xs)
			return xs[len(xs)/2]
		}
		fmt.Printf("| %s | %.0f%% | %.2f | %.2f |\n", b.label, 100*med(func(r attackResult) float64 { return r.Rate }),
			med(func(r attackResult) float64 { return r.P50ms }), med(func(r attackResult) float64 { return r.P99ms }))
	}
	return nil
}

func attackOnce(server string, names []string, attackN int, spread bool, dur time.Duration) (attackResult, error) {
	res := attackResult{Scenario: "attack"}
	ua, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return res, err
	}
	// The attacking sockets stay open, so no port-unreachable tells the
	// server they are gone.
	var socks []*net.UDPConn
	defer func() {
		for _, c := range socks {
			c.Close()
		}
	}()
	for i := 0; i < attackN; i++ {
		ip := net.IPv4(127, 0, 0, 1)
		if spread {
			ip = net.IPv4(127, 1, byte(i/250), byte(i%250+1))
		}
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			return res, err
		}
		socks = append(socks, c)
		if _, err := c.WriteTo(rrq(names[i%len(names)], "timeout", "255"), ua); err != nil {
			return res, err
		}
	}
	var lat []time.Duration
	end := time.Now().Add(dur)
	for i := 0; time.Now().Before(end); i++ {
		t0 := time.Now()
		err := fetchOnce("127.0.0.2", ua, names[(attackN+i)%len(names)])
		res.Attempts++
		if err != nil {
			if res.FirstErr == "" {
				res.FirstErr = err.Error()
			}
		} else {
			res.OK++
			lat = append(lat, time.Since(t0))
		}
		time.Sleep(time.Until(t0.Add(50 * time.Millisecond)))
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1)+0.5)].Microseconds()) / 1000
	}
	res.Rate = float64(res.OK) / float64(res.Attempts)
	res.P50ms, res.P99ms = q(0.5), q(0.99)
	return res, nil
}

func rrq(name string, opts ...string) []byte {
	b := []byte{0, 1}
	for _, f := range append([]string{name, "octet"}, opts...) {
		b = append(b, f...)
		b = append(b, 0)
	}
	return b
}

// fetchOnce downloads name in lock step from a socket on ip, in one read
// request: an error answer is a failure, as a phone sees it.
func fetchOnce(ip string, server *net.UDPAddr, name string) error {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.WriteTo(rrq(name), server); err != nil {
		return err
	}
	buf := make([]byte, 600)
	var from net.Addr
	var lastACK []byte
	want := uint16(1)
	for tries := 0; ; {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, addr, err := c.ReadFrom(buf)
		if err != nil {
			if tries++; tries > 3 || lastACK == nil {
				return fmt.Errorf("block %d: %w", want, err)
			}
			_, _ = c.WriteTo(lastACK, from)
			continue
		}
		if n < 4 {
			continue
		}
		switch binary.BigEndian.Uint16(buf) {
		case 5:
			return fmt.Errorf("error %d: %s", binary.BigEndian.Uint16(buf[2:]), bytes.TrimRight(buf[4:n], "\x00"))
		case 3:
			if binary.BigEndian.Uint16(buf[2:]) != want {
				continue
			}
			from, tries = addr, 0
			lastACK = []byte{0, 4, byte(want >> 8), byte(want)}
			_, _ = c.WriteTo(lastACK, from)
			if n-4 < 512 {
				return nil
			}
			want++
		}
	}
}
