package configs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"selfprov/provision"
	"selfprov/store/sqlite"
)

// seedFile loads the YAML text and seeds it into the database at path,
// as selfprovd does at each start.
func seedFile(t *testing.T, path, yaml string) (*sqlite.Store, *provision.Service) {
	t.Helper()
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Advertise = "pbx.example.net"
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := provision.New(provision.Options{Store: st, Models: cfg.Models, URLVars: cfg.URLVars()})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Seed(ctx, svc); err != nil {
		t.Fatal(err)
	}
	return st, svc
}

func autoRegTemplates(t *testing.T, st *sqlite.Store) []provision.UDT {
	t.Helper()
	all, err := st.UDTs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []provision.UDT
	for _, u := range all {
		if u.Name == provision.AutoRegistrationTemplate {
			out = append(out, u)
		}
	}
	return out
}

// The "Auto-registration Template" exists from first start with any
// configuration, and Webex auto-provisioning of a user without devices or
// profile falls back to it.
func TestAutoRegistrationTemplateExistsWithAMinimalConfig(t *testing.T) {
	ctx := context.Background()
	for name, yaml := range map[string]string{
		"empty":      "",
		"users only": "users:\n  - {userId: ann, lastName: Ash, primaryExtension: \"3001\", pin: \"1234\"}\n",
	} {
		t.Run(name, func(t *testing.T) {
			st, svc := seedFile(t, filepath.Join(t.TempDir(), "selfprov.db"), yaml)
			got := autoRegTemplates(t, st)
			if len(got) != 1 {
				t.Fatalf("%d auto-registration templates, want 1", len(got))
			}
			if want := "http://#SERVICEHOST#/xps/idle?name=#DEVICENAME#"; got[0].IdleURL != want {
				t.Fatalf("idle URL %q, want %q", got[0].IdleURL, want)
			}
			if name == "empty" {
				return
			}
			d, created, err := svc.AutoProvisionClient(ctx, provision.ClientRequest{User: "ann", Platform: "windows", AppVersion: "41.12"})
			if err != nil || !created {
				t.Fatalf("auto-provisioning: created=%v %v", created, err)
			}
			if d.UDT != provision.AutoRegistrationTemplate || d.Settings.IdleURL != "http://pbx.example.net:8080/xps/idle?name=CSFann" {
				t.Fatalf("device from %q with idle URL %q", d.UDT, d.Settings.IdleURL)
			}
		})
	}
}

// Auto-registration may name the system template without the configuration
// defining it.
func TestConfigMayNameTheSystemTemplate(t *testing.T) {
	yaml := "cluster:\n  autoRegistration: {enabled: true, udt: Auto-registration Template, ult: L, startDN: \"1000\", endDN: \"1099\"}\nults:\n  - {name: L}\n"
	_, svc := seedFile(t, filepath.Join(t.TempDir(), "selfprov.db"), yaml)
	d, _, err := svc.AutoRegister(context.Background(), "SEP001122334455", 36224)
	if err != nil || d.Settings.IdleURL != "http://pbx.example.net:8080/xps/idle?name=SEP001122334455" {
		t.Fatalf("auto-registered %+v, %v", d.Settings, err)
	}
}

// A restart neither duplicates nor overwrites the template an
// administrator changed; one deleted comes back.
func TestAutoRegistrationTemplateSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "selfprov.db")
	st, svc := seedFile(t, path, "")
	changed := AutoRegistrationTemplate()
	changed.IdleURL = "http://192.0.2.7:8080/xps/idle?name=#DEVICENAME#"
	changed.IdleTimeout = 30
	if err := svc.PutUDT(ctx, changed); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, svc = seedFile(t, path, "")
	if got := autoRegTemplates(t, st); len(got) != 1 || got[0] != changed {
		t.Fatalf("after restart: %+v, want the changed template alone", got)
	}
	if err := svc.DeleteUDT(ctx, provision.AutoRegistrationTemplate); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, _ = seedFile(t, path, "")
	if got := autoRegTemplates(t, st); len(got) != 1 || got[0] != AutoRegistrationTemplate() {
		t.Fatalf("after a restart following its deletion: %+v", got)
	}
}

// Seeding refuses a user's extension inside the auto-registration range,
// on the first start (the range is then refused) as on a later one (the
// user is then refused), naming both sides.
func TestSeedRefusesAnExtensionInTheAutoRegRange(t *testing.T) {
	ctx := context.Background()
	const base = "cluster:\n  autoRegistration: {enabled: true, udt: Auto-registration Template, ult: L, startDN: \"1000\", endDN: \"1999\"}\nults:\n  - {name: L}\nusers:\n  - {userId: ann, lastName: Ash, primaryExtension: \"3001\"}\n"
	seed := func(path, yaml string) error {
		file := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(file)
		if err != nil {
			t.Fatal(err)
		}
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		svc, err := provision.New(provision.Options{Store: st, Models: cfg.Models, URLVars: cfg.URLVars()})
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Seed(ctx, svc)
	}
	clash := "  - {userId: zoe, lastName: Z, primaryExtension: \"1500\"}\n"

	err := seed(filepath.Join(t.TempDir(), "selfprov.db"), base+clash)
	if provision.CodeOf(err) != provision.CodeDNInAutoRegRange || !strings.Contains(err.Error(), "seed cluster") ||
		!strings.Contains(err.Error(), "range 1000\u20131999 covers directory numbers in use: primary extension 1500 of user zoe") {
		t.Fatalf("first start: %v", err)
	}

	path := filepath.Join(t.TempDir(), "selfprov.db")
	if err := seed(path, base); err != nil {
		t.Fatal(err)
	}
	err = seed(path, base+clash)
	if provision.CodeOf(err) != provision.CodeDNInAutoRegRange || !strings.Contains(err.Error(), `seed user "zoe"`) ||
		!strings.Contains(err.Error(), "primary extension 1500 of user zoe is inside the auto-registration range 1000\u20131999") {
		t.Fatalf("later start: %v", err)
	}
}

// A profile seeded from YAML without deviceLimit is stored with 10.
func TestSeededProfileWithoutDeviceLimit(t *testing.T) {
	yaml := "udts:\n  - {name: D}\nuserProfiles:\n  - {name: P, deskPhoneUDT: D, allowSelfProvision: true}\n"
	st, svc := seedFile(t, filepath.Join(t.TempDir(), "selfprov.db"), yaml)
	ctx := context.Background()
	stored, err := st.UserProfile(ctx, "P")
	if err != nil || stored.DeviceLimit != provision.DefaultDeviceLimit {
		t.Fatalf("stored %+v, %v; want deviceLimit 10", stored, err)
	}
	if p, _ := svc.UserProfile(ctx, "P"); p.Limit() != 10 {
		t.Fatalf("limit %d", p.Limit())
	}
}
