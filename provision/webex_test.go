package provision_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"selfprov/configs"
	"selfprov/provision"
)

const (
	universalProfile = provision.UniversalSecurityProfile
	newVersionOK     = "41.12.0.1234"
)

func win(user string) provision.ClientRequest {
	return provision.ClientRequest{User: user, Platform: "windows", AppVersion: newVersionOK}
}

func on(platform, user string) provision.ClientRequest {
	return provision.ClientRequest{User: user, Platform: platform, AppVersion: newVersionOK}
}

// putDevice stores a device owned by user with line 1 on the user's
// extension; sip tells its settings apart.
func (e *env) putDevice(t testing.TB, name string, model int, owner, dn, sip, secProfile string) provision.Device {
	t.Helper()
	d := provision.Device{
		Name: name, Model: model, Protocol: "SIP", Owner: owner, State: provision.StateProvisioned, UDT: "udt-of-" + name,
		Settings: provision.DeviceSettings{SIPProfile: sip, SecurityProfile: secProfile, ButtonTemplate: "custom",
			IdleURL: "http://192.0.2.10:8080/x?name=" + name},
		Lines:         []provision.Line{{Button: 1, DN: dn, Partition: "", Label: "label-" + name, DisplayName: "shown-" + name, Contact: "c-" + name, MaxCalls: 7, BusyTrigger: 3}},
		ConfigVersion: "1-x",
	}
	if err := e.st.CreateDevice(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *env) setUDTSecurity(t testing.TB, udt, profile string) {
	t.Helper()
	ctx := context.Background()
	u, err := e.st.UDT(ctx, udt)
	if err != nil {
		t.Fatal(err)
	}
	u.SecurityProfile = profile
	if err := e.svc.PutUDT(ctx, u); err != nil {
		t.Fatal(err)
	}
}

func (e *env) deviceCount(t testing.TB) int {
	t.Helper()
	ds, err := e.st.Devices(context.Background(), provision.DeviceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(ds)
}

func (e *env) setUser(t testing.TB, id string, change func(*provision.User)) {
	t.Helper()
	ctx := context.Background()
	u, err := e.st.User(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	change(&u)
	if _, err := e.svc.UpdateUser(ctx, u, provision.Secrets{}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) setPolicy(t testing.TB, p provision.WebexPolicy) {
	t.Helper()
	if _, err := e.svc.UpdateCluster(context.Background(), func(c *provision.Cluster) error { c.WebexPolicy = p; return nil }); err != nil {
		t.Fatal(err)
	}
}

func noProfileTemplates(c *configs.Config) {
	c.UserProfiles[0].MobileDesktopUDT = ""
	c.UserProfiles[0].DeskPhoneUDT = ""
}

// TestAutoProvisionRules has one row per rule and gate of SPEC §5.
func TestAutoProvisionRules(t *testing.T) {
	ctx := context.Background()
	type check func(t *testing.T, e *env, d provision.Device, created bool)
	wantName := func(name string) check {
		return func(t *testing.T, e *env, d provision.Device, created bool) {
			if d.Name != name || !created {
				t.Fatalf("device %q created=%v, want %q created", d.Name, created, name)
			}
		}
	}
	wantModel := func(name string, model int, button string) check {
		return func(t *testing.T, e *env, d provision.Device, created bool) {
			if d.Name != name || d.Model != model || d.Settings.ButtonTemplate != button || d.Owner != "alice" || d.State != provision.StateProvisioned {
				t.Fatalf("device %q model %d button %q owner %q state %s; want %q %d %q", d.Name, d.Model, d.Settings.ButtonTemplate, d.Owner, d.State, name, model, button)
			}
		}
	}
	wantSource := func(udt, sip string) check {
		return func(t *testing.T, e *env, d provision.Device, created bool) {
			if d.UDT != udt || d.Settings.SIPProfile != sip {
				t.Fatalf("settings from UDT %q SIP profile %q; want %q %q", d.UDT, d.Settings.SIPProfile, udt, sip)
			}
		}
	}
	wantSecurity := func(p string) check {
		return func(t *testing.T, e *env, d provision.Device, created bool) {
			if d.Settings.SecurityProfile != p {
				t.Fatalf("security profile %q, want %q", d.Settings.SecurityProfile, p)
			}
		}
	}
	ok := func(t *testing.T, e *env, d provision.Device, created bool) {
		if !created || d.Name == "" {
			t.Fatalf("device %q created=%v", d.Name, created)
		}
	}

	tests := []struct {
		name   string
		change func(*configs.Config)
		setup  func(t *testing.T, e *env)
		req    provision.ClientRequest
		code   string
		check  check
	}{
		// Platform → device class.
		{name: "platform windows is CSF", req: on("windows", "alice"), check: wantModel("CSFalice", 503, "Standard Client Services Framework")},
		{name: "platform mac is CSF", req: on("mac", "alice"), check: wantModel("CSFalice", 503, "Standard Client Services Framework")},
		{name: "platform android is BOT", req: on("android", "alice"), check: wantModel("BOTALICE", 575, "Standard Dual Mode for Android")},
		{name: "platform iphone is TCT", req: on("iphone", "alice"), check: wantModel("TCTALICE", 562, "Standard Dual Mode for iPhone")},
		{name: "platform ipad is TAB", req: on("ipad", "alice"), check: wantModel("TABALICE", 652, "Standard Jabber for Tablet")},
		{name: "platform chromebook is TAB", req: on("chromebook", "alice"), check: wantModel("TABALICE", 652, "Standard Jabber for Tablet")},
		{name: "platform case-insensitive", req: on("iPhone", "alice"), check: wantName("TCTALICE")},
		{name: "platform unknown", req: on("blackberry", "alice"), code: provision.CodeAutoProvPlatform},
		{name: "platform missing", req: on("", "alice"), code: provision.CodeAutoProvPlatform},
		{name: "client model disabled in catalogue", change: func(c *configs.Config) {
			f := false
			for i := range c.Models {
				if c.Models[i].Prefix == provision.PrefixTCT {
					c.Models[i].Enabled = &f
				}
			}
		}, req: on("iphone", "alice"), code: provision.CodeInvalidModel},

		// App version 41.12 or newer.
		{name: "version 41.12", req: provision.ClientRequest{User: "alice", Platform: "windows", AppVersion: "41.12"}, check: ok},
		{name: "version 41.12.0.1234", req: provision.ClientRequest{User: "alice", Platform: "windows", AppVersion: "41.12.0.1234"}, check: ok},
		{name: "version 42.1", req: provision.ClientRequest{User: "alice", Platform: "windows", AppVersion: "42.1"}, check: ok},
		{name: "version 41.100 is newer than 41.12", req: provision.ClientRequest{User: "alice", Platform: "windows", AppVersion: "41.100"}, check: ok},
		{name: "version 41 alone is 41.0", req: provision.ClientRequest{User: "alice", Platform: "windows", AppVersion: "41"}, code: provision.CodeAutoProvVersion},
		{name: "version 41.11.9", req: provision.ClientRequest{User: "alice", Platform: "windows", AppVersion: "41.11.9"}, code: provision.CodeAutoProvVersion},
		{name: "version 41.9 compares as numbers", req: provision.ClientRequest{User: "alice", Platform: "windows", AppVersion: "41.9"}, code: provision.CodeAutoProvVersion},
		{name: "version 40.99", req: provision.ClientRequest{User: "alice", Platform: "windows", AppVersion: "40.99"}, code: provision.CodeAutoProvVersion},
		{name: "version abc", req: provision.ClientRequest{User: "alice", Platform: "windows", AppVersion: "abc"}, code: provision.CodeAutoProvVersion},
		{name: "version missing", req: provision.ClientRequest{User: "alice", Platform: "windows"}, code: provision.CodeAutoProvVersion},
		{name: "version five parts", req: provision.ClientRequest{User: "alice", Platform: "windows", AppVersion: "41.12.0.1.2"}, code: provision.CodeAutoProvVersion},
		{name: "version empty part", req: provision.ClientRequest{User: "alice", Platform: "windows", AppVersion: "41..12"}, code: provision.CodeAutoProvVersion},
		{name: "version signed", req: provision.ClientRequest{User: "alice", Platform: "windows", AppVersion: "+41.12"}, code: provision.CodeAutoProvVersion},

		// User and email.
		{name: "unknown user", req: win("nobody"), code: provision.CodeUserNotFound},
		{name: "user by email", req: win("Alice@Example.com"), check: wantName("CSFalice")},
		{name: "unknown email", req: win("nobody@example.com"), code: provision.CodeUserNotFound},
		{name: "email matches", req: provision.ClientRequest{User: "alice", Email: "ALICE@example.com", Platform: "windows", AppVersion: newVersionOK}, check: wantName("CSFalice")},
		{name: "email of another user", req: provision.ClientRequest{User: "alice", Email: "bob@example.com", Platform: "windows", AppVersion: newVersionOK}, code: provision.CodeAutoProvEmail},
		{name: "email given, user has none", setup: func(t *testing.T, e *env) { e.setUser(t, "bob", func(u *provision.User) { u.Email = "" }) },
			req: provision.ClientRequest{User: "bob", Email: "bob@example.com", Platform: "windows", AppVersion: newVersionOK}, code: provision.CodeAutoProvEmail},
		{name: "user ID too long", req: win(strings.Repeat("a", 129)), code: provision.CodeInvalid},
		{name: "user ID with control character", req: win("ali\x00ce"), code: provision.CodeInvalid},
		{name: "user ID not UTF-8", req: win("ali\xffce"), code: provision.CodeInvalid},
		{name: "user ID unicode, unknown", req: win("ålice"), code: provision.CodeUserNotFound},
		{name: "user ID missing", req: win(""), code: provision.CodeInvalid},
		{name: "self-service ID names the user", req: win("2003"), check: wantName("CSFcarol")},

		// Primary extension.
		{name: "no primary extension", req: win("dave"), code: provision.CodeNoPrimaryExtension},

		// Policy: user over profile over organisation.
		{name: "org desktop-and-mobile allows desktop", req: on("mac", "alice"), check: ok},
		{name: "org desktop-only denies mobile", setup: func(t *testing.T, e *env) { e.setPolicy(t, provision.WebexDesktopOnly) }, req: on("android", "alice"), code: provision.CodeAutoProvPolicy},
		{name: "org desktop-only denies tablet", setup: func(t *testing.T, e *env) { e.setPolicy(t, provision.WebexDesktopOnly) }, req: on("ipad", "alice"), code: provision.CodeAutoProvPolicy},
		{name: "org desktop-only allows desktop", setup: func(t *testing.T, e *env) { e.setPolicy(t, provision.WebexDesktopOnly) }, req: on("windows", "alice"), check: ok},
		{name: "org mobile-only denies desktop", setup: func(t *testing.T, e *env) { e.setPolicy(t, provision.WebexMobileOnly) }, req: on("windows", "alice"), code: provision.CodeAutoProvPolicy},
		{name: "org mobile-only allows tablet", setup: func(t *testing.T, e *env) { e.setPolicy(t, provision.WebexMobileOnly) }, req: on("chromebook", "alice"), check: ok},
		{name: "user override allows over org", setup: func(t *testing.T, e *env) {
			e.setPolicy(t, provision.WebexDesktopOnly)
			e.setUser(t, "alice", func(u *provision.User) { u.WebexPolicy = provision.WebexDesktopAndMobile })
		}, req: on("iphone", "alice"), check: ok},
		{name: "user override denies over org", setup: func(t *testing.T, e *env) {
			e.setUser(t, "alice", func(u *provision.User) { u.WebexPolicy = provision.WebexMobileOnly })
		}, req: on("windows", "alice"), code: provision.CodeAutoProvPolicy},
		{name: "profile override over org", change: func(c *configs.Config) { c.UserProfiles[0].WebexPolicy = provision.WebexMobileOnly },
			req: on("windows", "alice"), code: provision.CodeAutoProvPolicy},
		{name: "user override over profile", change: func(c *configs.Config) { c.UserProfiles[0].WebexPolicy = provision.WebexMobileOnly },
			setup: func(t *testing.T, e *env) {
				e.setUser(t, "alice", func(u *provision.User) { u.WebexPolicy = provision.WebexDesktopOnly })
			}, req: on("windows", "alice"), check: ok},

		// Cool-down after deletion.
		{name: "cool-down refuses re-creation", setup: func(t *testing.T, e *env) {
			d, _, err := e.svc.AutoProvisionClient(ctx, win("alice"))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.svc.DeleteDevice(ctx, d.Name); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(9*time.Minute + 59*time.Second)
		}, req: on("mac", "alice"), code: provision.CodeAutoProvCoolDown},
		{name: "cool-down over", setup: func(t *testing.T, e *env) {
			d, _, _ := e.svc.AutoProvisionClient(ctx, win("alice"))
			if err := e.svc.DeleteDevice(ctx, d.Name); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(10 * time.Minute)
		}, req: win("alice"), check: wantName("CSFalice")},
		{name: "cool-down is per device type", setup: func(t *testing.T, e *env) {
			d, _, _ := e.svc.AutoProvisionClient(ctx, on("android", "alice"))
			if err := e.svc.DeleteDevice(ctx, d.Name); err != nil {
				t.Fatal(err)
			}
		}, req: win("alice"), check: wantName("CSFalice")},
		{name: "cool-down follows the cluster setting", setup: func(t *testing.T, e *env) {
			if _, err := e.svc.UpdateCluster(ctx, func(c *provision.Cluster) error { c.WebexCoolDown = time.Minute; return nil }); err != nil {
				t.Fatal(err)
			}
			d, _, _ := e.svc.AutoProvisionClient(ctx, win("alice"))
			if err := e.svc.DeleteDevice(ctx, d.Name); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Minute)
		}, req: win("alice"), check: wantName("CSFalice")},

		// Naming.
		{name: "name CSF keeps case", req: win("alice"), check: wantName("CSFalice")},
		{name: "name BOT upper-cased", req: on("android", "alice"), check: wantName("BOTALICE")},
		{name: "name sanitised", change: func(c *configs.Config) {
			c.Users = append(c.Users, configs.UserConfig{ID: "j.doe+x@corp", LastName: "Doe", PrimaryExtension: "3001", UserProfile: "Standard User Profile"})
		}, req: on("iphone", "j.doe+x@corp"), check: wantName("TCTJ.DOEXCORP")},
		{name: "name unicode removed", change: func(c *configs.Config) {
			c.Users = append(c.Users, configs.UserConfig{ID: "josé_m", LastName: "M", PrimaryExtension: "3001", UserProfile: "Standard User Profile"})
		}, req: win("josé_m"), check: wantName("CSFjos_m")},
		{name: "name cut to 15", change: func(c *configs.Config) {
			c.Users = append(c.Users, configs.UserConfig{ID: "averyveryverylonguserid", LastName: "L", PrimaryExtension: "3001", UserProfile: "Standard User Profile"})
		}, req: on("ipad", "averyveryverylonguserid"), check: wantName("TABAVERYVERYVER")},
		{name: "name nothing usable", change: func(c *configs.Config) {
			c.Users = append(c.Users, configs.UserConfig{ID: "日本", LastName: "N", PrimaryExtension: "3001", UserProfile: "Standard User Profile"})
		}, req: win("日本"), code: provision.CodeAutoProvName},
		{name: "name suffix on collision", setup: func(t *testing.T, e *env) {
			e.putDevice(t, "CSFALICE", 503, "bob", "2002", "x", "")
		}, req: win("alice"), check: wantName("CSFalice1")},
		{name: "name second suffix", setup: func(t *testing.T, e *env) {
			e.putDevice(t, "CSFalice", 503, "bob", "2002", "x", "")
			e.putDevice(t, "CSFalice1", 503, "carol", "2003", "x", "")
		}, req: win("alice"), check: wantName("CSFalice2")},
		{name: "name suffix keeps 15", change: func(c *configs.Config) {
			c.Users = append(c.Users, configs.UserConfig{ID: "averyveryverylonguserid", LastName: "L", PrimaryExtension: "3001", UserProfile: "Standard User Profile"})
		}, setup: func(t *testing.T, e *env) {
			e.putDevice(t, "BOTAVERYVERYVER", 575, "bob", "2002", "x", "")
		}, req: on("android", "averyveryverylonguserid"), check: wantName("BOTAVERYVERYVE1")},
		{name: "unowned name collision", setup: func(t *testing.T, e *env) {
			e.putDevice(t, "TCTALICE", 562, "", "4000", "x", "")
		}, req: on("iphone", "alice"), check: wantName("TCTALICE1")},

		// Settings source when the user has no device: UDT priority.
		{name: "no device: mobile-and-desktop UDT", req: win("alice"), check: wantSource("Mobile and Desktop Template", "Standard SIP Profile for Mobile Device")},
		{name: "no device: desk-phone UDT", change: func(c *configs.Config) { c.UserProfiles[0].MobileDesktopUDT = "" },
			req: win("alice"), check: wantSource("Desk Phone Template", "Standard SIP Profile")},
		{name: "no device: auto-registration UDT", change: noProfileTemplates,
			req: win("alice"), check: wantSource("Auto-registration Template", "Standard SIP Profile")},
		{name: "no device, no profile: auto-registration UDT", change: func(c *configs.Config) {
			c.UserProfiles[0].DefaultSystemProfile = false
			c.Users = append(c.Users, configs.UserConfig{ID: "np", LastName: "P", PrimaryExtension: "3001"})
		}, req: win("np"), check: wantSource("Auto-registration Template", "Standard SIP Profile")},
		{name: "no device: no template", change: func(c *configs.Config) {
			noProfileTemplates(c)
			c.Cluster.AutoRegistration = provision.AutoRegistration{}
		}, setup: func(t *testing.T, e *env) {
			// It exists from first start; only an administrator removes it.
			if err := e.svc.DeleteUDT(context.Background(), "Auto-registration Template"); err != nil {
				t.Fatal(err)
			}
		}, req: win("alice"), code: provision.CodeAutoProvNoTemplate},

		// Settings source when the user has devices: copy priority.
		{name: "copy: mobile first", setup: func(t *testing.T, e *env) {
			e.putDevice(t, "SEP001122334455", 36224, "alice", "2001", "desk-sip", "")
			e.putDevice(t, "CSFalice", 503, "alice", "2001", "desktop-sip", "")
			e.putDevice(t, "TCTALICE", 562, "alice", "2001", "mobile-sip", "")
		}, req: on("android", "alice"), check: wantSource("udt-of-TCTALICE", "mobile-sip")},
		{name: "copy: tablet counts as mobile", setup: func(t *testing.T, e *env) {
			e.putDevice(t, "CSFalice", 503, "alice", "2001", "desktop-sip", "")
			e.putDevice(t, "TABALICE", 652, "alice", "2001", "tablet-sip", "")
		}, req: on("android", "alice"), check: wantSource("udt-of-TABALICE", "tablet-sip")},
		{name: "copy: desktop next", setup: func(t *testing.T, e *env) {
			e.putDevice(t, "SEP001122334455", 36224, "alice", "2001", "desk-sip", "")
			e.putDevice(t, "CSFalice", 503, "alice", "2001", "desktop-sip", "")
		}, req: on("iphone", "alice"), check: wantSource("udt-of-CSFalice", "desktop-sip")},
		{name: "copy: desk phone last", setup: func(t *testing.T, e *env) {
			e.putDevice(t, "SEP001122334455", 36224, "alice", "2001", "desk-sip", "")
		}, req: on("iphone", "alice"), check: func(t *testing.T, e *env, d provision.Device, created bool) {
			wantSource("udt-of-SEP001122334455", "desk-sip")(t, e, d, created)
			if want := "http://192.0.2.10:8080/x?name=TCTALICE"; d.Settings.IdleURL != want {
				t.Fatalf("idle URL %q, want %q", d.Settings.IdleURL, want)
			}
		}},

		// Security profile mapping.
		{name: "security: standard universal stays", setup: func(t *testing.T, e *env) { e.setUDTSecurity(t, "Mobile and Desktop Template", universalProfile) },
			req: win("alice"), check: wantSecurity(universalProfile)},
		{name: "security: custom universal stays", setup: func(t *testing.T, e *env) {
			e.setUDTSecurity(t, "Mobile and Desktop Template", "Lab Universal Secure Profile")
		},
			req: win("alice"), check: wantSecurity("Lab Universal Secure Profile")},
		{name: "security: standard model-specific becomes new model's", setup: func(t *testing.T, e *env) {
			e.setUDTSecurity(t, "Mobile and Desktop Template", "Cisco 8845 - Standard SIP Non-Secure Profile")
		}, req: win("alice"), check: wantSecurity("Cisco Unified Client Services Framework - Standard SIP Non-Secure Profile")},
		{name: "security: custom model-specific becomes new model's standard", setup: func(t *testing.T, e *env) {
			e.setUDTSecurity(t, "Mobile and Desktop Template", "Cisco 8845 - Lab Encrypted")
		}, req: on("iphone", "alice"), check: wantSecurity("Cisco Dual Mode for iPhone - Standard SIP Non-Secure Profile")},
		{name: "security: none becomes new model's standard", setup: func(t *testing.T, e *env) { e.setUDTSecurity(t, "Mobile and Desktop Template", "") },
			req: on("android", "alice"), check: wantSecurity("Cisco Dual Mode for Android - Standard SIP Non-Secure Profile")},
		{name: "security: copied standard model-specific", setup: func(t *testing.T, e *env) {
			e.putDevice(t, "SEP001122334455", 36224, "alice", "2001", "desk-sip", "Cisco 8845 - Standard SIP Non-Secure Profile")
		}, req: on("ipad", "alice"), check: wantSecurity("Cisco Jabber for Tablet - Standard SIP Non-Secure Profile")},
		{name: "security: copied custom universal", setup: func(t *testing.T, e *env) {
			e.putDevice(t, "SEP001122334455", 36224, "alice", "2001", "desk-sip", "Custom Model-independent Profile")
		}, req: on("ipad", "alice"), check: wantSecurity("Custom Model-independent Profile")},

		// Button template: the standard one of the model, also when copying.
		{name: "button template standard when copied", setup: func(t *testing.T, e *env) {
			e.putDevice(t, "SEP001122334455", 36224, "alice", "2001", "desk-sip", "")
		}, req: on("android", "alice"), check: wantModel("BOTALICE", 575, "Standard Dual Mode for Android")},

		// Line 1: the primary extension, shared.
		{name: "line: primary extension from ULT", req: win("alice"), check: func(t *testing.T, e *env, d provision.Device, created bool) {
			if len(d.Lines) != 1 || d.Lines[0].Button != 1 || d.Lines[0].DN != "2001" || d.Lines[0].Label != "2001 - Adams" || d.Lines[0].MaxCalls != 4 || d.Lines[0].Contact == "" {
				t.Fatalf("lines %+v", d.Lines)
			}
		}},
		{name: "line: shared with the desk phone", setup: func(t *testing.T, e *env) {
			e.putDevice(t, "SEP001122334455", 36224, "alice", "2001", "desk-sip", "")
		}, req: win("alice"), check: func(t *testing.T, e *env, d provision.Device, created bool) {
			l := d.Lines[0]
			if l.DN != "2001" || l.Label != "label-SEP001122334455" || l.MaxCalls != 7 || l.Contact == "c-SEP001122334455" {
				t.Fatalf("line %+v, want the desk phone's appearance with its own contact", l)
			}
			desk, err := e.st.Device(ctx, "SEP001122334455")
			if err != nil || desk.Lines[0].DN != "2001" {
				t.Fatalf("desk phone %+v, %v", desk, err)
			}
		}},
		{name: "line: extension held by auto-registration", change: usersInNone, setup: func(t *testing.T, e *env) {
			d := e.autoRegister(t, mac(1), 36224) // 1000
			// Stored before the core refused the clash (DN_IN_AUTOREG_RANGE).
			u, _ := e.st.User(ctx, "alice")
			u.PrimaryExtension = d.Lines[0].DN
			if err := e.st.UpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}, req: win("alice"), code: provision.CodeDuplicate},

		// Signing in again.
		{name: "signing in again returns the device", setup: func(t *testing.T, e *env) {
			if _, _, err := e.svc.AutoProvisionClient(ctx, win("alice")); err != nil {
				t.Fatal(err)
			}
		}, req: on("mac", "alice"), check: func(t *testing.T, e *env, d provision.Device, created bool) {
			if created || d.Name != "CSFalice" || e.deviceCount(t) != 1 {
				t.Fatalf("device %q created=%v count %d", d.Name, created, e.deviceCount(t))
			}
		}},
		{name: "signing in again finds a suffixed device", setup: func(t *testing.T, e *env) {
			e.putDevice(t, "CSFALICE", 503, "bob", "2002", "x", "")
			if _, _, err := e.svc.AutoProvisionClient(ctx, win("alice")); err != nil {
				t.Fatal(err)
			}
		}, req: win("alice"), check: func(t *testing.T, e *env, d provision.Device, created bool) {
			if created || d.Name != "CSFalice1" {
				t.Fatalf("device %q created=%v", d.Name, created)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.change)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			before := e.deviceCount(t)
			d, created, err := e.svc.AutoProvisionClient(ctx, tt.req)
			if got := provision.CodeOf(err); got != tt.code {
				t.Fatalf("code %q (%v), want %q", got, err, tt.code)
			}
			if err != nil {
				if n := e.deviceCount(t); n != before || created || d.Name != "" {
					t.Fatalf("refusal left %d devices (was %d), created=%v device %q", n, before, created, d.Name)
				}
				return
			}
			if created {
				got, gerr := e.st.Device(ctx, d.Name)
				if gerr != nil || got.Name != d.Name || got.ConfigVersion != d.ConfigVersion {
					t.Fatalf("stored %+v, %v; returned %+v", got, gerr, d)
				}
			}
			tt.check(t, e, d, created)
		})
	}
}

func TestAutoProvisionCoolDownRetryAfter(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	d, _, err := e.svc.AutoProvisionClient(ctx, win("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteDevice(ctx, d.Name); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(4 * time.Minute)
	_, _, err = e.svc.AutoProvisionClient(ctx, win("alice"))
	if got := provision.RetryAfter(err); got != 6*time.Minute {
		t.Fatalf("retry after %s (%v), want 6m", got, err)
	}
	if provision.RetryAfter(provision.ErrAutoProvPolicy) != 0 {
		t.Fatal("a policy refusal has no retry time")
	}
}

// TestAutoProvisionAllTypesUnderEachPolicy signs one user in from every
// platform under each organisation policy, then under the user's override,
// with the policy changed at run time.
func TestAutoProvisionAllTypesUnderEachPolicy(t *testing.T) {
	ctx := context.Background()
	platforms := []string{"windows", "mac", "android", "iphone", "ipad", "chromebook"}
	want := map[provision.WebexPolicy][]string{
		provision.WebexDesktopAndMobile: {"BOTALICE", "CSFalice", "TABALICE", "TCTALICE"},
		provision.WebexDesktopOnly:      {"CSFalice"},
		provision.WebexMobileOnly:       {"BOTALICE", "TABALICE", "TCTALICE"},
	}
	for _, override := range []bool{false, true} {
		for pol, names := range want {
			label := "org " + string(pol)
			if override {
				label = "user " + string(pol)
			}
			t.Run(label, func(t *testing.T) {
				e := newEnv(t, nil)
				if override {
					e.setPolicy(t, provision.WebexDesktopOnly) // the user's setting wins
					if pol == provision.WebexDesktopOnly {
						e.setPolicy(t, provision.WebexMobileOnly)
					}
					e.setUser(t, "alice", func(u *provision.User) { u.WebexPolicy = pol })
				} else {
					e.setPolicy(t, pol)
				}
				for round := 0; round < 2; round++ { // the second round signs in again
					for _, p := range platforms {
						plat, _ := provision.LookupClientPlatform(p)
						d, created, err := e.svc.AutoProvisionClient(ctx, on(p, "alice"))
						allowed := pol == provision.WebexDesktopAndMobile || (pol == provision.WebexDesktopOnly) == (plat.Class == provision.ClassDesktop)
						if !allowed {
							if provision.CodeOf(err) != provision.CodeAutoProvPolicy {
								t.Fatalf("%s: %v, want policy refusal", p, err)
							}
							continue
						}
						if err != nil {
							t.Fatalf("%s: %v", p, err)
						}
						first := round == 0 && (p == "windows" || p == "android" || p == "iphone" || p == "ipad")
						if created != first || !strings.HasPrefix(d.Name, plat.Prefix) || d.Lines[0].DN != "2001" {
							t.Fatalf("%s round %d: %q created=%v line %+v", p, round, d.Name, created, d.Lines)
						}
						m, _ := e.svc.Model(d.Model)
						if m.Prefix != plat.Prefix {
							t.Fatalf("%s: model %d has prefix %s", p, d.Model, m.Prefix)
						}
					}
				}
				u, ds, err := e.svc.UserDevices(ctx, "alice")
				if err != nil || u.ID != "alice" {
					t.Fatal(u.ID, err)
				}
				var got []string
				for _, d := range ds {
					got = append(got, d.Name)
					if d.Lines[0].DN != u.PrimaryExtension {
						t.Fatalf("%s line %s", d.Name, d.Lines[0].DN)
					}
				}
				if strings.Join(got, ",") != strings.Join(names, ",") {
					t.Fatalf("devices %v, want %v", got, names)
				}
			})
		}
	}
}

func TestAutoProvisionConcurrentSignIns(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	const n = 8
	type res struct {
		name    string
		created bool
		err     error
	}
	out := make(chan res, n)
	for i := 0; i < n; i++ {
		go func() {
			d, c, err := e.svc.AutoProvisionClient(ctx, on([]string{"windows", "mac"}[i%2], "alice"))
			out <- res{d.Name, c, err}
		}()
	}
	creates := 0
	for i := 0; i < n; i++ {
		r := <-out
		if r.err != nil || r.name != "CSFalice" {
			t.Fatalf("%+v", r)
		}
		if r.created {
			creates++
		}
	}
	if creates != 1 || e.deviceCount(t) != 1 {
		t.Fatalf("%d creations, %d devices; want 1, 1", creates, e.deviceCount(t))
	}
}

func TestClientDeviceName(t *testing.T) {
	for _, tt := range []struct{ prefix, id, want string }{
		{"CSF", "rado", "CSFrado"},
		{"TCT", "tadams", "TCTTADAMS"},
		{"BOT", "a b@c.d", "BOTABC.D"},
		{"TAB", "x_y-z.w", "TABX_Y-Z.W"},
		{"CSF", "123456789012345", "CSF123456789012"},
		{"CSF", "ü", ""},
		{"CSF", "", ""},
	} {
		if got := provision.ClientDeviceName(tt.prefix, tt.id); got != tt.want {
			t.Errorf("ClientDeviceName(%q, %q) = %q, want %q", tt.prefix, tt.id, got, tt.want)
		}
	}
}

func FuzzClientDeviceName(f *testing.F) {
	for _, s := range []string{"alice", "j.doe@example.com", "日本", "", strings.Repeat("x", 200), "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		for _, p := range []string{provision.PrefixCSF, provision.PrefixBOT, provision.PrefixTCT, provision.PrefixTAB} {
			name := provision.ClientDeviceName(p, id)
			if name == "" {
				continue
			}
			// Every name made is a valid device name, and canonical already.
			canon, err := provision.CanonicalDeviceName(name)
			if err != nil || canon != name {
				t.Fatalf("%q → %q: canonical %q, %v", id, name, canon, err)
			}
		}
	})
}

func FuzzParseClientVersion(f *testing.F) {
	for _, s := range []string{"41.12", "41.12.0.1234", "41", "abc", "", "41..12", "+1", "999999999.1", "1.2.3.4.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		major, minor, err := provision.ParseClientVersion(v)
		if err != nil {
			if provision.CodeOf(err) != provision.CodeAutoProvVersion {
				t.Fatalf("%q: code %s", v, provision.CodeOf(err))
			}
			return
		}
		// Accepted: 1 to 4 all-digit parts, the first two read as numbers.
		parts := strings.Split(v, ".")
		wantMinor := 0
		if len(parts) > 1 {
			wantMinor, _ = strconv.Atoi(parts[1])
		}
		wantMajor, aerr := strconv.Atoi(parts[0])
		if len(parts) > 4 || aerr != nil || strings.ContainsAny(v, "+- ") || major != wantMajor || minor != wantMinor {
			t.Fatalf("%q → %d.%d", v, major, minor)
		}
	})
}

// BenchmarkAutoProvisionClient: creating a client device, and a client
// signing in again (the common case: every Webex App start).
func BenchmarkAutoProvisionClient(b *testing.B) {
	ctx := context.Background()
	b.Run("create", func(b *testing.B) {
		e := newEnv(b, nil)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			d, created, err := e.svc.AutoProvisionClient(ctx, win("alice"))
			if err != nil || !created {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := e.st.DeleteDevice(ctx, d.Name, time.Time{}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("sign-in-again", func(b *testing.B) {
		e := newEnv(b, nil)
		if _, _, err := e.svc.AutoProvisionClient(ctx, win("alice")); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, created, err := e.svc.AutoProvisionClient(ctx, on("mac", "alice")); err != nil || created {
				b.Fatal(err)
			}
		}
	})
}
