package sqlite

import (
	"context"
	"slices"

	"selfprov/provision"
)

// Application users are named objects: read on every AXL and RisPort
// request (HTTP Basic), so they are kept decoded in the named cache.

// appUserRow is an application user as stored: the hash is kept, unlike
// in the domain type's JSON.
type appUserRow struct {
	provision.AppUser
	PasswordHash string `json:"passwordHash"`
}

func (r appUserRow) user() provision.AppUser {
	u := r.AppUser
	u.PasswordHash = r.PasswordHash
	u.Roles = slices.Clone(u.Roles) // the cached row is shared
	return u
}

// AppUser reads an application user.
func (s *Store) AppUser(ctx context.Context, id string) (provision.AppUser, error) {
	r, err := getNamed[appUserRow](ctx, s, "app_users", id)
	if err != nil {
		return provision.AppUser{}, err
	}
	return r.user(), nil
}

// AppUsers lists the application users in ID order.
func (s *Store) AppUsers(ctx context.Context) ([]provision.AppUser, error) {
	rows, err := listNamed[appUserRow](ctx, s, "app_users")
	if err != nil {
		return nil, err
	}
	out := make([]provision.AppUser, len(rows))
	for i, r := range rows {
		out[i] = r.user()
	}
	return out, nil
}

// PutAppUser creates or replaces an application user.
func (s *Store) PutAppUser(ctx context.Context, u provision.AppUser) error {
	return mapErr(putNamed(ctx, s, "app_users", u.ID, appUserRow{AppUser: u, PasswordHash: u.PasswordHash}))
}

// DeleteAppUser removes an application user.
func (s *Store) DeleteAppUser(ctx context.Context, id string) error {
	return deleteNamed(ctx, s, "app_users", id)
}
