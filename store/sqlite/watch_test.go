package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"selfprov/provision"
)

// TestWatchDevicesHearsEveryWrite: every kind of device write is reported,
// after its commit (a watcher reading the device sees the write), with the
// upper-cased name; a failed write reports nothing.
func TestWatchDevicesHearsEveryWrite(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	var mu sync.Mutex
	var heard []string
	s.WatchDevices(func(name string) {
		// After the commit: the cache already holds the write.
		_, exists, _, _ := s.devices.lookup(name)
		mu.Lock()
		defer mu.Unlock()
		heard = append(heard, name+map[bool]string{true: "+", false: "-"}[exists])
	})
	expect := func(want ...string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(heard, want) {
			t.Fatalf("heard %q, want %q", heard, want)
		}
		heard = nil
	}
	r := provision.DNRange{Start: "1000", End: "1099"}
	if _, _, err := s.AutoRegister(ctx, "sep000000000001", r, "", func(dn string) provision.Device {
		return autoRegDevice("SEP000000000001", dn)
	}); err != nil {
		t.Fatal(err)
	}
	expect("SEP000000000001+")
	provisioned := provision.Device{Name: "SEP000000000002", Model: 36224, State: provision.StateProvisioned,
		Lines: []provision.Line{{Button: 1, DN: "2001"}}}
	if err := s.ReplaceDevice(ctx, "SEP000000000001", provisioned, 0); err != nil {
		t.Fatal(err)
	}
	expect("SEP000000000001-", "SEP000000000002+")
	if err := s.CreateDevice(ctx, provisioned); err == nil {
		t.Fatal("a duplicate was created")
	}
	expect()
	if err := s.DeleteDevice(ctx, "sep000000000002", time.Now()); err != nil {
		t.Fatal(err)
	}
	expect("SEP000000000002-")
	if err := s.CreateDevice(ctx, provision.Device{Name: "CSFalice", Model: 503, State: provision.StateProvisioned,
		Lines: []provision.Line{{Button: 1, DN: "2001"}}}); err != nil {
		t.Fatal(err)
	}
	expect("CSFALICE+")
}
