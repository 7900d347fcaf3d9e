// Package benchkit holds what the config delivery benches share: the
// devices they serve, the files exported from them, the memory and CPU
// time read.
package benchkit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"selfprov/configs"
	"selfprov/provision"
	"selfprov/store/sqlite"
)

// Devices creates the database selfprovd will open in dataDir: the demo
// configuration plus count devices SEP0A1B00000000… with one line each, and
// returns their config file names. The benches serve the same devices.
func Devices(ctx context.Context, dataDir string, count int) ([]string, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	cfg, err := configs.Demo()
	if err != nil {
		return nil, err
	}
	cfg.Advertise = "127.0.0.1"
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "selfprov.db"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	svc, err := provision.New(provision.Options{Store: st, Logger: slog.New(slog.DiscardHandler), Models: cfg.Models, URLVars: cfg.URLVars()})
	if err != nil {
		return nil, err
	}
	if err := cfg.Seed(ctx, svc); err != nil {
		return nil, err
	}
	udt := cfg.UDTs[0]
	now := time.Now().UTC()
	names := make([]string, 0, count)
	for i := 0; i < count; i++ {
		name := fmt.Sprintf("SEP%012X", 0x0A1B00000000+i)
		dn := strconv.Itoa(100000 + i)
		settings := udt.DeviceSettings
		settings.IdleURL = "http://127.0.0.1:8080/xps/idle?name=" + name
		settings.AuthenticationURL = "http://127.0.0.1:8080/xps/authenticate"
		d := provision.Device{
			Name: name, Model: 36224, Protocol: "SIP", Description: "Auto " + dn,
			State: provision.StateAutoRegistered, UDT: udt.Name, Settings: settings,
			Lines: []provision.Line{{Button: 1, DN: dn, Label: dn, DisplayName: "Auto " + dn,
				Contact: fmt.Sprintf("6c1f0b52-2d4e-4c1b-9a51-%012x", i), MaxCalls: 2, BusyTrigger: 1}},
			ConfigVersion: fmt.Sprintf("%d-6c1f0b52-2d4e-4c1b-9a51-%012x", now.Unix(), i),
			CreatedAt:     now,
		}
		if err := st.CreateDevice(ctx, d); err != nil {
			return nil, err
		}
		names = append(names, name+".cnf.xml")
	}
	return names, nil
}

// ExportConfigs writes every device's config, as selfprovd serves it at
// base, into root, for the peer server to serve the same bytes; root's
// parent is made readable to in.tftpd's unprivileged user.
func ExportConfigs(base string, names []string, root string) (int64, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return 0, err
	}
	if err := os.Chmod(filepath.Dir(root), 0o755); err != nil {
		return 0, err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var total int64
	for _, name := range names {
		resp, err := client.Get(base + "/" + name)
		if err != nil {
			return 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return 0, fmt.Errorf("%s: %d %v", name, resp.StatusCode, err)
		}
		if err := os.WriteFile(filepath.Join(root, name), body, 0o644); err != nil {
			return 0, err
		}
		total += int64(len(body))
	}
	return total, nil
}

// Memory reads a process's peak and current resident set in MB.
func Memory(pid int) (hwm, rss float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmHWM:":
			hwm = kb / 1024
		case "VmRSS:":
			rss = kb / 1024
		}
	}
	return hwm, rss
}

// CPUTime is the CPU time of process pid, of its children it waited for
// (tftpd-hpa forks one a transfer) and of its descendants still running
// (nginx's workers); 0 when pid is 0 or unknown.
func CPUTime(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	return time.Duration(treeTicks(pid)) * time.Second / clockTicks
}

func treeTicks(pid int) int64 {
	ticks := statTicks(pid)
	for _, child := range children(pid) {
		ticks += treeTicks(child)
	}
	return ticks
}

// statTicks is utime+stime+cutime+cstime of /proc/PID/stat.
func statTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may
	// hold blanks: state is field 3, utime 14 … cstime 17.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, v := range f[11:15] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return ticks
}

// children lists the processes pid's threads started that still run.
func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times; 100 on
// every Linux platform Go supports.
const clockTicks = 100

// Ints reads a comma-separated list of whole numbers from lo to hi, the
// value of flag name; what says what they count, for the error.
func Ints(name, list string, lo, hi int, what string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("-%s %q: %s must be %d to %d", name, s, what, lo, hi)
		}
		out = append(out, n)
	}
	return out, nil
}
