package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"selfprov/provision"
)

// A stored line survives a restart, and after it auto-registration still
// skips its DN: the allocator's ceiling is read from the stored lines too,
// so a range above every device's line is not handed out blind.
func TestStoredLinesSurviveARestartAndHoldTheirDN(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "selfprov.db")
	s := open(t, path)
	if err := s.CreateLine(ctx, provision.DirectoryNumber{DN: "5000", AlertingName: "Lobby"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateLine(ctx, provision.DirectoryNumber{DN: "5000"}); !errors.Is(err, provision.ErrDuplicate) {
		t.Fatalf("second CreateLine = %v, want DB-239", err)
	}
	s.Close()

	s = open(t, path)
	l, err := s.Line(ctx, provision.LineKey{DN: "5000"})
	if err != nil || l.AlertingName != "Lobby" || len(l.Appearances) != 0 {
		t.Fatalf("after restart: %+v, %v", l, err)
	}
	r := provision.DNRange{Start: "5000", End: "5999"}
	d, _, err := s.AutoRegister(ctx, "SEP000000000001", r, "", func(dn string) provision.Device { return autoRegDevice("SEP000000000001", dn) })
	if err != nil || d.Lines[0].DN != "5001" {
		t.Fatalf("auto-registered %v, %v; want 5001, past the stored line", d.Lines, err)
	}
}

// A device's appearance makes its DN a line; CreateLine then refuses it,
// and UpdateLine stores its first settings.
func TestAnAppearanceIsALine(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	if err := s.CreateDevice(ctx, provision.Device{Name: "SEP000000000002", Model: 36224, State: provision.StateProvisioned,
		Lines: []provision.Line{{Button: 1, DN: "0200", Partition: "P"}}}); err != nil {
		t.Fatal(err)
	}
	k := provision.LineKey{DN: "0200", Partition: "P"}
	if err := s.CreateLine(ctx, provision.DirectoryNumber{DN: k.DN, Partition: k.Partition}); !errors.Is(err, provision.ErrDuplicate) {
		t.Fatalf("CreateLine over an appearance = %v, want DB-239", err)
	}
	// "200" has the same number but is another DN.
	if _, err := s.Line(ctx, provision.LineKey{DN: "200", Partition: "P"}); !errors.Is(err, provision.ErrNotFound) {
		t.Fatalf("line 200 = %v, want NOT_FOUND", err)
	}
	l, err := s.UpdateLine(ctx, k, func(l provision.DirectoryNumber) (provision.DirectoryNumber, error) {
		l.CallingSearchSpace = "Internal"
		return l, nil
	})
	if err != nil || l.CallingSearchSpace != "Internal" {
		t.Fatalf("UpdateLine = %+v, %v", l, err)
	}
	got, err := s.Line(ctx, k)
	if err != nil || got.CallingSearchSpace != "Internal" || len(got.Appearances) != 1 || got.Appearances[0] != (provision.LineAppearance{Device: "SEP000000000002", Button: 1}) {
		t.Fatalf("Line = %+v, %v", got, err)
	}
}
