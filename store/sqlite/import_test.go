package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"selfprov/provision"
)

// Import writes users and devices in one transaction: a failing row names
// its index and leaves nothing of the batch behind.
func TestImportIsOneTransaction(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	users := []provision.User{{ID: "u1", LastName: "One"}, {ID: "u2", LastName: "Two", SelfServiceID: "42"}}
	dev := func(name string) provision.Device {
		return provision.Device{Name: name, Model: 36224, State: provision.StateProvisioned, Owner: "u1",
			Lines: []provision.Line{{Button: 1, DN: "3001"}}}
	}
	if row, err := s.Import(ctx, users, []provision.Device{dev("SEP0A0000000001")}); err != nil || row != -1 {
		t.Fatalf("import: row %d, %v", row, err)
	}
	// A duplicate user ID at index 1 of the users.
	row, err := s.Import(ctx, []provision.User{{ID: "u3", LastName: "Three"}, {ID: "u1", LastName: "Again"}}, nil)
	if !errors.Is(err, provision.ErrDuplicate) || row != 1 {
		t.Fatalf("duplicate user: row %d, %v", row, err)
	}
	// A duplicate device at index 1 of the devices: row counts the users first.
	row, err = s.Import(ctx, []provision.User{{ID: "u4", LastName: "Four"}}, []provision.Device{dev("SEP0A0000000002"), dev("sep0a0000000001")})
	if !errors.Is(err, provision.ErrDuplicate) || row != 2 {
		t.Fatalf("duplicate device: row %d, %v", row, err)
	}
	for _, id := range []string{"u3", "u4"} {
		if _, err := s.User(ctx, id); !errors.Is(err, provision.ErrUserNotFound) {
			t.Errorf("%s of a refused batch: %v", id, err)
		}
	}
	if _, err := s.Device(ctx, "SEP0A0000000002"); !errors.Is(err, provision.ErrDeviceNotFound) {
		t.Errorf("a device of a refused batch: %v", err)
	}
	if u, err := s.User(ctx, "42"); err != nil || u.ID != "u2" {
		t.Errorf("u2 by self-service ID: %+v, %v", u, err)
	}
}
