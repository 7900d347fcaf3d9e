package provision_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"selfprov/configs"
	"selfprov/internal/coretest"
	"selfprov/provision"
	"selfprov/store/sqlite"
)

type env struct {
	svc   *provision.Service
	st    *sqlite.Store
	clock *coretest.Clock
	path  string
}

// newEnv returns a Service over a fresh SQLite store seeded with the demo
// configuration; change, if set, edits the configuration first.
func newEnv(t testing.TB, change func(*configs.Config)) *env {
	t.Helper()
	clock := coretest.NewClock(coretest.Epoch)
	c := coretest.New(t, coretest.Options{Change: change, Clock: clock})
	return &env{svc: c.Svc, st: c.Store, clock: clock, path: c.Path}
}

// usersInNone puts users' lines in the <None> partition beside the
// auto-registered ones, as a configuration without partitions does: the
// setting in which a user's extension and the auto-registration range can
// clash.
func usersInNone(c *configs.Config) {
	for i := range c.ULTs {
		if c.ULTs[i].Name == "User Line Template" {
			c.ULTs[i].RoutePartition = ""
		}
	}
}

func (e *env) autoRegister(t testing.TB, mac string, model int) provision.Device {
	t.Helper()
	d, _, err := e.svc.AutoRegister(context.Background(), "SEP"+mac, model)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mac(i int) string { return fmt.Sprintf("0A1B%08X", i) }

func TestAutoRegisterTakesLowestFreeDNAndIsIdempotent(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.autoRegister(t, mac(1), 36224)
	b := e.autoRegister(t, mac(2), 36224)
	if a.Lines[0].DN != "1000" || b.Lines[0].DN != "1001" {
		t.Fatalf("DNs %s, %s; want 1000, 1001", a.Lines[0].DN, b.Lines[0].DN)
	}
	again, created, err := e.svc.AutoRegister(ctx, "sep"+mac(1), 36224)
	if err != nil || created || again.Lines[0].DN != "1000" {
		t.Fatalf("retry: created=%v dn=%v err=%v", created, again.Lines, err)
	}
	// Releasing 1000 hands it out again before 1002.
	if err := e.svc.DeleteDevice(ctx, a.Name); err != nil {
		t.Fatal(err)
	}
	c := e.autoRegister(t, mac(3), 36224)
	if c.Lines[0].DN != "1000" {
		t.Fatalf("after release got %s, want 1000", c.Lines[0].DN)
	}
	if c.Description != "Auto 1000" || c.State != provision.StateAutoRegistered {
		t.Fatalf("device %+v", c)
	}
}

func TestAutoRegisterSkipsDNsUsedByOtherLines(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	// A provisioned line in the range, stored before the core refused such
	// a clash (DN_IN_AUTOREG_RANGE).
	if err := e.st.CreateDevice(ctx, provision.Device{Name: "SEP" + mac(100), Model: 36224, Owner: "alice", State: provision.StateProvisioned,
		Lines: []provision.Line{{Button: 1, DN: "1000"}}, ConfigVersion: "1-x"}); err != nil {
		t.Fatal(err)
	}
	d := e.autoRegister(t, mac(1), 36224)
	if d.Lines[0].DN != "1001" {
		t.Fatalf("got %s, want 1001 (1000 is a user's line)", d.Lines[0].DN)
	}
}

func TestOutcomeCodes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		change func(*configs.Config)
		run    func(t *testing.T, e *env) error
		code   string
	}{
		{"autoreg disabled", func(c *configs.Config) { c.Cluster.AutoRegistration.Enabled = false },
			func(t *testing.T, e *env) error {
				_, _, err := e.svc.AutoRegister(ctx, "SEP"+mac(1), 36224)
				return err
			},
			provision.CodeAutoRegDisabled},
		{"autoreg equal start and end disables", func(c *configs.Config) {
			c.Cluster.AutoRegistration.Range = provision.DNRange{Start: "1000", End: "1000"}
		}, func(t *testing.T, e *env) error {
			_, _, err := e.svc.AutoRegister(ctx, "SEP"+mac(1), 36224)
			return err
		},
			provision.CodeAutoRegDisabled},
		{"autoreg range exhausted", func(c *configs.Config) {
			c.Cluster.AutoRegistration.Range = provision.DNRange{Start: "1000", End: "1001"}
		}, func(t *testing.T, e *env) error {
			e.autoRegister(t, mac(1), 36224)
			e.autoRegister(t, mac(2), 36224)
			_, _, err := e.svc.AutoRegister(ctx, "SEP"+mac(3), 36224)
			return err
		}, provision.CodeAutoRegExhausted},
		{"bad device name", nil,
			func(t *testing.T, e *env) error { _, _, err := e.svc.AutoRegister(ctx, "SEPXYZ", 36224); return err },
			provision.CodeInvalid},
		{"wrong PIN", nil, func(t *testing.T, e *env) error {
			d := e.autoRegister(t, mac(1), 36224)
			_, err := e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "alice", Secret: "999"})
			return err
		}, provision.CodeAuthFailed},
		{"unknown user", nil, func(t *testing.T, e *env) error {
			d := e.autoRegister(t, mac(1), 36224)
			_, err := e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "nobody", Secret: "12345"})
			return err
		}, provision.CodeAuthFailed},
		{"account locked", nil, func(t *testing.T, e *env) error {
			d := e.autoRegister(t, mac(1), 36224)
			e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "alice", Secret: "1"})
			e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "alice", Secret: "2"})
			e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "alice", Secret: "3"})
			_, err := e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "alice", Secret: "12345"}) // right PIN, still locked
			return err
		}, provision.CodeAccountLocked},
		{"not allowed", func(c *configs.Config) { c.UserProfiles[0].AllowSelfProvision = false },
			func(t *testing.T, e *env) error {
				d := e.autoRegister(t, mac(1), 36224)
				_, err := e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "alice", Secret: "12345"})
				return err
			}, provision.CodeNotAllowed},
		{"no primary extension", nil, func(t *testing.T, e *env) error {
			d := e.autoRegister(t, mac(1), 36224)
			_, err := e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "dave", Secret: "12345"})
			return err
		}, provision.CodeNoPrimaryExtension},
		{"device limit", func(c *configs.Config) { c.UserProfiles[0].DeviceLimit = 1 },
			func(t *testing.T, e *env) error {
				d1 := e.autoRegister(t, mac(1), 36224)
				d2 := e.autoRegister(t, mac(2), 36224)
				if _, err := e.svc.SelfProvision(ctx, d1.Name, "alice"); err != nil {
					t.Fatal(err)
				}
				_, err := e.svc.Login(ctx, d2.Name, provision.Credentials{UserID: "alice", Secret: "12345"})
				return err
			}, provision.CodeDeviceLimit},
		{"device limit reached between login and confirm", func(c *configs.Config) { c.UserProfiles[0].DeviceLimit = 1 },
			func(t *testing.T, e *env) error {
				d1 := e.autoRegister(t, mac(1), 36224)
				d2 := e.autoRegister(t, mac(2), 36224)
				if _, err := e.svc.Login(ctx, d2.Name, provision.Credentials{UserID: "alice", Secret: "12345"}); err != nil {
					t.Fatal(err)
				}
				if _, err := e.svc.SelfProvision(ctx, d1.Name, "alice"); err != nil {
					t.Fatal(err)
				}
				_, err := e.svc.SelfProvision(ctx, d2.Name, "alice")
				return err
			}, provision.CodeDeviceLimit},
		{"unknown model", nil, func(t *testing.T, e *env) error {
			// A device whose model has left the catalogue since it
			// auto-registered: auto-registration refuses unknown models.
			d := e.autoRegister(t, mac(1), 36224)
			d.Model = 99999
			if err := e.st.ReplaceDevice(ctx, d.Name, d, 0); err != nil {
				t.Fatal(err)
			}
			_, err := e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "alice", Secret: "12345"})
			return err
		}, provision.CodeInvalidModel},
		{"unsupported model", nil, func(t *testing.T, e *env) error {
			d := e.autoRegister(t, mac(1), 7) // Cisco 7960, disabled in the catalogue
			_, err := e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "alice", Secret: "12345"})
			return err
		}, provision.CodeInvalidModel},
		{"no desk phone template", func(c *configs.Config) { c.UserProfiles[0].DeskPhoneUDT = "" },
			func(t *testing.T, e *env) error {
				d := e.autoRegister(t, mac(1), 36224)
				_, err := e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "alice", Secret: "12345"})
				return err
			}, provision.CodeTemplateNotFound},
		{"duplicate assign", usersInNone, func(t *testing.T, e *env) error {
			d := e.autoRegister(t, mac(1), 36224) // takes 1000
			// A clash stored before the core refused it (DN_IN_AUTOREG_RANGE)
			// is still refused by the store.
			bob, _ := e.st.User(ctx, "bob")
			bob.PrimaryExtension = d.Lines[0].DN
			if err := e.st.UpdateUser(ctx, bob); err != nil {
				t.Fatal(err)
			}
			d2 := e.autoRegister(t, mac(2), 36224)
			_, err := e.svc.SelfProvision(ctx, d2.Name, "bob")
			return err
		}, provision.CodeDuplicate},
		{"already provisioned", nil, func(t *testing.T, e *env) error {
			d := e.autoRegister(t, mac(1), 36224)
			if _, err := e.svc.SelfProvision(ctx, d.Name, "alice"); err != nil {
				t.Fatal(err)
			}
			_, err := e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "bob", Secret: "12345"})
			return err
		}, provision.CodeDeviceNotAutoReg},
		{"unknown device", nil, func(t *testing.T, e *env) error {
			_, err := e.svc.Login(ctx, "SEP"+mac(9), provision.Credentials{UserID: "alice", Secret: "12345"})
			return err
		}, provision.CodeDeviceNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.change)
			err := tt.run(t, e)
			if got := provision.CodeOf(err); got != tt.code {
				t.Fatalf("code %q (%v), want %q", got, err, tt.code)
			}
		})
	}
}

func TestSelfProvisionReplacesDevice(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	d := e.autoRegister(t, mac(1), 36224)
	p, err := e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "alice", Secret: "12345"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Extension != "2001" {
		t.Fatalf("plan extension %q", p.Extension)
	}
	nd, err := e.svc.SelfProvision(ctx, d.Name, "alice")
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Device(ctx, d.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != "alice" || got.State != provision.StateProvisioned || got.Lines[0].DN != "2001" ||
		got.Settings.IdleURL != "" || got.ConfigVersion == d.ConfigVersion || got.UDT != "Desk Phone Template" {
		t.Fatalf("provisioned device %+v", got)
	}
	if got.Lines[0].DisplayName != "Alice Adams" || got.Lines[0].Label != "2001 - Adams" || got.Description != "Alice Adams (Cisco 8845)" {
		t.Fatalf("line/description from templates: %+v / %q", got.Lines[0], got.Description)
	}
	if nd.Name != got.Name {
		t.Fatal("returned device differs")
	}
	// The auto-registration DN is free again.
	if n := e.autoRegister(t, mac(2), 36224); n.Lines[0].DN != "1000" {
		t.Fatalf("next auto-registration got %s, want the released 1000", n.Lines[0].DN)
	}
}

func TestCredentialPolicy(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	fail := func() error {
		_, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "alice", Secret: "0000"})
		return err
	}
	ok := func() error {
		_, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "alice", Secret: "12345"})
		return err
	}

	// Two failures, then the window passes: the counter starts again.
	fail()
	fail()
	e.clock.Advance(31 * time.Minute)
	fail()
	fail()
	if err := ok(); err != nil {
		t.Fatalf("counter did not reset after the window: %v", err)
	}
	// A success resets the counter too.
	fail()
	fail()
	if err := ok(); err != nil {
		t.Fatal(err)
	}
	fail()
	fail()
	if err := fail(); !errors.Is(err, provision.ErrAccountLocked) {
		t.Fatalf("third failure: %v, want locked", err)
	}
	if err := ok(); !errors.Is(err, provision.ErrAccountLocked) {
		t.Fatalf("locked account accepted the right PIN: %v", err)
	}
	e.clock.Advance(30 * time.Minute)
	if err := ok(); err != nil {
		t.Fatalf("lockout did not run out: %v", err)
	}
	// Lock again; an administrator unlocks.
	fail()
	fail()
	fail()
	if err := e.svc.Unlock(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := ok(); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	// Password works as well as the PIN.
	if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "alice", Secret: "alice-password"}); err != nil {
		t.Fatal(err)
	}
}

// TestLockoutCountsEveryID: failures typed with the user ID and with the
// self-service ID count against the same account.
func TestLockoutCountsEveryID(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, id := range []string{"2003", "carol", "2003"} {
		e.svc.Authenticate(ctx, provision.Credentials{UserID: id, Secret: "0"})
	}
	for _, id := range []string{"carol", "2003"} {
		if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: id, Secret: "12345"}); !errors.Is(err, provision.ErrAccountLocked) {
			t.Errorf("%s: got %v, want locked after three failures", id, err)
		}
	}
}

func TestLockoutUntilAdminUnlocks(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) { c.Cluster.CredentialPolicy.LockoutDuration = 0 })
	ctx := context.Background()
	for range 3 {
		e.svc.Authenticate(ctx, provision.Credentials{UserID: "bob", Secret: "0"})
	}
	e.clock.Advance(1000 * time.Hour)
	if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "bob", Secret: "12345"}); !errors.Is(err, provision.ErrAccountLocked) {
		t.Fatalf("got %v, want locked until an administrator unlocks", err)
	}
}

func TestAuthModes(t *testing.T) {
	ctx := context.Background()
	t.Run("users-and-admin accepts the authentication code", func(t *testing.T) {
		e := newEnv(t, func(c *configs.Config) {
			c.Cluster.AuthMode = provision.AuthUsersAndAdmin
			c.Cluster.AuthCode = "778899"
		})
		if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "bob", Secret: "778899"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("users mode refuses the authentication code", func(t *testing.T) {
		e := newEnv(t, func(c *configs.Config) { c.Cluster.AuthCode = "778899" })
		if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "bob", Secret: "778899"}); !errors.Is(err, provision.ErrAuthFailed) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("none needs only the user ID or self-service ID", func(t *testing.T) {
		e := newEnv(t, func(c *configs.Config) { c.Cluster.AuthMode = provision.AuthNone })
		if u, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "2003", Secret: ""}); err != nil || u.ID != "carol" {
			t.Fatalf("self-service ID: %v %v", u.ID, err)
		}
		if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "nobody", Secret: ""}); !errors.Is(err, provision.ErrAuthFailed) {
			t.Fatalf("unknown user: %v", err)
		}
	})
}

func TestQuickAdd(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	u, d, err := e.svc.QuickAdd(ctx, provision.QuickAdd{
		User:                 provision.User{ID: "erin", FirstName: "Erin", LastName: "Evans", PrimaryExtension: "2005"},
		Secrets:              provision.Secrets{PIN: "2468"},
		FeatureGroupTemplate: "Standard Users",
		DeviceMAC:            "00:11:22:33:44:55",
		DeviceModel:          36224,
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.UserProfile != "Standard User Profile" || d.Name != "SEP001122334455" || d.Owner != "erin" || d.Lines[0].DN != "2005" {
		t.Fatalf("quick add: %+v %+v", u, d)
	}
	if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "erin", Secret: "2468"}); err != nil {
		t.Fatal(err)
	}
	// The same MAC again is a duplicate, and the user is not half-created.
	_, _, err = e.svc.QuickAdd(ctx, provision.QuickAdd{
		User: provision.User{ID: "frank", LastName: "F", PrimaryExtension: "2006"}, FeatureGroupTemplate: "Standard Users",
		DeviceMAC: "001122334455", DeviceModel: 36224,
	})
	if !errors.Is(err, provision.ErrDuplicate) {
		t.Fatalf("got %v, want duplicate", err)
	}
	if _, err := e.st.User(ctx, "frank"); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("frank was created despite the failed device: %v", err)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	d := e.autoRegister(t, mac(1), 36224)
	e.autoRegister(t, mac(2), 36224)
	if _, err := e.svc.SelfProvision(ctx, d.Name, "alice"); err != nil {
		t.Fatal(err)
	}
	e.svc.Authenticate(ctx, provision.Credentials{UserID: "bob", Secret: "0"})
	want, _ := e.st.Devices(ctx, provision.DeviceFilter{})
	e.st.Close()

	st, err := sqlite.Open(ctx, e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, _ := st.Devices(ctx, provision.DeviceFilter{})
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 2 {
		t.Fatalf("devices after restart:\n%v\nwant\n%v", got, want)
	}
	if u, _ := st.User(ctx, "bob"); u.Credential.FailedAttempts != 1 {
		t.Fatalf("credential state lost: %+v", u.Credential)
	}
	// Allocation continues from the store, not from memory.
	svc, _ := provision.New(provision.Options{Store: st, Models: e.svc.Models()})
	n, _, err := svc.AutoRegister(ctx, "SEP"+mac(3), 36224)
	if err != nil || n.Lines[0].DN != "1000" {
		t.Fatalf("after restart got %v %v, want the DN alice's phone released (1000)", n.Lines, err)
	}
}

func TestConcurrentAutoRegisterOnSmallRange(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) {
		c.Cluster.AutoRegistration.Range = provision.DNRange{Start: "5000", End: "5099"}
	})
	ctx := context.Background()
	const n = 1000
	var wg sync.WaitGroup
	dns := make([]string, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			d, _, err := e.svc.AutoRegister(ctx, "SEP"+mac(i), 36224)
			errs[i] = err
			if err == nil {
				dns[i] = d.Lines[0].DN
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	exhausted := 0
	for i := range n {
		switch {
		case errs[i] == nil:
			if seen[dns[i]] {
				t.Fatalf("DN %s given twice", dns[i])
			}
			seen[dns[i]] = true
		case errors.Is(errs[i], provision.ErrAutoRegExhausted):
			exhausted++
		default:
			t.Fatalf("unexpected error: %v", errs[i])
		}
	}
	if len(seen) != 100 || exhausted != 900 {
		t.Fatalf("%d devices, %d exhausted; want 100 and 900", len(seen), exhausted)
	}
	devs, _ := e.st.Devices(ctx, provision.DeviceFilter{})
	if len(devs) != 100 {
		t.Fatalf("%d devices stored, want 100", len(devs))
	}
}

func TestConcurrentRetriesOfOneDevice(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	dns := make(chan string, 200)
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, _, err := e.svc.AutoRegister(ctx, "SEP"+mac(7), 36224)
			if err != nil {
				t.Error(err)
				return
			}
			dns <- d.Lines[0].DN
		}()
	}
	wg.Wait()
	close(dns)
	for dn := range dns {
		if dn != "1000" {
			t.Fatalf("a retry took DN %s", dn)
		}
	}
}

func TestConcurrentSelfProvisionOfOneDevice(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	d := e.autoRegister(t, mac(1), 36224)
	users := []string{"alice", "bob", "carol", "alice", "bob", "carol", "alice", "bob"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.SelfProvision(ctx, d.Name, u)
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, provision.ErrDeviceNotAutoReg) {
				t.Errorf("loser got %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d winners, want exactly one", wins)
	}
}

func TestConcurrentSelfProvisionAtDeviceLimit(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) { c.UserProfiles[0].DeviceLimit = 2 })
	ctx := context.Background()
	var names []string
	for i := range 10 {
		names = append(names, e.autoRegister(t, mac(i), 36224).Name)
	}
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.SelfProvision(ctx, n, "alice")
			if err != nil && !errors.Is(err, provision.ErrDeviceLimit) {
				t.Errorf("got %v", err)
			}
		}()
	}
	wg.Wait()
	if n, _ := e.st.CountOwnedDevices(ctx, "alice"); n != 2 {
		t.Fatalf("alice owns %d devices, limit 2", n)
	}
}

// TestSecretCosts: with the production costs, a PIN is hashed at the PIN
// cost and a password at the password cost, and both verify.
func TestSecretCosts(t *testing.T) {
	c := coretest.New(t, coretest.Options{HashIterations: -1})
	ctx := context.Background()
	if _, err := c.Svc.CreateUser(ctx, provision.User{ID: "erin", LastName: "Evans", UserProfile: "Standard User Profile"},
		provision.Secrets{PIN: "24680", Password: "erin-password"}); err != nil {
		t.Fatal(err)
	}
	u, err := c.Store.User(ctx, "erin")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("$%d$", provision.DefaultPINHashIterations); !strings.Contains(u.PINHash, want) {
		t.Errorf("PIN hash %q, want cost %s", u.PINHash, want)
	}
	if want := fmt.Sprintf("$%d$", provision.DefaultHashIterations); !strings.Contains(u.PasswordHash, want) {
		t.Errorf("password hash %q, want cost %s", u.PasswordHash, want)
	}
	for _, secret := range []string{"24680", "erin-password"} {
		if _, err := c.Svc.Authenticate(ctx, provision.Credentials{UserID: "erin", Secret: secret}); err != nil {
			t.Errorf("Authenticate with %q: %v", secret, err)
		}
	}
}
