package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"selfprov/provision"
)

// TestDeleteMissingDeviceWithoutRecord: removing a device that is not
// there answers ErrDeviceNotFound with or without a deletion to record,
// the second without reading the row first, and logs no device change.
func TestDeleteMissingDeviceWithoutRecord(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	for _, at := range []time.Time{{}, time.Unix(1700000000, 0)} {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			_, err := s.deleteDevice(ctx, tx, "SEP001122AABBCC", at)
			if len(s.devLog) != 0 {
				t.Errorf("at %v: %d device changes logged for a missing device", at, len(s.devLog))
			}
			return err
		})
		if !errors.Is(err, provision.ErrDeviceNotFound) {
			t.Errorf("at %v: deleting a missing device = %v, want ErrDeviceNotFound", at, err)
		}
	}
}
