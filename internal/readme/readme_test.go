package readme_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"selfprov/internal/testkit"
	"selfprov/phonesim/phonesimtest"
)

// section returns the README text under heading, up to the next heading
// of the same level.
func section(t *testing.T, readme []byte, heading string) string {
	t.Helper()
	text := string(readme)
	i := strings.Index(text, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q section", heading)
	}
	text = text[i+len(heading)+2:]
	level := heading[:strings.Index(heading, " ")+1]
	if j := strings.Index(text, "\n"+level); j >= 0 {
		text = text[:j]
	}
	return text
}

// codeBlocks returns the indented blocks of a README section, each as its
// lines without the indent.
func codeBlocks(text string) [][]string {
	var out [][]string
	var cur []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "    ") {
			cur = append(cur, strings.TrimSpace(l))
			continue
		}
		if len(cur) > 0 && strings.TrimSpace(l) == "" {
			continue // a blank line inside a block
		}
		if len(cur) > 0 {
			out = append(out, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// commands returns the commands (indented lines starting with "go run " or
// "curl ") of the README section that starts with heading, up to the next
// heading of the same level.
func commands(t *testing.T, readme []byte, heading string) []string {
	t.Helper()
	text := section(t, readme, heading)
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, "    ") {
			continue
		}
		c := strings.TrimSpace(l)
		if strings.HasPrefix(c, "go run ") || strings.HasPrefix(c, "curl ") {
			out = append(out, c)
		}
	}
	return out
}

// words splits a command line as sh does for the forms the README uses:
// single and double quotes, and $(cat FILE) inside double quotes, read
// from dir.
func words(t *testing.T, line, dir string) []string {
	t.Helper()
	var out []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' && inWord:
			out = append(out, cur.String())
			cur.Reset()
			inWord = false
		case c == ' ':
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				t.Fatalf("unclosed ' in %s", line)
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := strings.IndexByte(line[i+1:], '"')
			if j < 0 {
				t.Fatalf("unclosed \" in %s", line)
			}
			s := line[i+1 : i+1+j]
			for {
				a := strings.Index(s, "$(cat ")
				if a < 0 {
					break
				}
				b := strings.IndexByte(s[a:], ')')
				data, err := os.ReadFile(filepath.Join(dir, s[a+6:a+b]))
				if err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				s = s[:a] + strings.TrimSpace(string(data)) + s[a+b+1:]
			}
			cur.WriteString(s)
			i += j + 1
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// curl does what "curl -s [-H header]... URL" does: a GET, the body out.
func curl(t *testing.T, args []string) string {
	t.Helper()
	var url string
	header := http.Header{}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-s":
		case a == "-H" && i+1 < len(args):
			k, v, _ := strings.Cut(args[i+1], ":")
			header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
			i++
		case strings.HasPrefix(a, "http://") && url == "":
			url = a
		default:
			t.Fatalf("curl option %q: teach this test what it does", a)
		}
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	res, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

type daemon struct {
	TFTP, Config, SIP, Services, Admin string
	logs                               *testkit.SyncBuffer
}

// start runs selfprovd as the README says, in dir, with every port on
// 127.0.0.1 (the services port picked first: idle URLs carry it).
func start(t *testing.T, bin, dir string, args []string) *daemon {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	services := ln.Addr().String()
	ln.Close()
	args = append(args, "-listen.tftp", "127.0.0.1:0", "-listen.config", "127.0.0.1:0", "-listen.sip", "127.0.0.1:0",
		"-listen.services", services, "-listen.admin", "127.0.0.1:0", "-listen.https", "127.0.0.1:0", "-log.json")
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{logs: &testkit.SyncBuffer{}}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		found := false
		for sc.Scan() {
			d.logs.Write(append(sc.Bytes(), '\n'))
			if !found && bytes.Contains(sc.Bytes(), []byte(`"selfprovd serving"`)) {
				found = true
				ready <- json.Unmarshal(sc.Bytes(), d)
			}
		}
		if !found {
			ready <- fmt.Errorf("selfprovd stopped before serving")
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("selfprovd log:\n%s", d.logs.String())
		}
	})
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("%v\n%s", err, d.logs.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("selfprovd did not serve within 90s\n%s", d.logs.String())
	}
	// The JSON log names them in lower case.
	var a struct{ Tftp, Config, Sip, Services, Admin string }
	for _, l := range strings.Split(d.logs.String(), "\n") {
		if strings.Contains(l, `"selfprovd serving"`) {
			json.Unmarshal([]byte(l), &a)
		}
	}
	d.TFTP, d.Config, d.SIP, d.Services, d.Admin = a.Tftp, a.Config, a.Sip, a.Services, a.Admin
	return d
}

// expectation is what the README says a command gives.
type expectation struct {
	prefix string   // the command starts with this
	want   []string // its output holds each
}

// runCmd runs a built command in dir; it must exit 0.
func runCmd(t *testing.T, line, bin, dir string, args []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, b)
	}
	return string(b)
}

// TestFiveMinutes runs the README's walk-through as printed, on a fresh
// data directory, with the README's fixed ports mapped to the test's.
func TestFiveMinutes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs selfprovd and phonesim")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds := commands(t, readme, "## Five minutes with selfprovd")
	expect := []expectation{
		{"go run ./cmd/selfprovd -listen.tftp :6969 -advertise 127.0.0.1", nil},
		{"curl -s http://127.0.0.1:6970/XMLDefault.cnf.xml", []string{"<processNodeName>127.0.0.1</processNodeName>"}},
		{"go run ./cmd/phonesim check -mode boot -mac 001122334455", []string{"PASS SEP001122334455 registered line 1000"}},
		{"curl -s http://127.0.0.1:6970/SEP001122334455.cnf.xml", []string{"<idleURL>http://127.0.0.1:8080/xps/idle?name=SEP001122334455</idleURL>", "1000"}},
		{"curl -s 'http://127.0.0.1:8080/xps/idle?name=SEP001122334455'", []string{"CiscoIPPhoneInput", "<URL>http://127.0.0.1:8080/xps/login?name=SEP001122334455</URL>", "<QueryStringParam>userid</QueryStringParam>", "<QueryStringParam>pin</QueryStringParam>"}},
		{"curl -s 'http://127.0.0.1:8080/xps/login?name=SEP001122334455&userid=alice&pin=12345'", []string{"Provision this phone with extension 2001 for Alice Adams (alice)?", "/xps/confirm?name=SEP001122334455&amp;token="}},
		{"go run ./cmd/phonesim check -mac 001122334455", []string{"GET http://127.0.0.1:8080/xps/idle?name=SEP001122334455", "GET http://127.0.0.1:8080/xps/login?name=SEP001122334455&userid=alice&pin=12345", "GET http://127.0.0.1:8080/xps/confirm?name=SEP001122334455&token=", "PASS SEP001122334455 registered line 2001"}},
		{"curl -s -H \"Authorization: Bearer $(cat data/admin-token)\" http://127.0.0.1:9080/api/v1/devices", []string{`"name": "SEP001122334455"`, `"owner": "alice"`, `"state": "provisioned"`, `"dn": "2001"`}},
	}
	// Then, on the same daemon, the first things to run with phonesim:
	// one phone, and the fleet of 1,000 after their import.
	more := commands(t, readme, "## Simulated phones and benchmarks")
	cmds = append(cmds, more...)
	expect = append(expect,
		expectation{"go run ./cmd/phonesim check -target 127.0.0.1 -tftp 127.0.0.1:6969 -user bob -pin 12345 -extension 2002 -v", []string{"PASS SEP", "registered line 2002", "<CiscoIPPhoneInput>"}},
		expectation{"go run ./cmd/phonesim users -n 1000 -o users.csv", []string{"1000 users (sim00000..sim00999, extensions 3000-3999, PIN 12345) in users.csv"}},
		expectation{"go run ./cmd/selfprovd import -users users.csv", []string{"users.csv: 1000 users created"}},
		expectation{"go run ./cmd/phonesim run -n 1000 -users users.csv -rate 200 -c 2000 -tftp 127.0.0.1:6969 -idle-wait 0", []string{"phones spread over 64 source addresses", "1000 phones, 1000 ok, 0 failed (0 unexpected)"}},
	)
	// Then the bulk import example: its two files, as printed, and the
	// command that imports them.
	bulk := section(t, readme, "## Many users and phones at once")
	var bulkFiles [][2]string // name, content
	for _, b := range codeBlocks(bulk) {
		name := map[string]string{"userId": "users.csv", "deviceName": "phones.csv"}[strings.Split(b[0], ",")[0]]
		if name != "" {
			bulkFiles = append(bulkFiles, [2]string{name, strings.Join(b, "\n") + "\n"})
		}
	}
	if len(bulkFiles) != 2 {
		t.Fatalf("the bulk import example has %d files, want users.csv and phones.csv", len(bulkFiles))
	}
	cmds = append(cmds, commands(t, readme, "## Many users and phones at once")...)
	expect = append(expect, expectation{"go run ./cmd/selfprovd import -users users.csv -phones phones.csv", []string{"users.csv: 2 users created", "phones.csv: 2 phones created"}})
	if len(cmds) != len(expect) {
		t.Fatalf("the walk-through has %d commands, this test knows %d: teach it what each gives\n%s", len(cmds), len(expect), strings.Join(cmds, "\n"))
	}
	selfprovd := phonesimtest.BuildBinary(t, "selfprov/cmd/selfprovd")
	phonesim := phonesimtest.BuildBinary(t, "selfprov/cmd/phonesim")
	dir := t.TempDir() // a fresh clone has no ./data
	var d *daemon
	var ports *strings.Replacer
	for i, c := range cmds {
		if !strings.HasPrefix(c, expect[i].prefix) {
			t.Fatalf("command %d is\n%s\nwant one starting\n%s", i+1, c, expect[i].prefix)
		}
		if i == 0 {
			w := words(t, c, dir)
			if strings.Join(w[:3], " ") != "go run ./cmd/selfprovd" {
				t.Fatalf("the walk-through starts with %s, want the daemon", c)
			}
			d = start(t, selfprovd, dir, w[3:])
			ports = strings.NewReplacer("127.0.0.1:6969", d.TFTP, "127.0.0.1:6970", d.Config, "127.0.0.1:8080", d.Services, "127.0.0.1:9080", d.Admin)
			for _, want := range []string{`"msg":"auto-registration on","dn_range":"1000-1999"`, `"auth_mode":"users"`} {
				if !strings.Contains(d.logs.String(), want) {
					t.Errorf("start-up log lacks %s", want)
				}
			}
			continue
		}
		w := words(t, ports.Replace(c), dir)
		var out string
		switch {
		case w[0] == "curl" && os.Getenv("SELFPROV_INTEROP") == "1":
			// The real curl, through sh, as a reader runs it.
			testkit.Peer(t, "curl", "curl")
			cmd := exec.Command("sh", "-c", ports.Replace(c))
			cmd.Dir = dir
			b, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", c, err)
			}
			out = string(b)
		case w[0] == "curl":
			out = curl(t, w[1:])
		case strings.Join(w[:3], " ") == "go run ./cmd/phonesim":
			// The README's phones find the HTTP mirror on 6970; here it
			// is elsewhere. "phonesim users" talks to nothing.
			args := w[3:]
			if args[0] != "users" {
				args = append(args, "-config", d.Config)
			}
			out = runCmd(t, c, phonesim, dir, args)
		case strings.Join(w[:4], " ") == "go run ./cmd/selfprovd import":
			if strings.Contains(c, "-phones phones.csv") {
				// The example's files, written over the fleet's users.csv.
				for _, f := range bulkFiles {
					if err := os.WriteFile(filepath.Join(dir, f[0]), []byte(f[1]), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The README's daemon serves its admin API on 9080; here it
			// is elsewhere.
			out = runCmd(t, c, selfprovd, dir, append(w[3:], "-admin", d.Admin))
		default:
			t.Fatalf("command %q: teach this test to run it", c)
		}
		// The output is compared in the README's terms.
		back := strings.NewReplacer(d.TFTP, "127.0.0.1:6969", d.Config, "127.0.0.1:6970", d.Services, "127.0.0.1:8080", d.Admin, "127.0.0.1:9080")
		out = back.Replace(out)
		for _, want := range expect[i].want {
			if !strings.Contains(out, want) {
				t.Errorf("step %d: %s\noutput lacks %q:\n%s", i+1, c, want, out)
			}
		}
		if t.Failed() {
			return
		}
		if strings.HasPrefix(c, "go run ./cmd/phonesim run") {
			t.Logf("%s\n%s", c, out)
		}
	}
}
