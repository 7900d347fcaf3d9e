package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"selfprov/provision"
)

func TestUserByEmail(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, u := range []provision.User{
		{ID: "a", LastName: "A", Email: "Ann.Lee@example.com"},
		{ID: "b", LastName: "B", Email: "ann_lee@example.com"},
		{ID: "c", LastName: "C", Email: `q"uote@example.com`},
		{ID: "d", LastName: "D"},
	} {
		if err := s.CreateUser(ctx, u, nil); err != nil {
			t.Fatal(err)
		}
	}
	for email, want := range map[string]string{
		"ann.lee@EXAMPLE.com": "a",
		"ann_lee@example.com": "b", // '_' is a LIKE wildcard: the decoded field decides
		`q"uote@example.com`:  "c",
	} {
		u, err := s.UserByEmail(ctx, email)
		if err != nil || u.ID != want {
			t.Errorf("UserByEmail(%q) = %q, %v; want %q", email, u.ID, err, want)
		}
	}
	for _, email := range []string{"", "nobody@example.com", "%", "example.com"} {
		if _, err := s.UserByEmail(ctx, email); !errors.Is(err, provision.ErrUserNotFound) {
			t.Errorf("UserByEmail(%q) err %v, want ErrUserNotFound", email, err)
		}
	}
}
