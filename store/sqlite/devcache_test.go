package sqlite

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"selfprov/provision"
)

// TestDeviceReadsFollowEveryWrite: devices are served from memory, and
// every kind of device write, committed or not, is what the next read sees.
func TestDeviceReadsFollowEveryWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "selfprov.db")
	s := open(t, path)
	addUser(t, s, "alice") // devices are owned by users that exist
	ctx := context.Background()
	want := func(name string, dn string) {
		t.Helper()
		for range 2 { // the second read comes from the cache
			d, err := s.Device(ctx, name)
			if dn == "" {
				if !errors.Is(err, provision.ErrDeviceNotFound) {
					t.Fatalf("Device(%s) = %v, %v; want not found", name, d.Lines, err)
				}
				continue
			}
			if err != nil || len(d.Lines) != 1 || d.Lines[0].DN != dn {
				t.Fatalf("Device(%s) = %v, %v; want DN %s", name, d.Lines, err, dn)
			}
			d.Lines[0].DN = "changed by the caller"
		}
	}
	r := provision.DNRange{Start: "1000", End: "1099"}
	want("SEP000000000001", "")
	if _, _, err := s.AutoRegister(ctx, "SEP000000000001", r, "", func(dn string) provision.Device {
		return autoRegDevice("SEP000000000001", dn)
	}); err != nil {
		t.Fatal(err)
	}
	want("sep000000000001", "1000")

	provisioned := provision.Device{Name: "SEP000000000002", Model: 36224, State: provision.StateProvisioned, Owner: "alice",
		Lines: []provision.Line{{Button: 1, DN: "2001"}}}
	if err := s.ReplaceDevice(ctx, "SEP000000000001", provisioned, 0); err != nil {
		t.Fatal(err)
	}
	want("SEP000000000001", "")
	want("SEP000000000002", "2001")

	// A replacement that fails changes nothing.
	if _, _, err := s.AutoRegister(ctx, "SEP000000000003", r, "", func(dn string) provision.Device {
		return autoRegDevice("SEP000000000003", dn)
	}); err != nil {
		t.Fatal(err)
	}
	taken := provisioned
	if err := s.ReplaceDevice(ctx, "SEP000000000003", taken, 0); !errors.Is(err, provision.ErrDuplicate) {
		t.Fatalf("replacing with an existing name: %v, want ErrDuplicate", err)
	}
	want("SEP000000000003", "1000")
	want("SEP000000000002", "2001")

	if err := s.DeleteDevice(ctx, "SEP000000000002", time.Now()); err != nil {
		t.Fatal(err)
	}
	want("SEP000000000002", "")
	if err := s.CreateDevice(ctx, provision.Device{Name: "CSFALICE", Model: 503, State: provision.StateProvisioned,
		Lines: []provision.Line{{Button: 1, DN: "2001"}}}); err != nil {
		t.Fatal(err)
	}
	want("csfalice", "2001")

	// A reopened store knows the devices written before.
	s.Close()
	s = open(t, path)
	want("SEP000000000003", "1000")
	want("CSFALICE", "2001")
	want("SEP000000000002", "")
}

// TestDeviceCacheRefusesAStaleFill: a reader that read a device before a
// write was applied must not cache what it read.
func TestDeviceCacheRefusesAStaleFill(t *testing.T) {
	var c deviceCache
	c.init([]string{"SEPA"}, nil)
	_, exists, cached, gen := c.lookup("SEPA")
	if !exists || cached {
		t.Fatalf("exists %v cached %v, want true false", exists, cached)
	}
	stale := autoRegDevice("SEPA", "1000")
	c.apply([]deviceChange{{key: "SEPA", deleted: true}, {key: "SEPA", dev: autoRegDevice("SEPA", "2000")}}) // replaced
	c.fill("SEPA", stale, gen)
	if d, _, _, _ := c.lookup("SEPA"); d.Lines[0].DN != "2000" {
		t.Fatalf("cached DN %s after a stale fill, want 2000", d.Lines[0].DN)
	}
	c.apply([]deviceChange{{key: "SEPA", deleted: true}})
	if _, exists, _, _ := c.lookup("SEPA"); exists {
		t.Fatal("a deleted device still exists")
	}
}

// TestDeviceCacheIsBounded: decoded devices are bounded to two
// generations, a device read from the old one moves back to the young one,
// and names are all kept.
func TestDeviceCacheIsBounded(t *testing.T) {
	var c deviceCache
	c.init(nil, nil)
	const per = cachedDevicesPerGeneration
	key := func(i int) string { return fmt.Sprintf("SEP%012X", i) }
	write := func(from, to int) {
		var log []deviceChange
		for i := from; i < to; i++ {
			log = append(log, deviceChange{key: key(i), dev: autoRegDevice(key(i), "1000")})
		}
		c.apply(log)
	}
	cached := func(i int) bool {
		_, exists, cached, _ := c.lookup(key(i))
		if !exists {
			t.Fatalf("%s does not exist", key(i))
		}
		return cached
	}
	write(0, 2*per)
	if !cached(0) {
		t.Fatal("a device of the old generation is not cached")
	}
	write(2*per, 3*per-1) // device 0, read, is now in the young generation
	if !cached(0) || cached(1) {
		t.Fatalf("device 0 (read) cached %v, device 1 (not read) cached %v; want true, false", cached(0), cached(1))
	}
	write(3*per, 5*per)
	if n := len(c.docs) + len(c.old); n > 2*per {
		t.Fatalf("%d devices in memory, want at most %d", n, 2*per)
	}
	if len(c.names) != 5*per-1 {
		t.Fatalf("%d names, want %d", len(c.names), 5*per-1)
	}
}

// TestDeviceNameHashCollision: names are kept by hash, so a new device may
// share one with a device that exists. It reads as not found and is
// auto-registered all the same; deleting one of two names of a hash leaves
// the other.
func TestDeviceNameHashCollision(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	const name = "SEP00000000C011"
	s.devices.names[maphash.String(s.devices.seed, name)]++ // as if another name had its hash
	if _, err := s.Device(ctx, name); !errors.Is(err, provision.ErrDeviceNotFound) {
		t.Fatalf("Device = %v, want not found", err)
	}
	r := provision.DNRange{Start: "1000", End: "1099"}
	d, created, err := s.AutoRegister(ctx, name, r, "", func(dn string) provision.Device { return autoRegDevice(name, dn) })
	if err != nil || !created || d.Lines[0].DN != "1000" {
		t.Fatalf("AutoRegister = %v created=%v %v", d.Lines, created, err)
	}
	if err := s.DeleteDevice(ctx, name, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if !s.devices.exists(name) {
		t.Fatal("deleting one of two names with the same hash forgot both")
	}
}

// TestNamedObjectsAreFlat: the named cache hands out copies of its values,
// which is only safe while the types hold no slices, maps or pointers.
func TestNamedObjectsAreFlat(t *testing.T) {
	for _, v := range []any{provision.UDT{}, provision.ULT{}, provision.UserProfile{}, provision.FeatureGroupTemplate{}} {
		if err := flat(reflect.TypeOf(v)); err != nil {
			t.Errorf("%T: %v", v, err)
		}
	}
}

func flat(t reflect.Type) error {
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			if err := flat(t.Field(i).Type); err != nil {
				return fmt.Errorf("%s: %w", t.Field(i).Name, err)
			}
		}
	case reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func:
		return fmt.Errorf("is a %s", t.Kind())
	}
	return nil
}

// TestOwnedDeviceCountsFollowEveryWrite: the device counts a login's limit
// check reads from memory are the table's after every kind of device
// write, a failed one and a reopen included.
func TestOwnedDeviceCountsFollowEveryWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "selfprov.db")
	s := open(t, path)
	ctx := context.Background()
	check := func(step string) {
		t.Helper()
		for _, owner := range []string{"alice", "bob", "nobody"} {
			var want int
			if err := s.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM devices WHERE owner = ?`, owner).Scan(&want); err != nil {
				t.Fatal(err)
			}
			if got, err := s.CountOwnedDevices(ctx, owner); err != nil || got != want {
				t.Fatalf("%s: %s owns %d devices (%v), the table says %d", step, owner, got, err, want)
			}
		}
	}
	owned := func(name, owner, dn string) provision.Device {
		return provision.Device{Name: name, Model: 36224, State: provision.StateProvisioned, Owner: owner,
			Lines: []provision.Line{{Button: 1, DN: dn}}}
	}
	d1 := owned("SEP0000000000A1", "alice", "2001")
	if err := s.CreateUser(ctx, provision.User{ID: "alice", LastName: "A"}, &d1); err != nil {
		t.Fatal(err)
	}
	addUser(t, s, "bob")
	check("a user created with a device")
	if err := s.CreateDevice(ctx, owned("CSFALICE", "alice", "2001")); err != nil {
		t.Fatal(err)
	}
	check("a device created")

	r := provision.DNRange{Start: "1000", End: "1099"}
	for _, name := range []string{"SEP0000000000B1", "SEP0000000000B2"} {
		if _, _, err := s.AutoRegister(ctx, name, r, "", func(dn string) provision.Device { return autoRegDevice(name, dn) }); err != nil {
			t.Fatal(err)
		}
	}
	check("auto-registered, owned by nobody")
	if err := s.ReplaceDevice(ctx, "SEP0000000000B1", owned("SEP0000000000B1", "bob", "2002"), 0); err != nil {
		t.Fatal(err)
	}
	check("self-provisioned")
	if err := s.ReplaceDevice(ctx, "SEP0000000000B2", owned("SEP0000000000B2", "bob", "2003"), 1); !errors.Is(err, provision.ErrDeviceLimit) {
		t.Fatalf("over the limit: %v", err)
	}
	if err := s.ReplaceDevice(ctx, "SEP0000000000B2", owned("SEP0000000000A1", "bob", "2003"), 0); !errors.Is(err, provision.ErrDuplicate) {
		t.Fatalf("a taken name: %v", err)
	}
	check("failed replacements")

	if _, err := s.UpdateDevice(ctx, "SEP0000000000A1", func(d provision.Device) (provision.Device, error) {
		d.Owner = "bob"
		return d, nil
	}); err != nil {
		t.Fatal(err)
	}
	check("a device given to another owner")
	if err := s.DeleteDevice(ctx, "CSFALICE", time.Now()); err != nil {
		t.Fatal(err)
	}
	check("a device deleted")

	s.Close()
	s = open(t, path)
	check("reopened")
	if err := s.DeleteUser(ctx, "bob", func(d provision.Device) provision.Device { d.Owner = ""; return d }); err != nil {
		t.Fatal(err)
	}
	check("the owner deleted")
}
