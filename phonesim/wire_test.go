package phonesim

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestRegisterShape(t *testing.T) {
	mac, _ := ParseMAC("00:11:22:AA:BB:CC")
	r := registerRequest{
		Registrar: "192.0.2.10:5060", AOR: "1001", ContactUser: "6c1f0b52-2d4e-4c1b-9a51-0f3e8d2a7b11",
		Local: "192.0.2.23:51234", Transport: "TCP", Branch: "z9hG4bK3a7c", CallID: callID(mac, 2, "192.0.2.23"),
		FromTag: fromTag(mac), CSeq: 101, Expires: 3600, MAC: mac, Device: mac.DeviceName(), Model: Models["8845"],
		Reason: "initialized",
	}
	b := r.bytes()
	msg, err := sip.ParseMessage(b)
	if err != nil {
		t.Fatalf("sipgo cannot parse our REGISTER: %v\n%s", err, b)
	}
	req := msg.(*sip.Request)
	for _, want := range []string{
		"REGISTER sip:192.0.2.10:5060 SIP/2.0\r\n",
		"Via: SIP/2.0/TCP 192.0.2.23:51234;branch=z9hG4bK3a7c;rport\r\n",
		"From: <sip:1001@192.0.2.10>;tag=001122aabbcc",
		"To: <sip:1001@192.0.2.10>\r\n",
		"Call-ID: 001122aa-bbcc0002-",
		"CSeq: 101 REGISTER\r\n",
		"User-Agent: Cisco-CP8845/14.2.1\r\n",
		`Contact: <sip:6c1f0b52-2d4e-4c1b-9a51-0f3e8d2a7b11@192.0.2.23:51234;transport=tcp>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-001122aabbcc>";+u.sip!devicename.ccm.cisco.com="SEP001122AABBCC";+u.sip!model.ccm.cisco.com="36224"` + "\r\n",
		"X-cisco-service-control",
		`Reason: SIP;cause=200;text="cisco-alarm:14 Name=SEP001122AABBCC Load=sip8845_65.14-2-1-0201-10 Last=initialized"`,
		"Expires: 3600\r\n",
		"Content-Length: 0\r\n\r\n",
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("REGISTER lacks %q:\n%s", want, b)
		}
	}
	if !strings.HasSuffix(req.CallID().Value(), "@192.0.2.23") {
		t.Errorf("Call-ID %q should end in @<phone ip>", req.CallID().Value())
	}
	r.Reason, r.Expires = "", 0
	if b := r.bytes(); bytes.Contains(b, []byte("Reason:")) || !bytes.Contains(b, []byte("Expires: 0\r\n")) {
		t.Errorf("an unregister carries no Reason and Expires 0:\n%s", b)
	}
}

func TestParseServiceControl(t *testing.T) {
	sc, err := ParseServiceControl([]byte("action=reset\r\nRegisterCallId={001122aa-bbcc0002-00001a2b-00003c4d@192.0.2.23}\r\nConfigVersionStamp={00000000-0000-0000-0000-000000000000}\r\nDialplanVersionStamp={0}\r\nSoftkeyVersionStamp={0}\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Action != "reset" || sc.RegisterCallID != "001122aa-bbcc0002-00001a2b-00003c4d@192.0.2.23" || sc.ConfigVersion != "00000000-0000-0000-0000-000000000000" {
		t.Errorf("parsed %+v", sc)
	}
	for _, bad := range []string{"", "RegisterCallId={x}", "action", "=reset", "action=restart\nnonsense"} {
		if _, err := ParseServiceControl([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if id := ServiceControlCallID([]byte("garbage")); id != "" {
		t.Errorf("call id of garbage: %q", id)
	}
}

func FuzzParseServiceControl(f *testing.F) {
	f.Add([]byte("action=reset\r\nRegisterCallId={a@b}\r\n"))                            // the four-line form, shortened
	f.Add([]byte("action=apply-config\nCUCMResult=config_applied\nRegisterCallId={}\n")) // empty braces
	f.Add([]byte("action={restart}\n\n\n"))                                              // braces around the action
	f.Add([]byte("=\n"))                                                                 // empty key
	f.Fuzz(func(t *testing.T, body []byte) {
		sc, err := ParseServiceControl(body)
		if err != nil {
			return
		}
		if sc.Action == "" {
			t.Fatal("accepted a body without an action")
		}
		// What parses, re-serialised, parses to the same fields.
		var b strings.Builder
		for k, v := range sc.Fields {
			b.WriteString(k + "={" + v + "}\n")
		}
		again, err := ParseServiceControl([]byte(b.String()))
		if err != nil || again.Action != sc.Action || again.RegisterCallID != sc.RegisterCallID {
			t.Fatalf("round trip: %+v -> %q -> %+v, %v", sc, b.String(), again, err)
		}
	})
}

func TestLoadUsers(t *testing.T) {
	us, err := LoadUsers(strings.NewReader("userid,pin,extension,platform\n# comment\nalice,12345,2001\n\nbob, 999 ,2002,android\ncarol,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 3 || us[0] != (User{ID: "alice", PIN: "12345", Extension: "2001"}) || us[1].PIN != "999" || us[1].Platform != "android" || us[2].Extension != "" {
		t.Errorf("parsed %+v", us)
	}
	for _, bad := range []string{"alice\n", "a,b,c,d,e\n", ",123\n", "bob,1,2,fax\n", "\"unterminated,1\n"} {
		if _, err := LoadUsers(strings.NewReader(bad)); err == nil || !strings.HasPrefix(err.Error(), "phonesim: users CSV") {
			t.Errorf("%q: error %v, want a users CSV error", bad, err)
		}
	}
}

// The import file of selfprovd (columns by name, extra ones ignored) is a
// users file too; phonesim users writes one.
func TestLoadUsersReadsTheImportFile(t *testing.T) {
	us, err := LoadUsers(strings.NewReader("userId,lastName,primaryExtension,pin,email\nerin,Evans,2005,13579,e@x\nfrank,Fisher,,2468,\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 2 || us[0] != (User{ID: "erin", PIN: "13579", Extension: "2005"}) || us[1] != (User{ID: "frank", PIN: "2468"}) {
		t.Fatalf("parsed %+v", us)
	}
	if _, err := LoadUsers(strings.NewReader("userId,pin\nerin,1,extra\n")); err == nil || !strings.Contains(err.Error(), "line 2: 3 fields, the header names 2") {
		t.Fatalf("extra field: %v", err)
	}
	var b strings.Builder
	if err := WriteUsers(&b, UsersFile{N: 3, First: 7, Prefix: "sim", Extension: 3000, PIN: "12345", Profile: "Standard User Profile"}); err != nil {
		t.Fatal(err)
	}
	want := "userId,lastName,firstName,primaryExtension,userProfile,pin\n" +
		"sim00007,User 00007,Sim,3007,Standard User Profile,12345\n" +
		"sim00008,User 00008,Sim,3008,Standard User Profile,12345\n" +
		"sim00009,User 00009,Sim,3009,Standard User Profile,12345\n"
	if b.String() != want {
		t.Fatalf("WriteUsers:\n%s\nwant:\n%s", b.String(), want)
	}
	us, err = LoadUsers(strings.NewReader(b.String()))
	if err != nil || len(us) != 3 || us[2] != (User{ID: "sim00009", PIN: "12345", Extension: "3009"}) {
		t.Fatalf("read back %+v, %v", us, err)
	}
}

func FuzzLoadUsers(f *testing.F) {
	f.Add("userId,lastName,pin,primaryExtension\nerin,Evans,1,2005\n") // an import file
	f.Add("userid,pin\nalice,12345\n")                                 // header and one user
	f.Add("bob,1,2002,iphone\r\n")                                     // all four columns, CRLF
	f.Add("\"a,b\",\"c\"\"d\"\n#x\n\n")                                // quoting and comments
	f.Add("x,y,z,windows\nx,y\nx,y,z,ipad\n")                          // varying field counts
	f.Fuzz(func(t *testing.T, s string) {
		us, err := LoadUsers(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, u := range us {
			if u.ID == "" {
				t.Fatalf("accepted a user without an ID: %q", s)
			}
			if _, ok := ClientModels[u.Platform]; !ok && u.Platform != "" {
				t.Fatalf("accepted platform %q", u.Platform)
			}
		}
	})
}

func TestModelMixAndMAC(t *testing.T) {
	mix, err := ParseModelMix("8845:2, CP-7841")
	if err != nil {
		t.Fatal(err)
	}
	got := mix.Pick(0).Name + mix.Pick(1).Name + mix.Pick(2).Name + mix.Pick(3).Name
	if got != "8845884578418845" {
		t.Errorf("picks %s", got)
	}
	for _, bad := range []string{"", "9999", "8845:0", "8845:x"} {
		if _, err := ParseModelMix(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	m := FleetMAC(0x1234, 0x0A0B0C)
	if m.DeviceName() != "SEP0A12340A0B0C" {
		t.Errorf("FleetMAC %s", m.DeviceName())
	}
	if p, err := ParseMAC("sep0a12340a0b0c"); err != nil || p != m {
		t.Errorf("ParseMAC: %v %v", p, err)
	}
	for _, bad := range []string{"0011", "SEP00112233445G", "00:11:22:33:44:55:66"} {
		if _, err := ParseMAC(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCodeIn(t *testing.T) {
	for in, want := range map[string]string{
		"Wrong user ID or PIN (AUTH_FAILED)":                       "AUTH_FAILED",
		"DB-239 duplicate value in a UNIQUE INDEX column (assign)": "DB-239",
		"Provision this phone with extension 2001?":                "",
		"399 selfprov \"AUTOREG_DN_RANGE_EXHAUSTED\"":              "AUTOREG_DN_RANGE_EXHAUSTED",
	} {
		if got := codeIn(in); got != want {
			t.Errorf("codeIn(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrintable(t *testing.T) {
	if got := printable("code: 0, message: busy\x00\x1b[2J\xff ok\ttab\n {\r\n x }"); got != "code: 0, message: busy??[2J? ok tab { x }" {
		t.Errorf("printable: %q", got)
	}
}

func TestDefaultLocalIPs(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "localhost", "127.5.6.7"} {
		ips, note := DefaultLocalIPs(host)
		if len(ips) != LoopbackSources || ips[0] != "127.0.1.1" || ips[LoopbackSources-1] != "127.0.1.64" || !strings.Contains(note, "sip.ratePerSource") {
			t.Errorf("%s: %d addresses %v..., %q", host, len(ips), ips[:min(2, len(ips))], note)
		}
	}
	for _, host := range []string{"192.0.2.10", "::1", "pbx.example.com"} {
		if ips, note := DefaultLocalIPs(host); ips != nil || !strings.Contains(note, "RATE_LIMITED") || !strings.Contains(note, "-local-ip") {
			t.Errorf("%s: %v, %q", host, ips, note)
		}
	}
}

// TestTCPLegsSpreadOverLocalIPs: phone n always comes from LocalIPs[n%len]
// over TCP, whichever phones dial first, so a fleet spreads evenly (the
// registrar limits new devices per source address).
func TestTCPLegsSpreadOverLocalIPs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ua := NewUA()
	defer ua.Close()
	ua.LocalIPs, _ = ParseIPs("127.0.1.1-3")
	for _, n := range []int{2, 1, 0, 3, 4, 5, 7, 6, 8, 11} {
		l, err := ua.Leg("tcp", ln.Addr().String(), n)
		if err != nil {
			t.Fatal(err)
		}
		host, _, _ := net.SplitHostPort(l.Local)
		if want := ua.LocalIPs[n%3]; host != want {
			t.Fatalf("phone %d comes from %s, want %s", n, host, want)
		}
	}
}
