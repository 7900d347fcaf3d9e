package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"selfprov/admin"
	"selfprov/internal/testkit"
)

// callRig is a selfprovd started with testdata/calls/selfprovd.yaml, for
// real clients to call each other through.
type callRig struct {
	r      *daemonRun
	api    *apiClient
	sip    string // selfprovd's SIP address, UDP and TCP
	sipTLS string // its SIP over TLS address, when started with TLS
	caFile string // the certificate of that listener (self-signed)
}

func startCallRig(t *testing.T) *callRig { return startCallRigTLS(t, false) }

// startCallRigTLS starts the rig, with a SIP over TLS listener too when
// withTLS is set.
func startCallRigTLS(t *testing.T, withTLS bool) *callRig {
	t.Helper()
	dataDir := t.TempDir()
	cfg, err := filepath.Abs(filepath.Join("testdata", "calls", "selfprovd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var certFile string
	var tlsFlags []string
	if withTLS {
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var keyFile string
		certFile, keyFile = writeCert(t, t.TempDir())
		cfg = filepath.Join(t.TempDir(), "selfprovd.yaml")
		b = append(b, "\ntls:\n  cert: "+certFile+"\n  key: "+keyFile+"\n"...)
		if err := os.WriteFile(cfg, b, 0o600); err != nil {
			t.Fatal(err)
		}
		tlsFlags = []string{"-listen.sip-tls", "127.0.0.1:0"}
	}
	r := startDaemon(t, append(loopbackFlags(dataDir), append([]string{"-config", cfg, "-log.level", "info"}, tlsFlags...)...)...)
	token, err := os.ReadFile(filepath.Join(dataDir, admin.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("selfprovd log:\n%s", tailString(r.stderr.String(), 6000))
		}
	})
	return &callRig{r: r, sip: r.addrs.SIP, sipTLS: r.addrs.SIPTLS, caFile: certFile, api: &apiClient{base: "http://" + r.addrs.Admin + "/api/v1",
		token: strings.TrimSpace(string(token)), hc: &http.Client{Timeout: 10 * time.Second}}}
}

// addPhone adds user with the primary extension dn and a phone SEP<mac>
// of model owned by them (quick add, "Lab Users"): the line gets the User
// Line Template. It returns the device name.
func (c *callRig) addPhone(t *testing.T, user, dn, mac string, model int) string {
	t.Helper()
	body := fmt.Sprintf(`{"user":{"userId":%q,"lastName":%q,"primaryExtension":%q},"featureGroupTemplate":"Lab Users","deviceMAC":%q,"deviceModel":%d}`,
		user, user, dn, mac, model)
	var res struct {
		Device struct {
			Name  string
			Lines []struct{ DN string }
		}
	}
	if code, data := c.api.post(t, "/quick-add", body, &res); code != http.StatusCreated {
		t.Fatalf("quick add %s: %d %s", user, code, data)
	}
	if res.Device.Name != "SEP"+mac || len(res.Device.Lines) != 1 || res.Device.Lines[0].DN != dn {
		t.Fatalf("quick add %s gave %+v", user, res.Device)
	}
	return res.Device.Name
}

// post sends a JSON body to the admin API and decodes a 2xx answer into
// out; it returns the status and the body.
func (c *apiClient) post(t *testing.T, path, body string, out any) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 == 2 && out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("POST %s: %v\n%s", path, err, data)
		}
	}
	return resp.StatusCode, data
}

// waitRegistered waits for a binding of the device over transport ("udp",
// "tcp" or "tls"); more says what the client printed if it does not come.
func (c *callRig) waitRegistered(t *testing.T, device, transport string, more ...func() string) admin.Registration {
	t.Helper()
	var found admin.Registration
	testkit.WaitWithin(t, 10*time.Second, device+" registered over "+transport, func() bool {
		var regs struct{ Items []admin.Registration }
		c.api.get(t, "/registrations?prefix="+device, &regs)
		for _, b := range regs.Items {
			if b.DeviceName == device && b.Transport == transport {
				found = b
				return true
			}
		}
		return false
	}, more...)
	return found
}

var callsTotal = regexp.MustCompile(`(?m)^selfprov_sip_calls_total\{outcome="([a-z_]+)"\} ([0-9.e+]+)$`)

// outcomes reads selfprov_sip_calls_total by outcome.
func (c *callRig) outcomes(t *testing.T) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for _, g := range callsTotal.FindAllStringSubmatch(scrapeText(t, c.api.hc, "http://"+c.r.addrs.Admin), -1) {
		m[g[1]], _ = strconv.ParseFloat(g[2], 64)
	}
	return m
}

// counts returns a check that the calls made since counted one call of
// outcome and none of any other.
func (c *callRig) counts(t *testing.T, outcome string) func() {
	t.Helper()
	before := c.outcomes(t)
	return func() {
		t.Helper()
		var now map[string]float64
		testkit.WaitFor(t, "the call counted as "+outcome, func() bool {
			now = c.outcomes(t)
			return now[outcome] == before[outcome]+1
		})
		for o, n := range now {
			if o != outcome && n != before[o] {
				t.Errorf("calls counted as %s went from %v to %v", o, before[o], n)
			}
		}
	}
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// ---- baresip as a phone that calls and answers ----

// callPhone is a baresip registered as one line, driven through its
// ctrl_tcp socket (the menu's commands) and watched through the events it
// sends there and its SIP trace (-s) on stdout.
type callPhone struct {
	user, transport string
	proxy, listen   string // selfprovd's SIP address and baresip's, to tell sent from received
	cmd             *exec.Cmd
	out             *testkit.SyncBuffer
	done            chan struct{}
	ctrl            net.Conn

	mu     sync.Mutex
	events []baresipEvent
	token  int
}

// baresipEvent is one ctrl_tcp message: an event or a command's response.
type baresipEvent struct {
	Event    bool   `json:"event"`
	Type     string `json:"type"`
	PeerURI  string `json:"peeruri"`
	Param    string `json:"param"`
	Response bool   `json:"response"`
	OK       bool   `json:"ok"`
	Data     string `json:"data"`
	Token    string `json:"token"`
}

// startCallPhone runs baresip registering user at the rig over transport,
// with the Cisco form of the device's MAC as its +sip.instance, so
// selfprovd binds the line to the device SEP<mac>.
func startCallPhone(t *testing.T, bin string, rig *callRig, user, mac, transport string) *callPhone {
	t.Helper()
	proxy := rig.sip
	if transport == "tls" {
		proxy = rig.sipTLS
	}
	var ctrl, listen string
	cmd, out, done := launchBaresip(t, bin, user, func(dir string) {
		// SIP on port and port+1 (UDP, TCP, TLS), the control socket on port+2.
		port := testkit.LoopbackPort(t, 3, "udp", "tcp")
		listen, ctrl = "127.0.0.1:"+strconv.Itoa(port), "127.0.0.1:"+strconv.Itoa(port+2)
		fill := strings.NewReplacer("{{LISTEN}}", listen, "{{CTRL}}", ctrl, "{{USER}}", user,
			"{{REGISTRAR}}", proxy, "{{TRANSPORT}}", transport)
		for _, f := range []string{"config", "accounts"} {
			b, err := os.ReadFile(filepath.Join("testdata", "calls", "baresip-"+f))
			if err != nil {
				t.Fatal(err)
			}
			if f == "config" && transport == "tls" {
				// Trust selfprovd's self-signed certificate.
				b = append(b, "sip_cafile\t\t"+rig.caFile+"\n"...)
			}
			if err := os.WriteFile(filepath.Join(dir, f), []byte(fill.Replace(string(b))), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		uuid := "00000000-0000-0000-0000-" + strings.ToLower(mac)
		if err := os.WriteFile(filepath.Join(dir, "uuid"), []byte(uuid), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	p := &callPhone{user: user, transport: transport, proxy: proxy, listen: listen, out: out, done: done, cmd: cmd}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.mu.Lock()
			var evs []string
			for _, ev := range p.events {
				if ev.Event {
					evs = append(evs, ev.Type+"("+ev.Param+")")
				}
			}
			p.mu.Unlock()
			t.Logf("baresip %s (%s) reported %s and said:\n%s", user, transport, strings.Join(evs, " "), tailString(p.out.String(), 8000))
		}
	})
	testkit.WaitWithin(t, 10*time.Second, "baresip "+user+"'s control socket", func() bool {
		select {
		case <-p.done:
			t.Fatalf("baresip %s exited:\n%s", user, p.out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", ctrl, time.Second)
		if err != nil {
			return false
		}
		p.ctrl = c
		return true
	})
	go p.read()
	return p
}

// read collects the netstrings ("<len>:<json>,") baresip sends on ctrl.
func (p *callPhone) read() {
	r := bufio.NewReader(p.ctrl)
	for {
		n, err := r.ReadString(':')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(n[:len(n)-1])
		if err != nil || size > 1<<20 {
			return
		}
		msg := make([]byte, size+1)
		if _, err := io.ReadFull(r, msg); err != nil || msg[size] != ',' {
			return
		}
		var ev baresipEvent
		if json.Unmarshal(msg[:size], &ev) == nil {
			p.mu.Lock()
			p.events = append(p.events, ev)
			p.mu.Unlock()
		}
	}
}

// command runs a menu command through ctrl_tcp and fails unless baresip
// answers it ok.
func (p *callPhone) command(t *testing.T, command, params string) {
	t.Helper()
	p.mu.Lock()
	p.token++
	token := "t" + strconv.Itoa(p.token)
	p.mu.Unlock()
	b, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": token})
	if _, err := fmt.Fprintf(p.ctrl, "%d:%s,", len(b), b); err != nil {
		t.Fatalf("baresip %s: %s: %v", p.user, command, err)
	}
	var res baresipEvent
	testkit.WaitWithin(t, 5*time.Second, "baresip "+p.user+" to answer "+command, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, ev := range p.events {
			if ev.Response && ev.Token == token {
				res = ev
				return true
			}
		}
		return false
	})
	if !res.OK {
		t.Fatalf("baresip %s: %s %s: %s", p.user, command, params, res.Data)
	}
}

// clearEvents forgets the events so far, so that waitEvent sees only the
// next call's.
func (p *callPhone) clearEvents() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = p.events[:0]
}

// waitEvent waits for a call event of the type and returns it. A call
// closed before the event came fails at once, with baresip's reason.
func (p *callPhone) waitEvent(t *testing.T, typ string) baresipEvent {
	t.Helper()
	var got, closed baresipEvent
	testkit.WaitWithin(t, 8*time.Second, "baresip "+p.user+" to report "+typ, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, ev := range p.events {
			switch {
			case ev.Event && ev.Type == typ:
				got = ev
				return true
			case ev.Event && ev.Type == "CALL_CLOSED":
				closed = ev
				return true
			}
		}
		return false
	})
	if got.Type == "" {
		t.Fatalf("baresip %s: the call closed (%s) before %s", p.user, closed.Param, typ)
	}
	return got
}

// stop asks baresip to quit and kills it if it has not within 5 s.
func (p *callPhone) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	if p.ctrl != nil {
		p.ctrl.Close()
	}
}

// sipMsg is one message of baresip's SIP trace.
type sipMsg struct {
	received bool // by baresip, not sent
	src, dst string
	start    string // request or status line
	text     string
}

// header returns the first value of a header of m ("" when absent).
func (m sipMsg) header(name string) string { return sipHeader(m.text, name) }

// sipHeader returns the first value of a header in a message's text.
func sipHeader(text, name string) string {
	for _, l := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(strings.TrimSuffix(v, "\r"))
		}
	}
	return ""
}

// traceEntry matches one message of baresip -s: a coloured "#", the
// transport and addresses, the message, the colour reset.
var traceEntry = regexp.MustCompile(`(?s)#\r?\n(UDP|TCP|TLS) (\S+) -> (\S+)\r?\n(.*?)\x1b\[;m`)

// trace parses what baresip has printed of its SIP messages.
func (p *callPhone) trace() []sipMsg {
	var msgs []sipMsg
	for _, m := range traceEntry.FindAllStringSubmatch(p.out.String(), -1) {
		text := strings.ReplaceAll(m[4], "\r", "")
		start, _, _ := strings.Cut(text, "\n")
		// Received: from selfprovd's address (over baresip's own
		// connection or UDP), or to baresip's listening address (over a
		// connection selfprovd opened).
		msgs = append(msgs, sipMsg{received: m[2] == p.proxy || m[3] == p.listen, src: m[2], dst: m[3], start: start, text: text})
	}
	return msgs
}

// saw reports whether baresip sent (received false) or received, as its
// from-th message or later, a message whose start line begins with start
// and whose CSeq method is method.
func (p *callPhone) saw(from int, received bool, start, method string) (sipMsg, bool) {
	msgs := p.trace()
	for _, m := range msgs[min(from, len(msgs)):] {
		if m.received == received && strings.HasPrefix(m.start, start) && strings.HasSuffix(m.header("CSeq"), " "+method) {
			return m, true
		}
	}
	return sipMsg{}, false
}

// waitSaw waits for such a message in the trace.
func (p *callPhone) waitSaw(t *testing.T, received bool, start, method string) sipMsg {
	t.Helper()
	return p.waitSawFrom(t, 0, received, start, method)
}

// waitSawFrom waits for such a message from the from-th on.
func (p *callPhone) waitSawFrom(t *testing.T, from int, received bool, start, method string) sipMsg {
	t.Helper()
	dir := "send"
	if received {
		dir = "receive"
	}
	var m sipMsg
	testkit.WaitWithin(t, 8*time.Second, fmt.Sprintf("baresip %s to %s %q (%s)", p.user, dir, start, method), func() bool {
		var ok bool
		m, ok = p.saw(from, received, start, method)
		return ok
	})
	return m
}

// TestInteropCallBaresip: two real baresip phones, each registered as the
// line of its own device, call each other through selfprovd and hang up,
// over UDP, TCP and mixed. The callee rings (180 at the caller), answers
// at once (answermode=auto), both see the call up (200 and ACK on both
// legs, CALL_ESTABLISHED on both sides), one side hangs up and the BYE and
// its 200 are relayed to and from the other.
func TestInteropCallBaresip(t *testing.T) {
	bin := testkit.Peer(t, "baresip", "baresip-core")
	rig := startCallRig(t)
	for i, c := range []struct {
		name           string
		caller, callee string // transports
		callerHangsUp  bool
	}{
		{"UDP", "udp", "udp", true},
		{"TCP", "tcp", "tcp", false},
		{"UDP-to-TCP", "udp", "tcp", true},
		{"TCP-to-UDP", "tcp", "udp", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			baresipCall(t, bin, rig, i, c.caller, c.callee, c.callerHangsUp)
		})
	}
}

// baresipCall runs one call between two new baresip phones on lines
// 31<i>1 and 31<i>2 registered over the transports given; the caller or
// the callee hangs up.
func baresipCall(t *testing.T, bin string, rig *callRig, i int, callerTr, calleeTr string, callerHangsUp bool) {
	dnA, dnB := fmt.Sprintf("31%d1", i), fmt.Sprintf("31%d2", i)
	macA, macB := fmt.Sprintf("0A0B0C0D%02X01", i), fmt.Sprintf("0A0B0C0D%02X02", i)
	devA := rig.addPhone(t, "caller"+dnA, dnA, macA, 374)
	devB := rig.addPhone(t, "callee"+dnB, dnB, macB, 374)
	a := startCallPhone(t, bin, rig, dnA, macA, callerTr)
	b := startCallPhone(t, bin, rig, dnB, macB, calleeTr)
	rig.waitRegistered(t, devA, callerTr)
	rig.waitRegistered(t, devB, calleeTr)
	a.waitSaw(t, true, "SIP/2.0 200", "REGISTER")
	b.waitSaw(t, true, "SIP/2.0 200", "REGISTER")

	// baresip adds the account's transport to the URI.
	a.command(t, "dial", "sip:"+dnB+"@"+rig.sip)
	// The caller first: a refusal ends its call at once. A phone that
	// answers by itself reports no CALL_INCOMING, only the call up; the
	// ringing is checked on the wire below, as CALL_RINGING depends on the
	// 180 arriving before the 200.
	a.waitEvent(t, "CALL_ESTABLISHED")
	if in := b.waitEvent(t, "CALL_ESTABLISHED"); !strings.Contains(in.PeerURI, "sip:"+dnA+"@") {
		t.Errorf("the callee has the call up with %q, want %s", in.PeerURI, dnA)
	}

	// The call is up on both legs, through selfprovd.
	inv := b.waitSaw(t, true, "INVITE ", "INVITE")
	if rr := inv.header("Record-Route"); !strings.Contains(rr, "lr") {
		t.Errorf("the INVITE reached the callee without selfprovd's Record-Route: %q", rr)
	}
	if calleeTr == "tcp" && inv.src != rig.sip {
		// A phone behind NAT is reached only over the connection it
		// registered on.
		t.Errorf("the INVITE reached the callee from %s, not over its registered connection to %s", inv.src, rig.sip)
	}
	b.waitSaw(t, false, "SIP/2.0 180", "INVITE")
	b.waitSaw(t, false, "SIP/2.0 200", "INVITE")
	a.waitSaw(t, true, "SIP/2.0 180", "INVITE")
	a.waitSaw(t, true, "SIP/2.0 200", "INVITE")
	a.waitSaw(t, false, "ACK ", "ACK")
	b.waitSaw(t, true, "ACK ", "ACK")

	// The admin API lists the call, up, between the two lines' devices
	// while it lasts.
	callID := inv.header("Call-ID")
	want := activeCall{CallID: callID, State: "up", Calling: callParty{devA, dnA}, Called: callParty{devB, dnB}}
	var listed []activeCall
	testkit.WaitFor(t, "GET /calls to list the call "+callID+" up", func() bool {
		listed = rig.calls(t)
		return slices.Contains(listed, want)
	})

	// The callee puts the call on hold: its re-INVITE (sendonly) goes the
	// other way along the route set, to the caller, and is answered and
	// ACKed through selfprovd.
	b.command(t, "hold", "")
	hold := b.waitSaw(t, false, "INVITE ", "INVITE")
	if !strings.Contains(hold.text, "a=sendonly") {
		t.Errorf("the callee's hold re-INVITE offers no a=sendonly:\n%s", hold.text)
	}
	if hold.header("Route") == "" {
		t.Errorf("the callee's re-INVITE carries no Route (selfprovd's Record-Route):\n%s", hold.text)
	}
	a.waitSaw(t, true, "INVITE ", "INVITE")
	a.waitSaw(t, false, "SIP/2.0 200", "INVITE")
	b.waitSaw(t, true, "SIP/2.0 200", "INVITE")
	b.waitSaw(t, false, "ACK ", "ACK")
	a.waitSaw(t, true, "ACK ", "ACK")

	hangs, other := a, b
	if !callerHangsUp {
		hangs, other = b, a
	}
	hangs.command(t, "hangup", "")
	hangs.waitEvent(t, "CALL_CLOSED")
	other.waitEvent(t, "CALL_CLOSED")
	hangs.waitSaw(t, false, "BYE ", "BYE")
	other.waitSaw(t, true, "BYE ", "BYE")
	other.waitSaw(t, false, "SIP/2.0 200", "BYE")
	hangs.waitSaw(t, true, "SIP/2.0 200", "BYE")
	testkit.WaitFor(t, "GET /calls to drop the call "+callID, func() bool {
		return !slices.ContainsFunc(rig.calls(t), func(c activeCall) bool { return c.CallID == callID })
	})
}

// activeCall is what GET /calls shows of a call, times aside.
type activeCall struct {
	CallID          string `json:"callId"`
	State           string `json:"state"`
	Calling, Called callParty
}

type callParty struct{ Device, DN string }

// calls lists the calls in progress through the admin API.
func (c *callRig) calls(t *testing.T) []activeCall {
	t.Helper()
	var res struct{ Items []activeCall }
	if code := c.api.get(t, "/calls", &res); code != http.StatusOK {
		t.Fatalf("GET /calls: %d", code)
	}
	return res.Items
}

// ---- SIPp phones ----

// sippPhone is one sipp process running a scenario of testdata/calls.
type sippPhone struct {
	name string
	dir  string
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
}

// startSipp runs scenario (a file of testdata/calls, {{STATUS}} replaced
// by status when given) for one call against the rig over transport, from
// its own loopback port, with the keys. cid makes the Call-ID: phones
// given the same one share it (see the scenarios).
func startSipp(t *testing.T, rig *callRig, scenario, transport, cid string, status int, keys ...string) *sippPhone {
	t.Helper()
	bin := testkit.Peer(t, "sipp", "sip-tester")
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "calls", scenario))
	if err != nil {
		t.Fatal(err)
	}
	sf := filepath.Join(dir, scenario)
	if err := os.WriteFile(sf, []byte(strings.ReplaceAll(string(b), "{{STATUS}}", strconv.Itoa(status))), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(freeSIPPort(t))
	args := []string{rig.sip, "-sf", sf, "-m", "1", "-t", map[string]string{"udp": "u1", "tcp": "t1"}[transport],
		"-i", "127.0.0.1", "-p", port, "-nostdin", "-timeout", "15s", "-recv_timeout", "8s", "-cid_str", cid + "-%u",
		"-trace_msg", "-message_file", filepath.Join(dir, "messages.log"),
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log")}
	for i := 0; i+1 < len(keys); i += 2 {
		args = append(args, "-key", keys[i], keys[i+1])
	}
	p := &sippPhone{name: scenario, dir: dir, cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// messages is sipp's message trace so far.
func (p *sippPhone) messages() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "messages.log"))
	return string(b)
}

func (p *sippPhone) said() string {
	errs, _ := os.ReadFile(filepath.Join(p.dir, "errors.log"))
	return fmt.Sprintf("sipp %s errors:\n%s\nmessages:\n%s", p.name, errs, tailString(p.messages(), 12000))
}

// wait waits for sipp to finish its one call and fails with its trace
// unless the call went as the scenario says.
func (p *sippPhone) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("sipp %s: %v\n%s", p.name, err, p.said())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("sipp %s did not finish within 20 s\n%s", p.name, p.said())
	}
}

// sippKeys are the keys of a Cisco phone SEP<mac> on line dn.
func sippKeys(dn, mac string, more ...string) []string {
	return append([]string{"dn", dn, "mac", strings.ToLower(mac), "MAC", strings.ToUpper(mac)}, more...)
}

// TestInteropCallSipp: SIPp phones call each other through selfprovd.
// Each phone is a device of its own, registered by its scenario over the
// socket or connection it then calls or answers on; the callee registers
// before the caller starts.
func TestInteropCallSipp(t *testing.T) {
	testkit.Peer(t, "sipp", "sip-tester")
	rig := startCallRig(t)
	n := 0
	// pair starts a callee running uas and, once it is registered, a
	// caller running uac over its own transport ("udp" or "tcp", or
	// "udp-tcp": the caller on UDP, the callee on TCP).
	pair := func(t *testing.T, transport, uac, uas string) (*sippPhone, *sippPhone) {
		n++
		trA, trB, ok := strings.Cut(transport, "-")
		if !ok {
			trB = trA
		}
		dnA, dnB := fmt.Sprintf("32%02d1", n), fmt.Sprintf("32%02d2", n)
		macA, macB := fmt.Sprintf("0A0B0C0E%02X01", n), fmt.Sprintf("0A0B0C0E%02X02", n)
		rig.addPhone(t, "uac"+dnA, dnA, macA, 36224)
		devB := rig.addPhone(t, "uas"+dnB, dnB, macB, 36224)
		cid := fmt.Sprintf("call%d-%d", n, time.Now().UnixNano())
		b := startSipp(t, rig, uas, trB, cid, 0, sippKeys(dnB, macB)...)
		rig.waitRegistered(t, devB, trB, b.said)
		a := startSipp(t, rig, uac, trA, cid, 0, sippKeys(dnA, macA, "callee", dnB)...)
		return a, b
	}
	for _, tr := range []string{"udp", "tcp", "udp-tcp", "tcp-udp"} {
		t.Run("answer-"+tr, func(t *testing.T) {
			counted := rig.counts(t, "answered")
			a, b := pair(t, tr, "uac-call.xml", "uas-answer.xml")
			a.wait(t)
			b.wait(t)
			counted()
		})
	}
	for _, tr := range []string{"udp", "tcp"} {
		t.Run("cancel-"+tr, func(t *testing.T) {
			counted := rig.counts(t, "cancelled")
			a, b := pair(t, tr, "uac-cancel.xml", "uas-cancel.xml")
			a.wait(t)
			b.wait(t)
			counted()
		})
	}
	t.Run("info-update", func(t *testing.T) {
		counted := rig.counts(t, "answered")
		a, b := pair(t, "tcp-udp", "uac-midcall.xml", "uas-midcall.xml")
		a.wait(t)
		b.wait(t)
		counted()
	})
	t.Run("prack", func(t *testing.T) {
		counted := rig.counts(t, "answered")
		a, b := pair(t, "udp", "uac-prack.xml", "uas-prack.xml")
		a.wait(t)
		b.wait(t)
		counted()
	})
	t.Run("reinvite", func(t *testing.T) {
		counted := rig.counts(t, "answered")
		a, b := pair(t, "udp", "uac-reinvite.xml", "uas-reinvite.xml")
		a.wait(t)
		b.wait(t)
		counted()
	})

	// register runs a registration scenario to its end; the binding stays
	// (UDP, no unregistration) for calls from the same address.
	register := func(t *testing.T, scenario, dn, mac string) {
		p := startSipp(t, rig, scenario, "udp", fmt.Sprintf("reg%s-%d", mac, time.Now().UnixNano()), 0, sippKeys(dn, mac)...)
		p.wait(t)
		rig.waitRegistered(t, "SEP"+strings.ToUpper(mac), "udp", p.said)
	}
	// refused runs a call that selfprovd must refuse with status and, when
	// code is set, a Warning naming it.
	refused := func(t *testing.T, from, callee string, status int, code, outcome string) {
		counted := rig.counts(t, outcome)
		p := startSipp(t, rig, "uac-refused.xml", "udp", fmt.Sprintf("refused%d-%d", status, time.Now().UnixNano()), status,
			"from", from, "callee", callee)
		p.wait(t)
		counted()
		if code == "" {
			return
		}
		msgs := strings.ReplaceAll(p.messages(), "\r", "")
		i := strings.Index(msgs, "SIP/2.0 "+strconv.Itoa(status))
		if i < 0 {
			t.Fatalf("no %d in the trace:\n%s", status, msgs)
		}
		res, _, _ := strings.Cut(msgs[i:], "\n\n")
		if w := sipHeader(res, "Warning"); !strings.Contains(w, `"`+code) {
			t.Errorf("the %d has Warning %q, want one with %s:\n%s", status, w, code, res)
		}
	}
	// A user's phone (CSS Internal) on 3301, registered; one on 3302 that
	// never registers.
	rig.addPhone(t, "reached3301", "3301", "0A0B0C0F0001", 36224)
	rig.addPhone(t, "absent3302", "3302", "0A0B0C0F0002", 36224)
	register(t, "register.xml", "3301", "0A0B0C0F0001")

	t.Run("outside-css", func(t *testing.T) {
		// An auto-registered phone reaches only the <None> partition, not
		// a user's line.
		const mac = "0A0B0C0F0003"
		register(t, "register-auto.xml", "SEP"+mac, mac)
		refused(t, "SEP"+mac, "3301", 404, "DN_NOT_FOUND", "not_found")
	})
	t.Run("no-device-registered", func(t *testing.T) {
		refused(t, "3301", "3302", 480, "", "unavailable")
	})
	t.Run("caller-not-registered", func(t *testing.T) {
		// 3302's phone is not registered: the call is not relayed even to
		// a line it could reach.
		refused(t, "3302", "3301", 403, "CALLER_NOT_REGISTERED", "forbidden")
	})
	t.Run("callee-connection-gone", func(t *testing.T) {
		// A phone registered over TCP is switched off without
		// unregistering: its binding outlives its connection. The branch
		// fails at once, as a 503 (RFC 3261 16.9), rather than ringing
		// nowhere.
		const mac = "0A0B0C0F0005"
		dev := rig.addPhone(t, "gone3304", "3304", mac, 36224)
		p := startSipp(t, rig, "register.xml", "tcp", fmt.Sprintf("gone-%d", time.Now().UnixNano()), 0, sippKeys("3304", mac)...)
		p.wait(t)
		rig.waitRegistered(t, dev, "tcp", p.said)
		refused(t, "3301", "3304", 503, "", "failed")
	})
	t.Run("busy", func(t *testing.T) {
		// The callee's 486 is relayed to the caller (3301's phone).
		const mac = "0A0B0C0F0004"
		dev := rig.addPhone(t, "busy3303", "3303", mac, 36224)
		cid := fmt.Sprintf("busy-%d", time.Now().UnixNano())
		b := startSipp(t, rig, "uas-busy.xml", "udp", cid, 0, sippKeys("3303", mac)...)
		rig.waitRegistered(t, dev, "udp", b.said)
		counted := rig.counts(t, "busy")
		a := startSipp(t, rig, "uac-refused.xml", "udp", cid, 486, "from", "3301", "callee", "3303")
		a.wait(t)
		b.wait(t)
		counted()
	})
	t.Run("shared-line", func(t *testing.T) {
		// 3402 is on two phones: both get the INVITE, the first answers
		// and the other is CANCELled (it rings silently, with 100 only, so
		// the caller's scenario sees one 180).
		const macA, mac1, mac2 = "0A0B0C0F0011", "0A0B0C0F0012", "0A0B0C0F0013"
		rig.addPhone(t, "caller3401", "3401", macA, 36224)
		dev1 := rig.addPhone(t, "shared3402", "3402", mac1, 36224)
		var d1 struct{ Lines []struct{ Partition string } }
		rig.api.get(t, "/devices/"+dev1, &d1)
		dev2 := "SEP" + mac2
		body := fmt.Sprintf(`{"name":%q,"model":36224,"owner":"shared3402","udt":"Desk Phone Template","lines":[{"button":1,"dn":"3402","partition":%q}]}`, dev2, d1.Lines[0].Partition)
		if code, data := rig.api.post(t, "/devices", body, nil); code != http.StatusCreated {
			t.Fatalf("adding the second phone of 3402: %d %s", code, data)
		}
		cid := fmt.Sprintf("shared-%d", time.Now().UnixNano())
		b1 := startSipp(t, rig, "uas-answer.xml", "udp", cid, 0, sippKeys("3402", mac1)...)
		b2 := startSipp(t, rig, "uas-fork-cancelled.xml", "udp", cid, 0, sippKeys("3402", mac2)...)
		rig.waitRegistered(t, dev1, "udp", b1.said)
		rig.waitRegistered(t, dev2, "udp", b2.said)
		counted := rig.counts(t, "answered")
		a := startSipp(t, rig, "uac-call.xml", "udp", cid, 0, sippKeys("3401", macA, "callee", "3402")...)
		a.wait(t)
		b1.wait(t)
		b2.wait(t)
		counted()
	})
}

// ---- linphonec ----

// linphone is a running linphonec registered as one line, driven on its
// stdin; its console (with -S, the call states) is out, its log (-d 6:
// every SIP message) the file log.
type linphone struct {
	user  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *testkit.SyncBuffer
	log   string
	done  chan struct{}
}

// startLinphone runs linphonec as line user of the device SEP<mac> (its
// +sip.instance), registered at the rig over transport, answering calls
// by itself (-a).
func startLinphone(t *testing.T, bin string, rig *callRig, user, mac, transport string) *linphone {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "calls", "linphonerc"))
	if err != nil {
		t.Fatal(err)
	}
	rc := strings.NewReplacer("{{USER}}", user, "{{REGISTRAR}}", rig.sip, "{{TRANSPORT}}", transport,
		"{{MAC}}", strings.ToLower(mac)).Replace(string(b))
	// linphonec keeps its call history there; without it, it complains.
	if err := os.MkdirAll(filepath.Join(dir, ".local", "share", "linphone"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "linphonerc"), []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	l := &linphone{user: user, out: &testkit.SyncBuffer{}, log: filepath.Join(dir, "log"), done: make(chan struct{}),
		cmd: exec.Command(bin, "-c", filepath.Join(dir, "linphonerc"), "-a", "-S", "-d", "6", "-l", filepath.Join(dir, "log"))}
	l.cmd.Dir = dir
	l.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	l.stdin, err = l.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	l.cmd.Stdout, l.cmd.Stderr = l.out, l.out
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = l.cmd.Wait(); close(l.done) }()
	t.Cleanup(func() {
		_, _ = l.stdin.Write([]byte("quit\n"))
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
			_ = l.cmd.Process.Kill()
			<-l.done
		}
		if t.Failed() {
			log, _ := os.ReadFile(l.log)
			t.Logf("linphonec %s printed:\n%s\nand logged:\n%s", user, tailString(l.out.String(), 4000), tailString(string(log), 20000))
		}
	})
	return l
}

// send writes a command line to linphonec.
func (l *linphone) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(l.stdin, line+"\n"); err != nil {
		t.Fatalf("linphonec %s: %s: %v", l.user, line, err)
	}
}

// waitSays waits for a line of linphonec's console, printed after the
// offset from, that re matches.
func (l *linphone) waitSays(t *testing.T, from int, re *regexp.Regexp) {
	t.Helper()
	testkit.WaitWithin(t, 8*time.Second, fmt.Sprintf("linphonec %s to print %s", l.user, re), func() bool {
		return re.MatchString(l.out.String()[from:])
	})
}

// TestInteropCallLinphonec: real linphonec (belle-sip, over TCP) and
// real baresip (over UDP), each the line of its own device, call each
// other through selfprovd: each call is answered by the callee by itself,
// is up on both sides, and the other side hangs up.
func TestInteropCallLinphonec(t *testing.T) {
	linBin := testkit.Peer(t, "linphonec", "linphone-cli")
	barBin := testkit.Peer(t, "baresip", "baresip-core")
	rig := startCallRig(t)
	const macL, macB = "0A0B0C100001", "0A0B0C100002"
	devL := rig.addPhone(t, "lin3501", "3501", macL, 374)
	devB := rig.addPhone(t, "bar3502", "3502", macB, 374)
	l := startLinphone(t, linBin, rig, "3501", macL, "tcp")
	b := startCallPhone(t, barBin, rig, "3502", macB, "udp")
	rig.waitRegistered(t, devL, "tcp")
	rig.waitRegistered(t, devB, "udp")

	t.Run("linphonec-calls-baresip", func(t *testing.T) {
		from := len(l.out.String())
		l.send(t, "call sip:3502@"+rig.sip)
		if ev := b.waitEvent(t, "CALL_ESTABLISHED"); !strings.Contains(ev.PeerURI, "sip:3501@") {
			t.Errorf("baresip has the call up with %q, want 3501", ev.PeerURI)
		}
		l.waitSays(t, from, regexp.MustCompile(`Call \d+ with \S*3502@\S* connected\.`))
		// linphonec holds and resumes the call: its re-INVITEs go along
		// the route set to baresip, which answers them.
		fromB := len(b.trace())
		l.send(t, "pause")
		l.waitSays(t, from, regexp.MustCompile(`Call \d+ with \S*3502@\S* is now paused\.`))
		hold := b.waitSawFrom(t, fromB, true, "INVITE ", "INVITE")
		if !strings.Contains(hold.text, "a=sendonly") {
			t.Errorf("linphonec's hold re-INVITE reached baresip without a=sendonly:\n%s", hold.text)
		}
		b.waitSawFrom(t, fromB, true, "ACK ", "ACK")
		fromB = len(b.trace())
		l.send(t, "resume")
		// sendrecv, said or not (RFC 4566's default).
		if resume := b.waitSawFrom(t, fromB, true, "INVITE ", "INVITE"); strings.Contains(resume.text, "a=sendonly") || strings.Contains(resume.text, "a=inactive") {
			t.Errorf("linphonec's resume re-INVITE reached baresip still holding:\n%s", resume.text)
		}
		b.waitSawFrom(t, fromB, false, "SIP/2.0 200", "INVITE")
		b.waitSawFrom(t, fromB, true, "ACK ", "ACK")
		b.command(t, "hangup", "")
		b.waitEvent(t, "CALL_CLOSED")
		l.waitSays(t, from, regexp.MustCompile(`Call \d+ with \S*3502@\S* ended`))
	})
	t.Run("baresip-calls-linphonec", func(t *testing.T) {
		from := len(l.out.String())
		b.clearEvents()
		b.command(t, "dial", "sip:3501@"+rig.sip)
		b.waitEvent(t, "CALL_ESTABLISHED")
		l.waitSays(t, from, regexp.MustCompile(`Call \d+ with \S*3502@\S* connected\.`))
		l.send(t, "terminate")
		b.waitEvent(t, "CALL_CLOSED")
		l.waitSays(t, from, regexp.MustCompile(`Call \d+ with \S*3502@\S* ended`))
	})
}

// TestInteropCallBaresipAutoRegistered: two baresip phones that selfprovd
// has never seen register with SEP<MAC> as their AOR and are
// auto-registered, each with a DN of the range in <None>. They call each
// other by those DNs, as a lab engineer checks new extensions; a user's
// line, in Internal, is outside the auto-registration CSS: 404.
func TestInteropCallBaresipAutoRegistered(t *testing.T) {
	bin := testkit.Peer(t, "baresip", "baresip-core")
	rig := startCallRig(t)
	rig.addPhone(t, "user3601", "3601", "0A0B0C110001", 374)
	const macA, macB = "0A0B0C110002", "0A0B0C110003"
	a := startCallPhone(t, bin, rig, "SEP"+macA, macA, "udp")
	b := startCallPhone(t, bin, rig, "SEP"+macB, macB, "tcp")
	rig.waitRegistered(t, "SEP"+macA, "udp")
	rig.waitRegistered(t, "SEP"+macB, "tcp")
	dn := func(name string) string {
		var d struct{ Lines []struct{ DN string } }
		if code := rig.api.get(t, "/devices/"+name, &d); code != http.StatusOK || len(d.Lines) != 1 {
			t.Fatalf("GET /devices/%s: %d %+v", name, code, d)
		}
		return d.Lines[0].DN
	}
	dnA, dnB := dn("SEP"+macA), dn("SEP"+macB)

	a.command(t, "dial", "sip:"+dnB+"@"+rig.sip)
	a.waitEvent(t, "CALL_ESTABLISHED")
	if ev := b.waitEvent(t, "CALL_ESTABLISHED"); !strings.Contains(ev.PeerURI, "sip:SEP"+macA+"@") {
		t.Errorf("the callee (%s) has the call up with %q, want SEP%s", dnB, ev.PeerURI, macA)
	}
	b.waitSaw(t, true, "ACK ", "ACK")
	a.command(t, "hangup", "")
	b.waitEvent(t, "CALL_CLOSED")
	a.waitEvent(t, "CALL_CLOSED")
	t.Logf("SEP%s (%s) called SEP%s (%s)", macA, dnA, macB, dnB)

	b.clearEvents()
	b.command(t, "dial", "sip:3601@"+rig.sip)
	if ev := b.waitEvent(t, "CALL_CLOSED"); !strings.Contains(ev.Param, "404") {
		t.Errorf("a call from an auto-registered phone to a user's line ended with %q, want 404", ev.Param)
	}
	res := b.waitSaw(t, true, "SIP/2.0 404", "INVITE")
	if w := res.header("Warning"); !strings.Contains(w, "DN_NOT_FOUND") {
		t.Errorf("the 404 has Warning %q, want DN_NOT_FOUND", w)
	}
}

// TestInteropCallBaresipTransfer: a blind transfer between real baresip
// phones through selfprovd. 3701 (UDP) calls 3702 (TCP) and transfers it
// to 3703 (UDP): the REFER and its 202, and the NOTIFYs of the transfer's
// progress the other way, are relayed inside the dialog; 3702 calls 3703,
// which answers; 3701 hangs up its leg. Then 3703 hangs up.
func TestInteropCallBaresipTransfer(t *testing.T) {
	bin := testkit.Peer(t, "baresip", "baresip-core")
	rig := startCallRig(t)
	var ps []*callPhone
	for i, tr := range []string{"udp", "tcp", "udp"} {
		dn, mac := fmt.Sprintf("370%d", i+1), fmt.Sprintf("0A0B0C1200%02X", i+1)
		dev := rig.addPhone(t, "transfer"+dn, dn, mac, 374)
		ps = append(ps, startCallPhone(t, bin, rig, dn, mac, tr))
		rig.waitRegistered(t, dev, tr)
	}
	a, b, c := ps[0], ps[1], ps[2]
	a.command(t, "dial", "sip:3702@"+rig.sip)
	a.waitEvent(t, "CALL_ESTABLISHED")
	b.waitEvent(t, "CALL_ESTABLISHED")

	a.command(t, "transfer", "sip:3703@"+rig.sip)
	refer := b.waitSaw(t, true, "REFER ", "REFER")
	if to := refer.header("Refer-To"); !strings.Contains(to, "sip:3703@") {
		t.Errorf("the REFER reached 3702 with Refer-To %q", to)
	}
	a.waitSaw(t, true, "SIP/2.0 202", "REFER")
	a.waitSaw(t, true, "NOTIFY ", "NOTIFY")
	b.waitSaw(t, true, "SIP/2.0 200", "NOTIFY")
	if ev := c.waitEvent(t, "CALL_ESTABLISHED"); !strings.Contains(ev.PeerURI, "sip:3702@") {
		t.Errorf("3703 has the call up with %q, want 3702", ev.PeerURI)
	}
	b.waitSaw(t, true, "SIP/2.0 200", "INVITE")
	c.waitSaw(t, true, "ACK ", "ACK")
	a.waitEvent(t, "CALL_CLOSED")
	b.waitSaw(t, true, "BYE ", "BYE")
	a.waitSaw(t, true, "SIP/2.0 200", "BYE")

	b.clearEvents()
	c.command(t, "hangup", "")
	c.waitEvent(t, "CALL_CLOSED")
	b.waitEvent(t, "CALL_CLOSED")
	c.waitSaw(t, true, "SIP/2.0 200", "BYE")
}

// TestInteropCallBaresipRinging: baresip phones that ring rather than
// answer (answermode manual). The caller hangs up while the callee rings:
// its CANCEL reaches the callee, which answers the INVITE 487, relayed to
// the caller. The callee rejects the next call while it rings: baresip's
// refusal is relayed to the caller. Both counted as such.
func TestInteropCallBaresipRinging(t *testing.T) {
	bin := testkit.Peer(t, "baresip", "baresip-core")
	rig := startCallRig(t)
	devA := rig.addPhone(t, "ringer3801", "3801", "0A0B0C130001", 374)
	devB := rig.addPhone(t, "ringer3802", "3802", "0A0B0C130002", 374)
	a := startCallPhone(t, bin, rig, "3801", "0A0B0C130001", "tcp")
	b := startCallPhone(t, bin, rig, "3802", "0A0B0C130002", "udp")
	rig.waitRegistered(t, devA, "tcp")
	rig.waitRegistered(t, devB, "udp")
	b.command(t, "answermode", "manual")

	t.Run("cancel", func(t *testing.T) {
		counted := rig.counts(t, "cancelled")
		a.command(t, "dial", "sip:3802@"+rig.sip)
		b.waitEvent(t, "CALL_INCOMING")
		a.waitSaw(t, true, "SIP/2.0 180", "INVITE")
		a.command(t, "hangup", "")
		b.waitSaw(t, true, "CANCEL ", "CANCEL")
		b.waitSaw(t, false, "SIP/2.0 487", "INVITE")
		a.waitSaw(t, true, "SIP/2.0 487", "INVITE")
		a.waitEvent(t, "CALL_CLOSED")
		b.waitEvent(t, "CALL_CLOSED")
		counted()
	})
	t.Run("reject", func(t *testing.T) {
		a.clearEvents()
		b.clearEvents()
		// baresip refuses a call it does not take with 486.
		counted := rig.counts(t, "busy")
		fromA, fromB := len(a.trace()), len(b.trace())
		a.command(t, "dial", "sip:3802@"+rig.sip)
		b.waitEvent(t, "CALL_INCOMING")
		b.command(t, "hangup", "")
		refusal := b.waitSawFrom(t, fromB, false, "SIP/2.0 4", "INVITE")
		status := strings.Fields(refusal.start)[1]
		a.waitSawFrom(t, fromA, true, "SIP/2.0 "+status, "INVITE")
		if ev := a.waitEvent(t, "CALL_CLOSED"); !strings.Contains(ev.Param, status) {
			t.Errorf("the caller's call ended with %q, want the callee's %s", ev.Param, refusal.start)
		}
		b.waitEvent(t, "CALL_CLOSED")
		counted()
	})
}

// TestInteropCallBaresipTLS: a baresip phone registered over TLS calls
// one on UDP and is called back, through selfprovd's TLS listener (its
// certificate trusted by the phone): the call is bridged between the
// transports both ways.
func TestInteropCallBaresipTLS(t *testing.T) {
	bin := testkit.Peer(t, "baresip", "baresip-core")
	rig := startCallRigTLS(t, true)
	devA := rig.addPhone(t, "tls3901", "3901", "0A0B0C140001", 374)
	devB := rig.addPhone(t, "udp3902", "3902", "0A0B0C140002", 374)
	a := startCallPhone(t, bin, rig, "3901", "0A0B0C140001", "tls")
	b := startCallPhone(t, bin, rig, "3902", "0A0B0C140002", "udp")
	rig.waitRegistered(t, devA, "tls")
	rig.waitRegistered(t, devB, "udp")
	for _, c := range []struct {
		name           string
		caller, callee *callPhone
		calleeDN       string
	}{{"tls-to-udp", a, b, "3902"}, {"udp-to-tls", b, a, "3901"}} {
		t.Run(c.name, func(t *testing.T) {
			a.clearEvents()
			b.clearEvents()
			from := len(c.callee.trace())
			c.caller.command(t, "dial", "sip:"+c.calleeDN+"@"+c.caller.proxy)
			c.caller.waitEvent(t, "CALL_ESTABLISHED")
			c.callee.waitEvent(t, "CALL_ESTABLISHED")
			if inv := c.callee.waitSawFrom(t, from, true, "INVITE ", "INVITE"); inv.src != c.callee.proxy {
				t.Errorf("the INVITE reached the callee from %s, not over its registered flow to %s", inv.src, c.callee.proxy)
			}
			c.callee.waitSawFrom(t, from, true, "ACK ", "ACK")
			c.callee.command(t, "hangup", "")
			c.caller.waitEvent(t, "CALL_CLOSED")
			c.callee.waitEvent(t, "CALL_CLOSED")
			c.callee.waitSawFrom(t, from, true, "SIP/2.0 200", "BYE")
		})
	}
}
