package provision_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"selfprov/configs"
	"selfprov/internal/coretest"
	"selfprov/provision"
	"selfprov/store/sqlite"
)

// provisionUpTo self-provisions n fresh phones for user, from MAC index
// first on, and then expects the next one to be refused at login and at
// confirm with SELFPROV_DEVICE_LIMIT.
func provisionUpTo(t *testing.T, e *env, user string, first, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		d := e.autoRegister(t, mac(first+i), 36224)
		if _, err := e.svc.Login(ctx, d.Name, provision.Credentials{UserID: user, Secret: "12345"}); err != nil {
			t.Fatalf("phone %d login: %v", i+1, err)
		}
		if _, err := e.svc.SelfProvision(ctx, d.Name, user); err != nil {
			t.Fatalf("phone %d: %v", i+1, err)
		}
	}
	d := e.autoRegister(t, mac(first+n), 36224)
	if _, err := e.svc.Login(ctx, d.Name, provision.Credentials{UserID: user, Secret: "12345"}); !errors.Is(err, provision.ErrDeviceLimit) {
		t.Fatalf("phone %d login: %v; want %s", n+1, err, provision.CodeDeviceLimit)
	}
	if _, err := e.svc.SelfProvision(ctx, d.Name, user); !errors.Is(err, provision.ErrDeviceLimit) {
		t.Fatalf("phone %d confirm: %v; want %s", n+1, err, provision.CodeDeviceLimit)
	}
}

func TestDeviceLimitDefaultsToTen(t *testing.T) {
	// The seed's profile leaves deviceLimit out, as a YAML file may.
	e := newEnv(t, func(c *configs.Config) { c.UserProfiles[0].DeviceLimit = 0 })
	ctx := context.Background()
	p, err := e.svc.UserProfile(ctx, "Standard User Profile")
	if err != nil || p.DeviceLimit != provision.DefaultDeviceLimit {
		t.Fatalf("seeded profile: limit %d, %v; want 10", p.DeviceLimit, err)
	}
	if stored, _ := e.st.UserProfile(ctx, "Standard User Profile"); stored.DeviceLimit != 10 {
		t.Fatalf("stored limit %d, want 10", stored.DeviceLimit)
	}
	provisionUpTo(t, e, "alice", 0, 10)

	// A profile stored without a limit, before the default was applied,
	// behaves as 10 as well.
	stored, _ := e.st.UserProfile(ctx, "Standard User Profile")
	stored.DeviceLimit = 0
	if err := e.st.PutUserProfile(ctx, stored); err != nil {
		t.Fatal(err)
	}
	if all, err := e.svc.UserProfiles(ctx); err != nil || len(all) != 1 || all[0].DeviceLimit != 10 {
		t.Fatalf("listed profiles %+v, %v; want limit 10", all, err)
	}
	provisionUpTo(t, e, "bob", 100, 10)
}

func TestDeviceLimitSetIsKept(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) { c.UserProfiles[0].DeviceLimit = 12 })
	provisionUpTo(t, e, "alice", 0, 12)
	err := e.svc.PutUserProfile(context.Background(), provision.UserProfile{Name: "Neg", DeviceLimit: -1})
	if !errors.Is(err, provision.ErrInvalid) {
		t.Fatalf("negative limit: %v", err)
	}
}

// Every place that assigns a user's primary extension refuses one inside
// the active auto-registration range, naming the extension, its user and
// the range; nothing is written.
func TestPrimaryExtensionInAutoRegRangeIsRefused(t *testing.T) {
	e := newEnv(t, usersInNone) // auto-registration on, 1000–1999, all in <None>
	ctx := context.Background()
	const want = "primary extension 1500 of user zoe is inside the auto-registration range 1000\u20131999"
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, provision.ErrDNInAutoRegRange) || provision.CodeOf(err) != provision.CodeDNInAutoRegRange {
			t.Fatalf("%s: %v; want %s", what, err, provision.CodeDNInAutoRegRange)
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: message %q does not say %q", what, err, want)
		}
	}
	zoe := provision.User{ID: "zoe", LastName: "Z", PrimaryExtension: "1500", UserProfile: "Standard User Profile"}
	_, err := e.svc.CreateUser(ctx, zoe, provision.Secrets{PIN: "1234"})
	refused("create", err)
	_, _, err = e.svc.QuickAdd(ctx, provision.QuickAdd{User: provision.User{ID: "zoe", LastName: "Z", PrimaryExtension: "1500"}, FeatureGroupTemplate: "Standard Users"})
	refused("quick add", err)
	_, _, err = e.svc.QuickAdd(ctx, provision.QuickAdd{User: provision.User{ID: "zoe", LastName: "Z", PrimaryExtension: "1500"},
		FeatureGroupTemplate: "Standard Users", DeviceMAC: mac(9), DeviceModel: 36224})
	refused("quick add with a phone", err)
	if _, err := e.st.User(ctx, "zoe"); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("a refused user was stored: %v", err)
	}
	if _, err := e.st.Device(ctx, "SEP"+mac(9)); !errors.Is(err, provision.ErrDeviceNotFound) {
		t.Fatalf("a refused phone was stored: %v", err)
	}

	// Outside the range, or in another partition, it is accepted.
	zoe.PrimaryExtension = "3500"
	if _, err := e.svc.CreateUser(ctx, zoe, provision.Secrets{PIN: "1234"}); err != nil {
		t.Fatal(err)
	}
	zoe.PrimaryExtension = "1500"
	_, err = e.svc.UpdateUser(ctx, zoe, provision.Secrets{})
	refused("update", err)
	if u, _ := e.st.User(ctx, "zoe"); u.PrimaryExtension != "3500" {
		t.Fatalf("a refused update was stored: %+v", u)
	}
	if err := e.svc.PutPartition(ctx, provision.Partition{Name: "Lab"}); err != nil {
		t.Fatal(err)
	}
	zoe.Partition = "Lab"
	if _, err := e.svc.UpdateUser(ctx, zoe, provision.Secrets{}); err != nil {
		t.Fatalf("another partition: %v", err)
	}

	// With auto-registration off the extension is free; turning it on
	// over it is refused, naming the extension and its user.
	if _, err := e.svc.UpdateCluster(ctx, func(c *provision.Cluster) error { c.AutoRegistration.Enabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	zoe.Partition = ""
	if _, err := e.svc.UpdateUser(ctx, zoe, provision.Secrets{}); err != nil {
		t.Fatalf("auto-registration off: %v", err)
	}
	_, err = e.svc.UpdateCluster(ctx, func(c *provision.Cluster) error { c.AutoRegistration.Enabled = true; return nil })
	if provision.CodeOf(err) != provision.CodeDNInAutoRegRange || !strings.Contains(err.Error(), "range 1000\u20131999 covers") ||
		!strings.Contains(err.Error(), "primary extension 1500 of user zoe") {
		t.Fatalf("enabling over an extension: %v", err)
	}
	if c, _ := e.svc.Cluster(ctx); c.AutoRegistration.Enabled {
		t.Fatal("a refused change was applied")
	}
	// Editing something else of a user whose extension a range covers
	// is not refused.
	zoe.FirstName = "Zoe"
	if _, err := e.svc.UpdateUser(ctx, zoe, provision.Secrets{}); err != nil {
		t.Fatalf("unrelated edit: %v", err)
	}
}

// A user's extension follows the partition of their profile's line
// template when the user names none, as their lines do.
func TestExtensionClashUsesTheLinePartition(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) {
		for i := range c.ULTs {
			if c.ULTs[i].Name == "User Line Template" {
				c.ULTs[i].RoutePartition = "Internal"
			}
		}
	})
	ctx := context.Background()
	u := provision.User{ID: "zoe", LastName: "Z", PrimaryExtension: "1500", UserProfile: "Standard User Profile"}
	if _, err := e.svc.CreateUser(ctx, u, provision.Secrets{}); err != nil {
		t.Fatalf("extension in partition Internal, range in <None>: %v", err)
	}
	u.ID, u.UserProfile = "yan", "" // no profile: the default system profile
	if _, err := e.svc.CreateUser(ctx, u, provision.Secrets{}); err != nil {
		t.Fatalf("default profile: %v", err)
	}
	_, err := e.svc.UpdateCluster(ctx, func(c *provision.Cluster) error { c.AutoRegistration.Partition = "Internal"; return nil })
	if provision.CodeOf(err) != provision.CodeDNInAutoRegRange || !strings.Contains(err.Error(), "primary extension 1500 of user yan") ||
		!strings.Contains(err.Error(), "primary extension 1500 of user zoe") {
		t.Fatalf("range moved into their partition: %v", err)
	}
}

// interleavingStore starts a cluster change from inside the write of a new
// user, the moment a check-then-write without a lock would lose.
type interleavingStore struct {
	*sqlite.Store
	during func()        // run once, in CreateUser before the write
	saved  chan struct{} // a cluster save happened
}

func (s *interleavingStore) CreateUser(ctx context.Context, u provision.User, d *provision.Device) error {
	if f := s.during; f != nil {
		s.during = nil
		f()
	}
	return s.Store.CreateUser(ctx, u, d)
}

func (s *interleavingStore) SaveCluster(ctx context.Context, c provision.Cluster) error {
	err := s.Store.SaveCluster(ctx, c)
	select {
	case s.saved <- struct{}{}:
	default:
	}
	return err
}

// A range turned on while a user in it is being created: one of the two
// is refused, never both accepted.
func TestExtensionAndRangeChangesDoNotRace(t *testing.T) {
	var st *interleavingStore
	c := coretest.New(t, coretest.Options{Change: usersInNone, Wrap: func(s *sqlite.Store) provision.Store {
		st = &interleavingStore{Store: s, saved: make(chan struct{}, 1)}
		return st
	}})
	svc, ctx := c.Svc, context.Background()
	if _, err := svc.UpdateCluster(ctx, func(c *provision.Cluster) error { c.AutoRegistration.Enabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	<-st.saved
	rangeErr := make(chan error, 1)
	st.during = func() {
		go func() {
			_, err := svc.UpdateCluster(ctx, func(c *provision.Cluster) error { c.AutoRegistration.Enabled = true; return nil })
			rangeErr <- err
		}()
		// Unguarded, the change checks and saves now, before the user is
		// written; guarded, it waits for the user, and this wait runs out.
		select {
		case <-st.saved:
		case <-time.After(200 * time.Millisecond):
		}
	}
	_, userErr := svc.CreateUser(ctx, provision.User{ID: "zoe", LastName: "Z", PrimaryExtension: "1500"}, provision.Secrets{})
	if err := <-rangeErr; (userErr == nil) == (err == nil) {
		t.Fatalf("user: %v; range: %v; want exactly one refused", userErr, err)
	}
}

// A line template or profile change that would put users' extensions, or
// the range, into the other's partition is refused before it is written.
func TestTemplateChangesCannotMoveADNIntoTheRange(t *testing.T) {
	e := newEnv(t, nil) // range 1000–1999 in <None>, via the auto-registration ULT
	ctx := context.Background()
	ult, err := e.st.ULT(ctx, "User Line Template")
	if err != nil {
		t.Fatal(err)
	}
	// zoe's extension is in the range's digits, but in partition Internal.
	ult.RoutePartition = "Internal"
	if err := e.svc.PutULT(ctx, ult); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateUser(ctx, provision.User{ID: "zoe", LastName: "Z", PrimaryExtension: "1500", UserProfile: "Standard User Profile"}, provision.Secrets{}); err != nil {
		t.Fatal(err)
	}

	ult.RoutePartition = ""
	err = e.svc.PutULT(ctx, ult)
	if provision.CodeOf(err) != provision.CodeDNInAutoRegRange || !strings.Contains(err.Error(), `universal line template "User Line Template" in partition ""`) ||
		!strings.Contains(err.Error(), "primary extension 1500 of user zoe") {
		t.Fatalf("user line template back to <None>: %v", err)
	}
	if got, _ := e.st.ULT(ctx, "User Line Template"); got.RoutePartition != "Internal" {
		t.Fatal("the refused template was stored")
	}

	autoULT, _ := e.st.ULT(ctx, "Auto-registration Line Template")
	autoULT.RoutePartition = "Internal"
	if err := e.svc.PutULT(ctx, autoULT); provision.CodeOf(err) != provision.CodeDNInAutoRegRange {
		t.Fatalf("auto-registration line template into Internal: %v", err)
	}

	if err := e.svc.PutULT(ctx, provision.ULT{Name: "Plain"}); err != nil {
		t.Fatal(err)
	}
	prof, _ := e.svc.UserProfile(ctx, "Standard User Profile")
	prof.ULT = "Plain"
	if err := e.svc.PutUserProfile(ctx, prof); provision.CodeOf(err) != provision.CodeDNInAutoRegRange ||
		!strings.Contains(err.Error(), `user profile "Standard User Profile"`) {
		t.Fatalf("profile onto a line template in <None>: %v", err)
	}
	// Other changes go through.
	prof.ULT = "User Line Template"
	prof.AllowSelfProvision = false
	if err := e.svc.PutUserProfile(ctx, prof); err != nil {
		t.Fatal(err)
	}
	ult.RoutePartition, ult.MaxCalls = "Internal", 6
	if err := e.svc.PutULT(ctx, ult); err != nil {
		t.Fatal(err)
	}
}
