package provision_test

import (
	"context"
	"testing"

	"selfprov/configs"
	"selfprov/provision"
)

// A SEP device naming no Cisco model (a softphone) becomes the
// third-party model, which the default profile's desk-phone template
// takes: the softphone can self-provision.
func TestSoftphoneAutoRegistersAsThirdPartyAndSelfProvisions(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	d, created, err := e.svc.AutoRegisterPhone(ctx, provision.Registration{Name: "SEP" + mac(1)})
	if err != nil || !created {
		t.Fatalf("created=%v err=%v", created, err)
	}
	if d.Model != provision.ModelThirdPartySIP {
		t.Fatalf("model %d, want %d", d.Model, provision.ModelThirdPartySIP)
	}
	m, ok := e.svc.Model(d.Model)
	if !ok || m.Name != "Third-party SIP Device (Advanced)" || m.Class != provision.ClassDesk || m.Prefix != provision.PrefixSEP {
		t.Fatalf("catalogue entry %+v %v", m, ok)
	}
	p, err := e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "alice", Secret: "12345"})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if p.UDT.Name != "Desk Phone Template" || p.Extension != "2001" {
		t.Fatalf("plan %+v", p)
	}
	nd, err := e.svc.SelfProvision(ctx, d.Name, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if nd.Owner != "alice" || nd.Model != provision.ModelThirdPartySIP || nd.Lines[0].DN != "2001" {
		t.Fatalf("provisioned %+v", nd)
	}
}

// A user without a profile of their own gets the default system profile,
// whose desk-phone template takes the third-party model too.
func TestSoftphoneSelfProvisionsUnderTheDefaultSystemProfile(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) {
		c.Users = append(c.Users, configs.UserConfig{ID: "erin", LastName: "Evans", PrimaryExtension: "2005", PIN: "24680"})
	})
	ctx := context.Background()
	d := e.autoRegister(t, mac(1), 0)
	p, err := e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "erin", Secret: "24680"})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if !p.Profile.DefaultSystemProfile || p.UDT.Name != "Desk Phone Template" || p.Model.ID != provision.ModelThirdPartySIP {
		t.Fatalf("plan %+v", p)
	}
}

// Without the third-party model in the catalogue such a phone gets model
// 0, and self-provisioning refuses it as before.
func TestSoftphoneWithoutThirdPartyModelIsRefusedAtLogin(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) {
		for i, m := range c.Models {
			if m.ID == provision.ModelThirdPartySIP {
				c.Models = append(c.Models[:i], c.Models[i+1:]...)
				break
			}
		}
	})
	d := e.autoRegister(t, mac(1), 0)
	if d.Model != 0 {
		t.Fatalf("model %d", d.Model)
	}
	if _, err := e.svc.Login(context.Background(), d.Name, provision.Credentials{UserID: "alice", Secret: "12345"}); provision.CodeOf(err) != provision.CodeInvalidModel {
		t.Fatalf("login: %v", err)
	}
}

// A Cisco model that is not in the catalogue is refused before any DN is
// taken; a device that exists still registers whatever it claims.
func TestUnknownCiscoModelIsRefusedBeforeADNIsTaken(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, r := range []provision.Registration{
		{Name: "SEP" + mac(1), Model: 99999},
		{Name: "SEP" + mac(1), Product: "9999"},
		{Name: "SEP" + mac(1), Model: 99999, NoCreate: true}, // the model is the first answer
	} {
		_, created, err := e.svc.AutoRegisterPhone(ctx, r)
		if provision.CodeOf(err) != provision.CodeInvalidModel || created {
			t.Fatalf("%+v: created=%v err=%v", r, created, err)
		}
	}
	if _, err := e.svc.Device(ctx, "SEP"+mac(1)); provision.CodeOf(err) != provision.CodeDeviceNotFound {
		t.Fatalf("refused phone exists: %v", err)
	}
	d, _, err := e.svc.AutoRegisterPhone(ctx, provision.Registration{Name: "SEP" + mac(2), Product: "8845"})
	if err != nil || d.Model != 36224 || d.Lines[0].DN != "1000" {
		t.Fatalf("product 8845: %+v %v (want model 36224 on 1000: no DN was taken before)", d, err)
	}
	again, created, err := e.svc.AutoRegisterPhone(ctx, provision.Registration{Name: d.Name, Model: 99999})
	if err != nil || created || again.Name != d.Name {
		t.Fatalf("known device claiming an unknown model: created=%v err=%v", created, err)
	}
}

// Only SEP names auto-register; CSF, BOT, TCT and TAB devices that exist
// (made by Webex auto-provisioning) still register.
func TestOnlySEPNamesAutoRegister(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		e := newEnv(t, func(c *configs.Config) { c.Cluster.AutoRegistration.Enabled = enabled })
		ctx := context.Background()
		for _, name := range []string{"CSFalice", "BOTBOB", "TCTBOB", "TABBOB"} {
			_, created, err := e.svc.AutoRegisterPhone(ctx, provision.Registration{Name: name})
			if provision.CodeOf(err) != provision.CodeDeviceNotFound || created {
				t.Fatalf("enabled=%v %s: created=%v err=%v", enabled, name, created, err)
			}
			if _, err := e.svc.Device(ctx, name); provision.CodeOf(err) != provision.CodeDeviceNotFound {
				t.Fatalf("%s was created: %v", name, err)
			}
		}
		bot, _, err := e.svc.AutoProvisionClient(ctx, provision.ClientRequest{User: "bob", Platform: "android", AppVersion: "41.12.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		got, created, err := e.svc.AutoRegisterPhone(ctx, provision.Registration{Name: bot.Name, Model: 575})
		if err != nil || created || got.Owner != "bob" {
			t.Fatalf("enabled=%v: existing %s: %+v created=%v err=%v", enabled, bot.Name, got, created, err)
		}
	}
}

// A source over its limit creates nothing and takes no DN, but a device
// that exists registers.
func TestNoCreateRefusesNewDevicesOnly(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	_, created, err := e.svc.AutoRegisterPhone(ctx, provision.Registration{Name: "SEP" + mac(1), Model: 36224, NoCreate: true})
	if provision.CodeOf(err) != provision.CodeAutoRegRateLimited || created {
		t.Fatalf("created=%v err=%v", created, err)
	}
	d := e.autoRegister(t, mac(2), 36224)
	if d.Lines[0].DN != "1000" {
		t.Fatalf("DN %s: the refused phone took one", d.Lines[0].DN)
	}
	got, created, err := e.svc.AutoRegisterPhone(ctx, provision.Registration{Name: d.Name, Model: 36224, NoCreate: true})
	if err != nil || created || got.Name != d.Name {
		t.Fatalf("existing: created=%v err=%v", created, err)
	}
	// With auto-registration off, that is the answer, not the limit.
	if _, err := e.svc.UpdateCluster(ctx, func(c *provision.Cluster) error { c.AutoRegistration.Enabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.AutoRegisterPhone(ctx, provision.Registration{Name: "SEP" + mac(3), NoCreate: true}); provision.CodeOf(err) != provision.CodeAutoRegDisabled {
		t.Fatalf("off: %v", err)
	}
}
