package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"selfprov/provision"
)

// A user updated while locked keeps a copy of the lockout in its document;
// clearing the credential state must still unlock.
func TestClearedCredentialStateWinsOverTheDocument(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	u := provision.User{ID: "erin", LastName: "E"}
	if err := s.CreateUser(ctx, u, nil); err != nil {
		t.Fatal(err)
	}
	locked := provision.CredentialState{FailedAttempts: 3, FirstFailure: now, LockedAt: now}
	if err := s.SetCredentialState(ctx, "erin", locked); err != nil {
		t.Fatal(err)
	}
	u.Credential = locked
	u.LastName = "Evans"
	if err := s.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCredentialState(ctx, "erin", provision.CredentialState{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.User(ctx, "erin")
	if err != nil {
		t.Fatal(err)
	}
	if got.Credential != (provision.CredentialState{}) {
		t.Fatalf("credential state %+v after clearing, want zero", got.Credential)
	}
}
