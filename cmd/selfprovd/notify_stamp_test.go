package main

import (
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A reset sent through the admin API names the versionStamp of the config
// file the phone is then served, not only the device's stored version.
func TestResetNamesTheServedVersionStamp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts selfprovd")
	}
	dir := t.TempDir()
	r := startDaemon(t, loopbackFlags(dir)...)
	c := newAdminClient(t, r, dir)
	hc := c.hc

	const device = "SEP0A00000B0001"
	conn, err := net.Dial("udp", r.addrs.SIP)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	reg := "REGISTER sip:" + r.addrs.SIP + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bKstamp1;rport\r\n" +
		"From: <sip:1000@" + r.addrs.SIP + ">;tag=stamp\r\n" +
		"To: <sip:1000@" + r.addrs.SIP + ">\r\n" +
		"Call-ID: stamp-1@" + local + "\r\n" +
		"CSeq: 101 REGISTER\r\n" +
		"Max-Forwards: 70\r\n" +
		"User-Agent: Cisco-CP8845/14.2.1\r\n" +
		"Contact: <sip:1000@" + local + ";transport=udp>;+u.sip!devicename.ccm.cisco.com=\"" + device + "\";+u.sip!model.ccm.cisco.com=\"36224\"\r\n" +
		"Expires: 3600\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(reg)); err != nil {
		t.Fatal(err)
	}
	// The 200, then the restart NOTIFY of a new device, answered.
	next := func(what string) string {
		t.Helper()
		buf := make([]byte, 8192)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		return string(buf[:n])
	}
	if m := next("the 200"); !strings.HasPrefix(m, "SIP/2.0 200") {
		t.Fatalf("REGISTER answered %q", m)
	}
	answer := func(notify string) {
		t.Helper()
		var hdrs []string
		for _, l := range strings.Split(notify, "\r\n")[1:] {
			for _, h := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:"} {
				if strings.HasPrefix(l, h) {
					hdrs = append(hdrs, l)
				}
			}
		}
		if _, err := conn.Write([]byte("SIP/2.0 200 OK\r\n" + strings.Join(hdrs, "\r\n") + "\r\nContent-Length: 0\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	restart := next("the restart NOTIFY")
	if !strings.Contains(restart, "action=restart") {
		t.Fatalf("want the restart NOTIFY, got %q", restart)
	}
	answer(restart)

	c.do("POST", "/api/v1/devices/"+device+"/reset", "", 202, nil)
	reset := next("the reset NOTIFY")
	for strings.Contains(reset, "action=restart") { // a retransmission
		reset = next("the reset NOTIFY")
	}
	answer(reset)
	m := regexp.MustCompile(`ConfigVersionStamp=\{([^}]*)\}`).FindStringSubmatch(reset)
	if m == nil {
		t.Fatalf("no ConfigVersionStamp in %q", reset)
	}
	resp, err := hc.Get("http://" + r.addrs.Config + "/" + device + ".cnf.xml")
	if err != nil {
		t.Fatal(err)
	}
	file, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	v := regexp.MustCompile(`<versionStamp>([^<]*)</versionStamp>`).FindSubmatch(file)
	if resp.StatusCode != 200 || v == nil {
		t.Fatalf("config: %d\n%s", resp.StatusCode, file)
	}
	if m[1] != string(v[1]) {
		t.Fatalf("reset names %s, the served file %s", m[1], v[1])
	}
}
