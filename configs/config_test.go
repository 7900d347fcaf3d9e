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
	if _, err := svc.Login(ctx, d.Name, "alice", "12345"); err != nil {
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
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := provision.New(provision.Options{Store: st, Models: cfg.Models, URLVars: cfg.URLVars()})
		if err != nil {
			t.Fatal(err)
		}
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
	for _, want := range []string{"listen.sip", "defaultExpires", "maxConnectionsPerSource", "idleTimeout", "authentication mode", "start 200 is after end 100",
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
