package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
)

// routeStore is an in-memory Store of just what RouteCall reads; any other
// method panics (the embedded nil Store), so the fuzz target also proves
// that a call reads nothing else.
type routeStore struct {
	Store
	gen      uint64 // grows with every new routing
	cluster  Cluster
	devices  map[string]Device
	stored   map[LineKey]DirectoryNumber
	parts    map[string]bool // stored partitions
	csss     map[string]CallingSearchSpace
	ults     map[string]ULT
	users    map[string]User
	profiles []UserProfile
}

func (s *routeStore) Cluster(context.Context) (Cluster, error) { return s.cluster, nil }

func (s *routeStore) Generation() uint64 { return s.gen }

func (s *routeStore) Device(_ context.Context, name string) (Device, error) {
	if d, ok := s.devices[name]; ok {
		return d, nil
	}
	return Device{}, ErrDeviceNotFound
}

func (s *routeStore) LinesByDN(_ context.Context, dn string) ([]DNLine, error) {
	byPart := map[string]*DNLine{}
	get := func(p string) *DNLine {
		if l := byPart[p]; l != nil {
			return l
		}
		l := &DNLine{DirectoryNumber: DirectoryNumber{DN: dn, Partition: p}}
		if st, ok := s.stored[LineKey{dn, p}]; ok {
			l.DirectoryNumber, l.Stored = st, true
		}
		byPart[p] = l
		return l
	}
	for k := range s.stored {
		if k.DN == dn && (k.Partition == "" || s.parts[k.Partition]) {
			get(k.Partition)
		}
	}
	for _, d := range s.devices {
		for _, ln := range d.Lines {
			if ln.DN == dn && (ln.Partition == "" || s.parts[ln.Partition]) {
				l := get(ln.Partition)
				l.Appearances = append(l.Appearances, LineAppearance{Device: d.Name, Button: ln.Button})
			}
		}
	}
	var out []DNLine
	for _, l := range byPart {
		slices.SortFunc(l.Appearances, func(a, b LineAppearance) int {
			return cmp.Or(cmp.Compare(a.Device, b.Device), cmp.Compare(a.Button, b.Button))
		})
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b DNLine) int { return cmp.Compare(a.Partition, b.Partition) })
	return out, nil
}

func (s *routeStore) CallingSearchSpace(_ context.Context, name string) (CallingSearchSpace, error) {
	if c, ok := s.csss[name]; ok {
		c.Partitions = slices.Clone(c.Partitions)
		return c, nil
	}
	return CallingSearchSpace{}, ErrNotFound
}

func (s *routeStore) ULT(_ context.Context, name string) (ULT, error) {
	if t, ok := s.ults[name]; ok {
		return t, nil
	}
	return ULT{}, ErrNotFound
}

func (s *routeStore) User(_ context.Context, id string) (User, error) {
	if u, ok := s.users[id]; ok {
		return u, nil
	}
	return User{}, ErrUserNotFound
}

func (s *routeStore) UserProfile(_ context.Context, name string) (UserProfile, error) {
	for _, p := range s.profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return UserProfile{}, ErrNotFound
}

func (s *routeStore) UserProfiles(context.Context) ([]UserProfile, error) {
	return slices.Clone(s.profiles), nil
}

// randomRouting fills st with a small random cluster from r: partitions
// P0-P3, CSSs C0-C2 over them (and Ghost, named but never stored), lines
// on few DNs so that they collide across partitions, and devices of every
// kind. It returns the device names.
func randomRouting(st *routeStore, r *rand.Rand) []string {
	parts := []string{"P0", "P1", "P2", "P3"}
	cssNames := []string{"", "C0", "C1", "C2", "Ghost"}
	dns := []string{"1000", "1001", "2000", "2001", "*1"}
	pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
	st.gen++ // a new routing is a write: a remembered route must not outlive it
	st.parts = map[string]bool{}
	for _, p := range parts {
		st.parts[p] = true
	}
	st.csss = map[string]CallingSearchSpace{}
	for _, name := range cssNames[1:4] {
		ps := slices.Clone(parts)
		r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		st.csss[name] = CallingSearchSpace{Name: name, Partitions: ps[:r.IntN(len(ps)+1)]}
	}
	st.ults = map[string]ULT{}
	for _, name := range []string{"L0", "L1", "LA"} {
		st.ults[name] = ULT{Name: name, CallingSearchSpace: pick(cssNames)}
	}
	st.cluster = Cluster{AutoRegistration: AutoRegistration{ULT: pick([]string{"LA", "", "Missing"})}}
	st.profiles = []UserProfile{{Name: "Pr0", ULT: "L0"}, {Name: "Pr1", ULT: "L1", DefaultSystemProfile: r.IntN(2) == 0}}
	st.users = map[string]User{"u0": {ID: "u0", UserProfile: "Pr0"}, "u1": {ID: "u1"}}
	st.stored = map[LineKey]DirectoryNumber{}
	st.devices = map[string]Device{}
	var names []string
	for i := range 1 + r.IntN(6) {
		d := Device{Name: fmt.Sprintf("SEP0000000000%02X", i), State: StateProvisioned, Owner: pick([]string{"", "u0", "u1", "gone"})}
		if r.IntN(3) == 0 {
			d.State, d.Owner = StateAutoRegistered, ""
		}
		for b := range r.IntN(4) {
			d.Lines = append(d.Lines, Line{Button: b + 1, DN: pick(dns), Partition: pick(append([]string{"", "Unstored"}, parts...))})
		}
		st.devices[d.Name] = d
		names = append(names, d.Name)
	}
	for range r.IntN(4) {
		k := LineKey{DN: pick(dns), Partition: pick(append([]string{""}, parts...))}
		st.stored[k] = DirectoryNumber{DN: k.DN, Partition: k.Partition, CallingSearchSpace: pick(cssNames)}
	}
	return names
}

// FuzzRouteCall: whatever the partitions, CSSs, lines and dialed
// strings, a route reaches a partition of the calling line's CSS or
// <None> (the first of them holding the DN), names every device showing
// that line and only those, comes from a registered device showing the
// calling line; a refusal is one of the three the contract allows; and
// nothing panics.
func FuzzRouteCall(f *testing.F) {
	for i, s := range [][3]string{{"1000", "", "1001"}, {"2000", "SEP000000000000", "2001"}, {"SEP000000000001", "", "*1"}, {"", "", ""}, {"1000", "CSFx", "+1"}, {"abc", "", "1000"}, {"1001", "sep000000000002", "2000"}} {
		f.Add(uint64(i), uint64(0xFF), s[0], s[1], s[2])
	}
	st := &routeStore{}
	svc, err := New(Options{Store: st, HashIterations: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, seed, regMask uint64, callingDN, callingDevice, called string) {
		r := rand.New(rand.NewPCG(seed, seed>>32))
		names := randomRouting(st, r)
		svc.clusterMu.Lock()
		svc.cluster = nil // the cluster changes with the seed
		svc.clusterMu.Unlock()
		registered := func(d string) bool {
			i := slices.Index(names, d)
			return i >= 0 && regMask&(1<<i) != 0
		}
		ctx := context.Background()
		route, err := svc.RouteCall(ctx, CallRequest{CallingDN: callingDN, CallingDevice: callingDevice, Called: called}, registered)
		if err != nil {
			if !errors.Is(err, ErrCallerNotRegistered) && !errors.Is(err, ErrNoRoute) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("refusal %v is none of CALLER_NOT_REGISTERED, DN_NOT_FOUND, INVALID_ARGUMENT", err)
			}
			return
		}
		if route.Called.DN != called {
			t.Fatalf("called %q, route reaches %s", called, route.Called)
		}
		caller, ok := st.devices[route.CallingDevice]
		if !ok || !registered(caller.Name) || !slices.ContainsFunc(caller.Lines, func(l Line) bool { return l.DN == route.CallingLine.DN && l.Partition == route.CallingLine.Partition }) {
			t.Fatalf("caller %s (registered %v) does not show %s", route.CallingDevice, registered(route.CallingDevice), route.CallingLine)
		}
		var partitions []string
		if c, ok := st.csss[route.CSS]; ok {
			partitions = c.Partitions
		}
		// The first partition in CSS order holding the DN, else <None>.
		lines, _ := st.LinesByDN(ctx, called)
		want := ""
		for _, p := range partitions {
			if slices.ContainsFunc(lines, func(l DNLine) bool { return l.Partition == p }) {
				want = p
				break
			}
		}
		if p := route.Called.Partition; p != want || (p != "" && !slices.Contains(partitions, p)) {
			t.Fatalf("CSS %q %v: reached partition %q, want %q", route.CSS, partitions, p, want)
		}
		var showing []string
		for _, d := range st.devices {
			if slices.ContainsFunc(d.Lines, func(l Line) bool { return l.DN == called && l.Partition == route.Called.Partition }) {
				showing = append(showing, d.Name)
			}
		}
		slices.Sort(showing)
		got := slices.Clone(route.Devices)
		slices.Sort(got)
		if !slices.Equal(got, showing) {
			t.Fatalf("route rings %v; the devices showing %s are %v", route.Devices, route.Called, showing)
		}
	})
}
