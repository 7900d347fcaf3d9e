package registrar

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"selfprov/provision"
)

// tortureCase is one message of testdata/torture (see its README).
type tortureCase struct {
	name   string // valid/… or invalid/…
	status int
	allow  bool
	udp    bool   // over UDP only
	msg    string // with placeholders
}

func loadTorture(t testing.TB) []tortureCase {
	t.Helper()
	var out []tortureCase
	for _, kind := range []string{"invalid", "valid"} {
		files, err := filepath.Glob(filepath.Join("testdata", "torture", kind, "*.sip"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no %s torture cases", kind)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			head, msg, ok := strings.Cut(string(data), "---\n")
			if !ok {
				t.Fatalf("%s: no --- line", f)
			}
			c := tortureCase{name: kind + "/" + strings.TrimSuffix(filepath.Base(f), ".sip"), msg: strings.TrimSuffix(msg, "\n")}
			for _, line := range strings.Split(strings.TrimSpace(head), "\n") {
				k, v, _ := strings.Cut(line, ":")
				switch strings.TrimSpace(k) {
				case "status":
					if c.status, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
						t.Fatalf("%s: status %q", f, v)
					}
				case "allow":
					c.allow = strings.TrimSpace(v) == "yes"
				case "over":
					c.udp = strings.TrimSpace(v) == "udp"
				default:
					t.Fatalf("%s: unknown header line %q", f, line)
				}
			}
			if c.status == 0 {
				t.Fatalf("%s: no status", f)
			}
			out = append(out, c)
		}
	}
	return out
}

// render makes the bytes to send.
func (tc tortureCase) render(transport, local, id, mac, base string) []byte {
	m := strings.NewReplacer("$TRANSPORT", transport, "$LOCAL", local, "$ID", id, "$MAC", mac, "$BASE", base).Replace(tc.msg)
	m = strings.ReplaceAll(m, "\n", "\r\n")
	return []byte(strings.ReplaceAll(m, `\x00`, "\x00"))
}

// storeState is what an invalid message must not change: the devices in
// the store and the live bindings.
func storeState(t *testing.T, e *env) string {
	t.Helper()
	ds, err := e.svc.Devices(context.Background(), provision.DeviceFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, d := range ds {
		lines = append(lines, fmt.Sprintf("device %s %s %v", d.Name, d.State, d.Lines))
	}
	for _, b := range e.srv.Bindings() {
		lines = append(lines, fmt.Sprintf("binding %+v", b))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestTortureCorpus sends every message of testdata/torture over UDP and
// TCP: each gets the status its file names, and no invalid one changes the
// store or the bindings.
func TestTortureCorpus(t *testing.T) {
	cases := loadTorture(t)
	for ti, tr := range []string{"UDP", "TCP"} {
		t.Run(tr, func(t *testing.T) {
			e := newEnv(t, envOpt{})
			c := e.dial(t, tr)
			base := mac(0x7500 + ti)
			baseName := "SEP" + strings.ToUpper(base)
			c.register(reg{mac: base})
			if res := c.response(); res.StatusCode != 200 {
				t.Fatalf("baseline REGISTER got %d", res.StatusCode)
			}
			c.answer(c.request(), 200)
			for i, tc := range cases {
				if tc.udp && tr != "UDP" {
					continue
				}
				id := fmt.Sprintf("torture%s%d", strings.ToLower(tr), i)
				m := mac(0x7600 + 100*ti + i)
				before := storeState(t, e)
				c.send(string(tc.render(tr, c.local, id, m, baseName)))
				res := c.answerTo(t, tc.name, "z9hG4bK"+id)
				if res.StatusCode != tc.status {
					t.Errorf("%s: got %d %s (%s), want %d", tc.name, res.StatusCode, res.Reason, header(res, "Warning"), tc.status)
				}
				if tc.allow && header(res, "Allow") == "" {
					t.Errorf("%s: %d without Allow", tc.name, res.StatusCode)
				}
				if strings.HasPrefix(tc.name, "invalid/") {
					if after := storeState(t, e); after != before {
						t.Errorf("%s changed the store or bindings:\nbefore:\n%s\nafter:\n%s", tc.name, before, after)
					}
				}
			}
		})
	}
}

// TestTortureCorpusParses: every corpus message is parsed by the
// registrar's parser, or (over UDP only) is a request whose length alone
// is wrong: what is refused is answered, not dropped as unparsable.
// validate's verdict matches the file's kind for those it decides.
func TestTortureCorpusParses(t *testing.T) {
	p := newParser(16384)
	for _, tc := range loadTorture(t) {
		data := tc.render("UDP", "192.0.2.1:5060", "x", "0a1b2c3d4e5f", "SEP0A1B2C3D4E60")
		msg, err := p.ParseSIP(data)
		if err != nil && tc.udp {
			if badLengthRequest(p, data) == nil {
				t.Errorf("%s: not taken as a request with a bad length: %v", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: not parsed: %v", tc.name, err)
			continue
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			t.Errorf("%s: not a request", tc.name)
			continue
		}
		bad, ok := validate(req)
		if strings.HasPrefix(tc.name, "valid/") && !ok {
			t.Errorf("%s: refused by validate: %d %s", tc.name, bad.status, bad.reason)
		}
		if !ok && bad.status != tc.status {
			t.Errorf("%s: validate answers %d, want %d", tc.name, bad.status, tc.status)
		}
	}
}

// FuzzValidate: whatever the registrar's parser takes, validate never
// panics, and a request it passes has one To, From, Call-ID and CSeq,
// SIP/2.0, a sip or sips Request-URI, token header names, and a CSeq
// method matching the request's.
func FuzzValidate(f *testing.F) {
	for _, tc := range loadTorture(f) {
		f.Add(tc.render("UDP", "192.0.2.1:5060", "x", "0a1b2c3d4e5f", "SEP0A1B2C3D4E60"))
	}
	p := newParser(16384)
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := p.ParseSIP(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		bad, ok := validate(req)
		if !ok {
			if bad.status < 400 || bad.status > 599 || bad.reason == "" {
				t.Fatalf("refusal %+v", bad)
			}
			return
		}
		count := map[string]int{}
		for _, h := range req.Headers() {
			if !isToken(h.Name()) {
				t.Fatalf("passed header name %q", h.Name())
			}
			count[sip.HeaderToLower(h.Name())]++
		}
		for _, n := range []string{"to", "from", "call-id", "cseq"} {
			if count[n] != 1 {
				t.Fatalf("passed with %d %s headers", count[n], n)
			}
		}
		if !strings.EqualFold(req.SipVersion, "SIP/2.0") || !isSIPScheme(req.Recipient.Scheme) {
			t.Fatalf("passed %s %s", req.SipVersion, req.Recipient.Scheme)
		}
		if !strings.EqualFold(string(req.CSeq().MethodName), string(req.Method)) {
			t.Fatalf("passed CSeq %s for %s", req.CSeq().MethodName, req.Method)
		}
		if bytes.Contains([]byte(req.CSeq().Value()), []byte("  ")) {
			t.Fatalf("CSeq %q kept its extra blanks", req.CSeq().Value())
		}
	})
}

// FuzzParseCSeq: a CSeq the parser takes writes back as "<number> <method>"
// and parses again to the same.
func FuzzParseCSeq(f *testing.F) {
	for _, s := range []string{"1 REGISTER", "1  REGISTER", "\t2\tINVITE ", "2147483647 OPTIONS", "2147483648 X", "x REGISTER", "1", " 1 A B", "1 !interesting-Method0123456789_*+`.%indeed'~"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		h, err := parseCSeq(nil, text)
		if err != nil {
			return
		}
		c := h.(*sip.CSeqHeader)
		if c.SeqNo > 1<<31-1 || c.MethodName == "" || strings.ContainsAny(string(c.MethodName), " \t") {
			t.Fatalf("%q parsed to %+v", text, c)
		}
		again, err := parseCSeq(nil, c.Value())
		if err != nil || *again.(*sip.CSeqHeader) != *c {
			t.Fatalf("%q: %q parses again to %v, %v", text, c.Value(), again, err)
		}
	})
}

// answerTo reads until the final answer to the request with this Via
// branch, passing over NOTIFYs of earlier cases; it fails naming what
// after 5 s.
func (c *client) answerTo(t *testing.T, what, branch string) *sip.Response {
	t.Helper()
	for {
		m, err := c.tryRead(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: no answer: %v", what, err)
		}
		res, ok := m.(*sip.Response)
		if !ok || res.StatusCode < 200 || res.Via() == nil {
			continue
		}
		if b, _ := res.Via().Params.Get("branch"); b == branch {
			return res
		}
	}
}

// ciscoRegister is a full Cisco REGISTER as a phone sends it.
func ciscoRegister() []byte {
	m := "0a1b2c3d4e5f"
	return []byte("REGISTER sip:127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.23:5060;branch=z9hG4bK" + m + "\r\n" +
		"From: <sip:1000@127.0.0.1>;tag=" + m + "00020000a1b2-00003c4d\r\n" +
		"To: <sip:1000@127.0.0.1>\r\n" +
		"Call-ID: " + m[:8] + "-" + m[8:] + "0002-00001a2b-00003c4d@192.0.2.23\r\n" +
		"Max-Forwards: 70\r\n" +
		"Date: Wed, 02 Dec 2026 06:00:00 GMT\r\n" +
		"CSeq: 101 REGISTER\r\n" +
		"User-Agent: Cisco-CP8845/14.2.1\r\n" +
		`Contact: <sip:6c1f0b52-2d4e-4c1b-9a51-0f3e8d2a7b11@192.0.2.23:5060;transport=udp>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-` + m + `>";+u.sip!devicename.ccm.cisco.com="SEP0A1B2C3D4E5F";+u.sip!model.ccm.cisco.com="36224"` + "\r\n" +
		"Supported: replaces,join,sdp-anat,norefersub,resource-priority,extended-refer,X-cisco-callinfo,X-cisco-serviceuri,X-cisco-escapecodes,X-cisco-service-control,X-cisco-srtp-fallback,X-cisco-monrec,X-cisco-config,X-cisco-sis-7.0.0,X-cisco-xsi-8.5.1\r\n" +
		"Reason: SIP;cause=200;text=\"cisco-alarm:14 Name=SEP0A1B2C3D4E5F Load=sip8845_65.14-2-1 Last=initialized\"\r\n" +
		"Expires: 3600\r\n" +
		"Content-Length: 0\r\n\r\n")
}

// BenchmarkValidate is validate's cost on a full Cisco REGISTER; compare
// BenchmarkParseRegister, the parse every request already pays.
func BenchmarkValidate(b *testing.B) {
	msg, err := newParser(16384).ParseSIP(ciscoRegister())
	if err != nil {
		b.Fatal(err)
	}
	req := msg.(*sip.Request)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := validate(req); !ok {
			b.Fatal("refused")
		}
	}
}

// BenchmarkParseRegister is the registrar's parse of a full Cisco REGISTER.
func BenchmarkParseRegister(b *testing.B) {
	p := newParser(16384)
	data := ciscoRegister()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.ParseSIP(data); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzBadLengthRequest: the fallback for datagrams the parser refuses
// never panics, and what it returns is a request with no body, its
// Content-Length set aside, found only where data had one.
func FuzzBadLengthRequest(f *testing.F) {
	for _, tc := range loadTorture(f) {
		f.Add(tc.render("UDP", "192.0.2.1:5060", "x", "0a1b2c3d4e5f", "SEP0A1B2C3D4E60"))
	}
	p := newParser(16384)
	f.Fuzz(func(t *testing.T, data []byte) {
		req := badLengthRequest(p, data)
		if req == nil {
			return
		}
		head, _, ok := bytes.Cut(data, []byte("\r\n\r\n"))
		if !ok || !bytes.Contains(bytes.ToLower(head), []byte("\r\ncontent-length")) && !bytes.Contains(bytes.ToLower(head), []byte("\r\nl")) {
			t.Fatalf("a request from data without a Content-Length: %q", data)
		}
		if len(req.Body()) != 0 || len(req.GetHeaders("Content-Length")) != 1 || req.ContentLength() == nil || *req.ContentLength() != 0 {
			t.Fatalf("request %q", req.String())
		}
	})
}
