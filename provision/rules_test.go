package provision_test

import (
	"context"
	"errors"
	"testing"

	"selfprov/configs"
	"selfprov/provision"
)

// provisionUpTo self-provisions n fresh phones for user, from MAC index
// first on, and then expects the next one to be refused at login and at
// confirm with SELFPROV_DEVICE_LIMIT.
func provisionUpTo(t *testing.T, e *env, user string, first, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		d := e.autoRegister(t, mac(first+i), 36224)
		if _, err := e.svc.Login(ctx, d.Name, user, "12345"); err != nil {
			t.Fatalf("phone %d login: %v", i+1, err)
		}
		if _, err := e.svc.SelfProvision(ctx, d.Name, user); err != nil {
			t.Fatalf("phone %d: %v", i+1, err)
		}
	}
	d := e.autoRegister(t, mac(first+n), 36224)
	if _, err := e.svc.Login(ctx, d.Name, user, "12345"); !errors.Is(err, provision.ErrDeviceLimit) {
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
