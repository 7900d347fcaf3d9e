package configs

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"selfprov/provision"
	"selfprov/store/sqlite"
)

func TestDemoSeedsAndSelfProvisions(t *testing.T) {
	ctx := context.Background()
	cfg, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Advertise = "192.0.2.10"
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "selfprov.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err := provision.New(provision.Options{Store: st, Models: cfg.Models, URLVars: cfg.URLVars()})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Seed(ctx, svc); err != nil {
		t.Fatal(err)
	}
	d, created, err := svc.AutoRegister(ctx, "SEP001122aabbcc", 36224)
	if err != nil || !created {
		t.Fatalf("AutoRegister = %v, %v", created, err)
	}
	if d.Lines[0].DN != "1000" || d.Description != "Auto 1000" {
		t.Fatalf("auto-registered device %+v", d)
	}
	if want := "http://192.0.2.10:8080/xps/idle?name=SEP001122AABBCC"; d.Settings.IdleURL != want {
		t.Fatalf("idle URL %q, want %q", d.Settings.IdleURL, want)
	}
	if _, err := svc.Login(ctx, d.Name, provision.Credentials{UserID: "alice", Secret: "12345"}); err != nil {
		t.Fatal(err)
	}
	nd, err := svc.SelfProvision(ctx, d.Name, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if nd.Owner != "alice" || nd.Lines[0].DN != "2001" || nd.Settings.IdleURL != "" || nd.State != provision.StateProvisioned {
		t.Fatalf("provisioned device %+v", nd)
	}
}

func TestSeedIsIdempotent(t *testing.T) {
	ctx := context.Background()
	cfg, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "selfprov.db")
	open := func() (*sqlite.Store, *provision.Service) {
		st, svc, _ := openService(t, cfg, path)
		if err := cfg.Seed(ctx, svc); err != nil {
			t.Fatal(err)
		}
		return st, svc
	}
	st, svc := open()
	before, _ := st.User(ctx, "alice")
	// A run-time change that a second seeding must keep.
	if _, err := svc.UpdateCluster(ctx, func(c *provision.Cluster) error { c.AutoRegistration.Enabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, provision.User{ID: "zed", LastName: "Zed"}, provision.Secrets{PIN: "1111"}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, svc = open()
	defer st.Close()
	after, _ := st.User(ctx, "alice")
	if before.PINHash != after.PINHash {
		t.Error("reseeding changed alice's PIN hash")
	}
	if c, _ := svc.Cluster(ctx); c.AutoRegistration.Enabled {
		t.Error("reseeding reverted the run-time auto-registration change")
	}
	if _, err := st.User(ctx, "zed"); err != nil {
		t.Errorf("run-time user lost: %v", err)
	}
}

func TestInvalidConfigListsEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	bad := `
listen:
  sip: "no-port"
sip:
  defaultExpires: 0
  autoRegPerSource: {perMinute: -1}
  maxConnectionsPerSource: 0
  idleTimeout: 10ms
cluster:
  authMode: sometimes
  autoRegistration: {enabled: true, udt: Missing, ult: Missing, startDN: "200", endDN: "100"}
users:
  - {userId: "a b", lastName: ""}
`
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil {
		t.Fatal("Load accepted an invalid config")
	}
	for _, want := range []string{"listen.sip", "defaultExpires", "sip.autoRegPerSource", "maxConnectionsPerSource", "idleTimeout", "authentication mode", "start 200 is after end 100",
		`udt: "Missing" is not one of udts`, "user ID", "last name is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestUnknownFieldIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "typo.yaml")
	os.WriteFile(path, []byte("advertize: 10.0.0.1\ncluster:\n  authMod: none\n"), 0o600)
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "advertize") || !strings.Contains(err.Error(), "authMod") {
		t.Fatalf("Load = %v, want both unknown fields reported", err)
	}
}

// Each testdata/invalid-*.yml names the exact problems it must give in
// "# want: " lines, in order.
func TestInvalidConfigsGiveTheirExactMessages(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid-*.yml")
	if err != nil || len(files) < 5 {
		t.Fatalf("invalid configs: %v, %v", files, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, l := range strings.Split(string(data), "\n") {
			if w, ok := strings.CutPrefix(l, "# want: "); ok {
				want = append(want, w)
			}
		}
		_, err = Load(f)
		if err == nil {
			t.Errorf("%s: accepted", f)
			continue
		}
		if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\ngot:\n%s\nwant:\n%s", f, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, goName := range []string{"int", "bool", "configs.", "provision.", "time.Duration", "[]"} {
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.Contains(l, " "+goName) || strings.Contains(l, "into "+goName) {
					t.Errorf("%s: a Go type name in %q", f, l)
				}
			}
		}
	}
}

// keyPaths lists the leaf keys of t, list items written [].
func keyPaths(t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
	case t.Kind() == reflect.Struct:
		for name, ft := range yamlFields(t) {
			keyPaths(ft, joinPath(path, name), out)
		}
		return
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		keyPaths(t.Elem(), path+"[]", out)
		return
	}
	*out = append(*out, path)
}

// demo.yaml shows every key of the configuration, so that no setting is
// hidden; the model catalogue's keys are shown in models.yaml, which
// demo.yaml points to.
func TestDemoShowsEveryKey(t *testing.T) {
	var want []string
	keyPaths(reflect.TypeFor[Config](), "", &want)
	have := map[string]bool{}
	for _, src := range [][]byte{demoYAML, modelsYAML} {
		var doc yaml.Node
		if err := yaml.Unmarshal(src, &doc); err != nil {
			t.Fatal(err)
		}
		lines := map[string]int{}
		nodeLines(&doc, "", lines)
		for p := range lines {
			have[regexp.MustCompile(`\[\d+\]`).ReplaceAllString(p, "[]")] = true
		}
	}
	if len(want) < 60 {
		t.Fatalf("only %d keys found in the configuration's types: %v", len(want), want)
	}
	slices.Sort(want)
	for _, k := range want {
		if !have[k] {
			t.Errorf("configs/demo.yaml does not show %s", k)
		}
	}
	// Every value it shows for a key with a default is that default.
	demo, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	def := Default()
	if demo.DataDir != def.DataDir || demo.Listen != def.Listen || demo.TLS != def.TLS || demo.SIP != def.SIP ||
		demo.LogLevel != def.LogLevel || demo.Advertise != def.Advertise || demo.AdminToken != def.AdminToken || demo.StaticDir != def.StaticDir {
		t.Errorf("demo.yaml differs from the defaults:\n%+v\n%+v", demo, def)
	}
}

// The demo configuration carries the per-source limit on new devices that
// the defaults hold, and a file without it gets the same.
func TestAutoRegPerSourceDefaults(t *testing.T) {
	demo, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	want := AutoRegLimit{PerMinute: 60, Burst: 200}
	if demo.SIP.AutoRegPerSource != want || Default().SIP.AutoRegPerSource != want {
		t.Fatalf("demo %+v, default %+v, want %+v", demo.SIP.AutoRegPerSource, Default().SIP.AutoRegPerSource, want)
	}
	path := filepath.Join(t.TempDir(), "off.yaml")
	if err := os.WriteFile(path, []byte("sip:\n  autoRegPerSource: {perMinute: 0}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.AutoRegPerSource.PerMinute != 0 || c.SIP.DefaultExpires != 120 {
		t.Fatalf("sip %+v", c.SIP)
	}
}

// openService opens the store at path and a Service on it for cfg; close
// closes the store.
func openService(t *testing.T, cfg *Config, path string) (st *sqlite.Store, svc *provision.Service, close func()) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	svc, err = provision.New(provision.Options{Store: st, Models: cfg.Models, URLVars: cfg.URLVars()})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	return st, svc, func() { st.Close() }
}

// TestSeedImportsManyUsersAtOnce: the configuration's missing users are
// created in one transaction, each as one CreateUser would, and a restart
// with more users adds only those.
func TestSeedImportsManyUsersAtOnce(t *testing.T) {
	ctx := context.Background()
	cfg, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Users = []UserConfig{
		{ID: "ula", LastName: "Ulm", FirstName: "Ula", Email: "ula@example.com", SelfServiceID: "7001",
			PrimaryExtension: "7001", Partition: "Internal", UserProfile: "Standard User Profile",
			WebexPolicy: provision.WebexDesktopOnly, PIN: "24680", Password: "pass, with \"quotes\""},
		{ID: "vic", LastName: "Vale", PrimaryExtension: "7002", PIN: "13579"},
	}
	path := filepath.Join(t.TempDir(), "selfprov.db")
	seed := func() (gen uint64) {
		t.Helper()
		st, svc, closeStore := openService(t, cfg, path)
		defer closeStore()
		before := st.Generation()
		if err := cfg.seedUsers(ctx, svc); err != nil {
			t.Fatal(err)
		}
		for _, c := range cfg.Users {
			u, err := st.User(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := c.User()
			want.PINHash, want.PasswordHash = u.PINHash, u.PasswordHash
			if !reflect.DeepEqual(u, want) {
				t.Errorf("user %s:\n got %+v\nwant %+v", c.ID, u, want)
			}
			if !provision.VerifySecret(u.PINHash, c.PIN) || (c.Password != "" && !provision.VerifySecret(u.PasswordHash, c.Password)) {
				t.Errorf("user %s: the configured secrets do not verify", c.ID)
			}
		}
		return st.Generation() - before
	}
	_, svc, closeStore := openService(t, cfg, path)
	err = cfg.Seed(ctx, svc) // the objects users name
	closeStore()
	if err != nil {
		t.Fatal(err)
	}
	if n := seed(); n != 0 {
		t.Errorf("reseeding the same users wrote %d times", n)
	}
	cfg.Users = append(cfg.Users,
		UserConfig{ID: "wes", LastName: "West", PrimaryExtension: "7003", PIN: "11111"},
		UserConfig{ID: "xia", LastName: "Xu", PIN: "22222"})
	if n := seed(); n != 1 {
		t.Errorf("two new users took %d transactions, want 1", n)
	}
}

// TestSeedUsersRefusedNamesTheUser: when the import is refused, the users
// are created one at a time, and the refusal names its user.
func TestSeedUsersRefusedNamesTheUser(t *testing.T) {
	ctx := context.Background()
	cfg, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	st, svc, closeStore := openService(t, cfg, filepath.Join(t.TempDir(), "selfprov.db"))
	defer closeStore()
	if err := cfg.Seed(ctx, svc); err != nil {
		t.Fatal(err)
	}
	cfg.Users = []UserConfig{
		{ID: "yan", LastName: "Yates", PrimaryExtension: "7004"},
		{ID: "zoe", LastName: "Z", UserProfile: "No Such Profile"},
	}
	err = cfg.seedUsers(ctx, svc)
	if err == nil || !strings.Contains(err.Error(), `seed user "zoe"`) {
		t.Fatalf("seedUsers = %v, want a refusal of zoe", err)
	}
	if _, err := st.User(ctx, "yan"); err != nil {
		t.Errorf("the user before the refused one: %v", err)
	}
}
