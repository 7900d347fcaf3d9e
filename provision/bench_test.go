package provision_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"selfprov/configs"
	"selfprov/provision"
)

func wideRange(c *configs.Config) {
	c.Cluster.AutoRegistration.Range = provision.DNRange{Start: "10000000", End: "19999999"}
}

// BenchmarkAutoRegister: first-time auto-registrations of distinct devices.
func BenchmarkAutoRegister(b *testing.B) {
	for _, par := range []int{1, 32} {
		b.Run(fmt.Sprintf("callers=%dxGOMAXPROCS", par), func(b *testing.B) { benchAutoRegister(b, par) })
	}
}

// benchAutoRegister: first-time auto-registrations with par×GOMAXPROCS
// concurrent callers, as in a boot storm.
func benchAutoRegister(b *testing.B, par int) {
	e := newEnv(b, wideRange)
	ctx := context.Background()
	var i atomic.Int64
	b.SetParallelism(par)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := e.svc.AutoRegister(ctx, "SEP"+mac(int(i.Add(1))), 36224); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDeviceLookup: a known device by name among 10,000.
func BenchmarkDeviceLookup(b *testing.B) {
	e := newEnv(b, wideRange)
	ctx := context.Background()
	const n = 10000
	for i := range n {
		e.autoRegister(b, mac(i), 36224)
	}
	var i atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.svc.Device(ctx, "SEP"+mac(int(i.Add(1)%n))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAuthenticate: a PIN login at the default PIN cost, one core.
func BenchmarkAuthenticate(b *testing.B) {
	e := newEnv(b, nil)
	ctx := context.Background()
	if _, err := e.svc.UpdateUser(ctx, provision.User{ID: "alice", LastName: "Adams", PrimaryExtension: "2001", UserProfile: "Standard User Profile"}, provision.Secrets{}); err != nil {
		b.Fatal(err)
	}
	h, _ := provision.HashSecret("12345", provision.DefaultPINHashIterations)
	u, _ := e.st.User(ctx, "alice")
	u.PINHash = h
	if err := e.st.UpdateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "alice", Secret: "12345"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSelfProvision: the replace-device transaction, each iteration a
// fresh auto-registered phone for one of many users.
func BenchmarkSelfProvision(b *testing.B) {
	e := newEnv(b, func(c *configs.Config) {
		wideRange(c)
		c.UserProfiles[0].DeviceLimit = 0
	})
	ctx := context.Background()
	names := make([]string, b.N)
	for i := range b.N {
		names[i] = e.autoRegister(b, mac(i), 36224).Name
	}
	users := []string{"alice", "bob", "carol"}
	var i atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := int(i.Add(1) - 1)
			if _, err := e.svc.SelfProvision(ctx, names[k], users[k%len(users)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
