package provision_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"selfprov/configs"
	"selfprov/internal/coretest"
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
		c.UserProfiles[0].DeviceLimit = math.MaxInt32 // every iteration provisions
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

// BenchmarkFailedLogin: a wrong PIN for a real user and for an ID that
// names nobody, at the production costs, with no lockout and no
// per-source limit in the way. The two should cost the same; compare them
// in one run (-count, alternating).
func BenchmarkFailedLogin(b *testing.B) {
	c := coretest.New(b, coretest.Options{HashIterations: -1, Change: func(c *configs.Config) {
		c.Cluster.CredentialPolicy.FailedLogonThreshold = 0
		c.SelfProvisioning.FailedLoginsPerSource = 0
	}})
	ctx := context.Background()
	for _, id := range []string{"alice", "bob", "nobody"} {
		b.Run(id, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.Svc.Authenticate(ctx, provision.Credentials{UserID: id, Secret: "0"}); !errors.Is(err, provision.ErrAuthFailed) {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFailedLoginInterleaved alternates a wrong PIN for a real user
// (alice: PIN and password) and for an unknown ID, timing each call, and
// reports the median of each and their ratio: interleaving keeps the load
// of a shared machine from favouring one side.
func BenchmarkFailedLoginInterleaved(b *testing.B) {
	c := coretest.New(b, coretest.Options{HashIterations: -1, Change: func(c *configs.Config) {
		c.Cluster.CredentialPolicy.FailedLogonThreshold = 0
		c.SelfProvisioning.FailedLoginsPerSource = 0
	}})
	ctx := context.Background()
	var known, unknown []float64
	login := func(id string) float64 {
		start := time.Now()
		if _, err := c.Svc.Authenticate(ctx, provision.Credentials{UserID: id, Secret: "0"}); !errors.Is(err, provision.ErrAuthFailed) {
			b.Fatal(err)
		}
		return float64(time.Since(start).Nanoseconds())
	}
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			known = append(known, login("alice"))
			unknown = append(unknown, login("nobody"))
		} else {
			unknown = append(unknown, login("nobody"))
			known = append(known, login("alice"))
		}
		i++
	}
	median := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	k, u := median(known), median(unknown)
	b.ReportMetric(k, "known-ns/login")
	b.ReportMetric(u, "unknown-ns/login")
	b.ReportMetric(u/k, "unknown/known")
}

// BenchmarkRouteCall: the decision on one INVITE among 10,000
// auto-registered phones and 100 users' phones, one caller at a time:
// a user's phone calling another user (its line's CSS from the owner's
// profile, named or the default one), calling by DN alone (the caller found through its line), an
// auto-registered phone calling another, and a call refused as outside
// the CSS.
func BenchmarkRouteCall(b *testing.B) {
	e := newEnv(b, wideRange)
	ctx := context.Background()
	const phones, users = 10000, 100
	for i := range phones {
		e.autoRegister(b, mac(i), 36224)
	}
	for i := range users {
		id, dn := fmt.Sprintf("user%03d", i), fmt.Sprintf("3%03d", i)
		u := provision.User{ID: id, LastName: id, PrimaryExtension: dn, UserProfile: "Standard User Profile"}
		if i%2 == 1 {
			u.UserProfile = "" // the default profile, found by listing them
		}
		if _, err := e.svc.CreateUser(ctx, u, provision.Secrets{}); err != nil {
			b.Fatal(err)
		}
		if _, err := e.svc.AddDevice(ctx, provision.NewDevice{Name: fmt.Sprintf("SEP0B00000%05d", i), Model: 36224, Owner: id, UDT: "Desk Phone Template",
			Lines: []provision.Line{{Button: 1, DN: dn, Partition: "Internal"}}}); err != nil {
			b.Fatal(err)
		}
	}
	yes := func(string) bool { return true }
	for _, c := range []struct {
		name string
		req  provision.CallRequest
		err  error
	}{
		{"user-to-user", provision.CallRequest{CallingDN: "3002", CallingDevice: "SEP0B0000000002", Called: "3003"}, nil},
		{"user-to-user/default-profile", provision.CallRequest{CallingDN: "3001", CallingDevice: "SEP0B0000000001", Called: "3002"}, nil},
		{"caller-by-DN", provision.CallRequest{CallingDN: "3002", Called: "3003"}, nil},
		{"auto-to-auto", provision.CallRequest{CallingDN: "10000001", CallingDevice: "SEP" + mac(1), Called: "10000002"}, nil},
		{"outside-CSS", provision.CallRequest{CallingDN: "10000001", CallingDevice: "SEP" + mac(1), Called: "3002"}, provision.ErrNoRoute},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.svc.RouteCall(ctx, c.req, yes); !errors.Is(err, c.err) && err != c.err {
					b.Fatal(err)
				}
			}
		})
	}
}
