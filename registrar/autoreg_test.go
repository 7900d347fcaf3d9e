package registrar

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

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
			waitFor(t, "the 481 counted as unsupported", func() bool { return e.counter(t, e.srv.m.notifyOf[notifyUnsupported]) == 1 })

			if err := e.svc.Notify(context.Background(), name, provision.ActionReset); err != nil {
				t.Fatal(err)
			}
			n = c.request()
			if !strings.HasPrefix(string(n.Body()), "action=reset\r\n") {
				t.Fatalf("reset body %q", n.Body())
			}
			c.answer(n, 489)
			waitFor(t, "the 489 counted as unsupported", func() bool { return e.counter(t, e.srv.m.notifyOf[notifyUnsupported]) == 2 })
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
			if ds, err := e.svc.Store().Devices(ctx, provision.DeviceFilter{}); err != nil || len(ds) != 0 {
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
