package registrar

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"selfprov/internal/testkit"
	"selfprov/provision"
)

// softphoneRegister is a REGISTER as baresip sends it: the device name as
// the AOR user, a Contact of its own with its own +sip.instance, and no
// Cisco model anywhere.
func (c *client) softphoneRegister(aor string, cseq int, ua string) string {
	callID := fmt.Sprintf("sp-%s-%s", strings.ToLower(aor), strings.ReplaceAll(c.local, ":", "-"))
	c.send(fmt.Sprintf("REGISTER sip:127.0.0.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/%s %s;branch=z9hG4bKsp%s%d;rport\r\n"+
		"Contact: <sip:%s-0x55d5@%s>;expires=60;+sip.instance=\"<urn:uuid:d8fb04b9-1111-2222-3333-444455556666>\"\r\n"+
		"Max-Forwards: 70\r\nTo: <sip:%s@127.0.0.1>\r\nFrom: <sip:%s@127.0.0.1>;tag=sp%d\r\n"+
		"Call-ID: %s\r\nCSeq: %d REGISTER\r\nUser-Agent: %s\r\n"+
		"Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,REFER\r\nContent-Length: 0\r\n\r\n",
		c.tr, c.local, aor, cseq, aor, c.local, aor, aor, cseq, callID, cseq, ua))
	return callID
}

// A softphone registering as SEP<MAC> becomes a Third-party SIP Device
// (Advanced); its restart and reset NOTIFYs are still sent, and its 481 or
// 489 to them is "not supported by the phone", not a failure.
func TestSoftphoneAutoRegistersAsThirdParty(t *testing.T) {
	for _, tr := range []string{"UDP", "TCP"} {
		t.Run(tr, func(t *testing.T) {
			var logs testkit.SyncBuffer
			e := newEnv(t, envOpt{opts: func(o *Options) {
				o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			}})
			c := e.dial(t, tr)
			name := "SEP" + strings.ToUpper(mac(0x70))
			callID := c.softphoneRegister(name, 1, "baresip v1.0.0 (x86_64/linux)")
			if res := c.response(); res.StatusCode != 200 {
				t.Fatalf("got %d %s %q, want 200", res.StatusCode, res.Reason, header(res, "Warning"))
			}
			d, err := e.svc.Device(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			if d.Model != provision.ModelThirdPartySIP || d.State != provision.StateAutoRegistered || d.Lines[0].DN != "1000" {
				t.Fatalf("device %+v, want model %d auto-registered on 1000", d, provision.ModelThirdPartySIP)
			}
			n := c.request()
			if n.Method != sip.NOTIFY || !strings.HasPrefix(string(n.Body()), "action=restart\r\nRegisterCallId={"+callID+"}") {
				t.Fatalf("got %s %q, want the restart NOTIFY", n.Method, n.Body())
			}
			c.answer(n, 481)
			testkit.WaitFor(t, "the 481 counted as unsupported", func() bool { return e.counter(t, e.srv.m.notifyOf[notifyUnsupported]) == 1 })

			if err := e.svc.Notify(context.Background(), name, provision.ActionReset); err != nil {
				t.Fatal(err)
			}
			n = c.request()
			if !strings.HasPrefix(string(n.Body()), "action=reset\r\n") {
				t.Fatalf("reset body %q", n.Body())
			}
			c.answer(n, 489)
			testkit.WaitFor(t, "the 489 counted as unsupported", func() bool { return e.counter(t, e.srv.m.notifyOf[notifyUnsupported]) == 2 })
			if got := e.counter(t, e.srv.m.notifyOf[notifyRejected]); got != 0 {
				t.Errorf("rejected NOTIFYs %v, want 0", got)
			}
			out := logs.String()
			if strings.Count(out, "level=INFO msg=\"notify not supported by the phone\" device="+name) != 2 || strings.Contains(out, "notify failed") {
				t.Errorf("log:\n%s", out)
			}
		})
	}
}

// A Cisco model missing from the catalogue is refused with 403
// INVALID_DEVICE_MODEL before a DN is taken.
func TestUnknownCiscoModelIsRefused(t *testing.T) {
	for _, tr := range []string{"UDP", "TCP"} {
		t.Run(tr, func(t *testing.T) {
			e := newEnv(t, envOpt{})
			c := e.dial(t, tr)
			byParam := fmt.Sprintf(`<sip:x@%s>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-%s>";+u.sip!model.ccm.cisco.com="99999"`, c.local, mac(0x71))
			c.register(reg{mac: mac(0x71), contact: byParam})
			res := c.response()
			if res.StatusCode != 403 || !strings.Contains(header(res, "Warning"), `"INVALID_DEVICE_MODEL: `) {
				t.Fatalf("got %d %s %q, want 403 naming INVALID_DEVICE_MODEL", res.StatusCode, res.Reason, header(res, "Warning"))
			}
			if _, err := e.svc.Device(context.Background(), "SEP"+mac(0x71)); provision.CodeOf(err) != provision.CodeDeviceNotFound {
				t.Fatalf("refused phone was created: %v", err)
			}
			c.register(reg{mac: mac(0x73)})
			if res := c.response(); res.StatusCode != 200 {
				t.Fatalf("known model: %d", res.StatusCode)
			}
			if d, _ := e.svc.Device(context.Background(), "SEP"+mac(0x73)); len(d.Lines) == 0 || d.Lines[0].DN != "1000" {
				t.Fatalf("next phone %+v, want DN 1000: a refused phone took one", d)
			}
		})
	}
}

// So is a Cisco User-Agent naming a product the catalogue lacks.
func TestUnknownCiscoProductIsRefused(t *testing.T) {
	e := newEnv(t, envOpt{})
	c := e.dial(t, "UDP")
	c.softphoneRegister("SEP"+strings.ToUpper(mac(0x74)), 1, "Cisco-CP9999/14.2.1")
	if res := c.response(); res.StatusCode != 403 || !strings.Contains(header(res, "Warning"), "INVALID_DEVICE_MODEL") {
		t.Fatalf("got %d %q", res.StatusCode, header(res, "Warning"))
	}
	c.softphoneRegister("SEP"+strings.ToUpper(mac(0x75)), 1, "Cisco-CP7841/14.2.1")
	if res := c.response(); res.StatusCode != 200 {
		t.Fatalf("a catalogue product: %d", res.StatusCode)
	}
	if d, _ := e.svc.Device(context.Background(), "SEP"+mac(0x75)); d.Model != 622 || d.Lines[0].DN != "1000" {
		t.Fatalf("device %+v, want a 7841 (622) on 1000", d)
	}
}

// Only SEP names auto-register: a CSF, BOT, TCT or TAB name that names no
// device gets 404 DEVICE_NOT_FOUND and nothing is created; one that Webex
// auto-provisioning created registers.
func TestOnlySEPAutoRegisters(t *testing.T) {
	for _, tr := range []string{"UDP", "TCP"} {
		t.Run(tr, func(t *testing.T) {
			e := newEnv(t, envOpt{})
			ctx := context.Background()
			c := e.dial(t, tr)
			for i, name := range []string{"CSFalice", "BOTBOB", "TCTBOB", "TABBOB"} {
				c.softphoneRegister(name, i+1, "Cisco-CSF")
				res := c.response()
				if res.StatusCode != 404 || !strings.Contains(header(res, "Warning"), `"DEVICE_NOT_FOUND: `) {
					t.Fatalf("%s: got %d %s %q, want 404 naming DEVICE_NOT_FOUND", name, res.StatusCode, res.Reason, header(res, "Warning"))
				}
			}
			if ds, err := e.svc.Devices(ctx, provision.DeviceFilter{}); err != nil || len(ds) != 0 {
				t.Fatalf("devices %v %v, want none", ds, err)
			}
			bot, _, err := e.svc.AutoProvisionClient(ctx, provision.ClientRequest{User: "bob", Platform: "android", AppVersion: "41.12.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			c.softphoneRegister(bot.Name, 9, "Cisco-CSF")
			if res := c.response(); res.StatusCode != 200 {
				t.Fatalf("existing %s: %d %q", bot.Name, res.StatusCode, header(res, "Warning"))
			}
			if _, ok := e.srv.Binding(bot.Name); !ok {
				t.Fatalf("%s has no binding", bot.Name)
			}
		})
	}
}

// New auto-registrations are limited per source address, apart from the
// REGISTER rate: over the limit a new phone gets 503 with Retry-After and
// AUTOREG_RATE_LIMITED and takes no DN; known phones register; another
// address has its own allowance; a token comes back with time.
func TestNewDevicesPerSourceLimit(t *testing.T) {
	for _, tr := range []string{"UDP", "TCP"} {
		t.Run(tr, func(t *testing.T) {
			e := newEnv(t, envOpt{opts: func(o *Options) { o.AutoRegPerMinute, o.AutoRegBurst = 30, 2 }})
			ctx := context.Background()
			c := e.dial(t, tr)
			cseq := 100
			status := func(m int, expires string) *sip.Response {
				t.Helper()
				cseq++
				c.register(reg{mac: mac(m), expires: expires, cseq: cseq})
				return c.response()
			}
			dnOf := func(m int) string {
				d, err := e.svc.Device(ctx, "SEP"+mac(m))
				if err != nil {
					return err.Error()
				}
				return d.Lines[0].DN
			}
			if res := status(1, ""); res.StatusCode != 200 {
				t.Fatalf("first: %d", res.StatusCode)
			}
			// A REGISTER that creates nothing gives its token back.
			if res := status(1, "0"); res.StatusCode != 200 {
				t.Fatalf("unregister: %d", res.StatusCode)
			}
			if res := status(1, ""); res.StatusCode != 200 {
				t.Fatalf("known again: %d", res.StatusCode)
			}
			if res := status(2, ""); res.StatusCode != 200 {
				t.Fatalf("second new phone: %d %q", res.StatusCode, header(res, "Warning"))
			}
			res := status(3, "")
			if res.StatusCode != 503 || header(res, "Retry-After") != "2" || !strings.Contains(header(res, "Warning"), `"AUTOREG_RATE_LIMITED: `) {
				t.Fatalf("third new phone: %d %s Retry-After %q Warning %q, want 503, 2, AUTOREG_RATE_LIMITED", res.StatusCode, res.Reason, header(res, "Retry-After"), header(res, "Warning"))
			}
			if got := dnOf(3); !strings.Contains(got, provision.CodeDeviceNotFound) {
				t.Fatalf("refused phone: %s", got)
			}
			// A known phone without a binding still registers over the limit.
			if res := status(1, "0"); res.StatusCode != 200 {
				t.Fatalf("unregister: %d", res.StatusCode)
			}
			if res := status(1, ""); res.StatusCode != 200 {
				t.Fatalf("known phone over the limit: %d %q", res.StatusCode, header(res, "Warning"))
			}
			// Another address has its own allowance.
			other := dialFrom(t, e, tr, "127.0.0.2")
			other.register(reg{mac: mac(4)})
			if res := other.response(); res.StatusCode != 200 {
				t.Fatalf("from 127.0.0.2: %d %q", res.StatusCode, header(res, "Warning"))
			}
			// Two seconds give one token back (30 a minute).
			e.clock.Advance(2 * time.Second)
			if res := status(3, ""); res.StatusCode != 200 {
				t.Fatalf("after 2 s: %d %q", res.StatusCode, header(res, "Warning"))
			}
			if got := [4]string{dnOf(1), dnOf(2), dnOf(4), dnOf(3)}; got != [4]string{"1000", "1001", "1002", "1003"} {
				t.Fatalf("DNs %v: the refusal took one", got)
			}
			if res := status(5, ""); res.StatusCode != 503 {
				t.Fatalf("bucket empty again: %d", res.StatusCode)
			}
		})
	}
}

// dialFrom is env.dial from a given loopback address.
func dialFrom(t *testing.T, e *env, tr, ip string) *client {
	t.Helper()
	var conn net.Conn
	var err error
	if tr == "TCP" {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		conn, err = d.Dial("tcp", e.tcp)
	} else {
		d := net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(ip)}}
		conn, err = d.Dial("udp", e.udp)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, tr: tr, conn: conn, r: bufio.NewReaderSize(conn, 65536), local: conn.LocalAddr().String()}
}
