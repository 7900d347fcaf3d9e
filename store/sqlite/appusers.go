package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"selfprov/provision"
)

// appUserRow is an application user as stored: the hash is kept, unlike
// in the domain type's JSON.
type appUserRow struct {
	provision.AppUser
	PasswordHash string `json:"passwordHash"`
}

func decodeAppUser(data string) (provision.AppUser, error) {
	var r appUserRow
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return provision.AppUser{}, fmt.Errorf("sqlite: application user: %w", err)
	}
	r.AppUser.PasswordHash = r.PasswordHash
	return r.AppUser, nil
}

// AppUser reads an application user.
func (s *Store) AppUser(ctx context.Context, id string) (provision.AppUser, error) {
	var data string
	err := s.r.QueryRowContext(ctx, `SELECT data FROM app_users WHERE id = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return provision.AppUser{}, fmt.Errorf("%w: application user", provision.ErrNotFound)
	}
	if err != nil {
		return provision.AppUser{}, err
	}
	return decodeAppUser(data)
}

// AppUsers lists the application users in ID order.
func (s *Store) AppUsers(ctx context.Context) ([]provision.AppUser, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT data FROM app_users ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []provision.AppUser
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		u, err := decodeAppUser(data)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// PutAppUser creates or replaces an application user.
func (s *Store) PutAppUser(ctx context.Context, u provision.AppUser) error {
	data, err := json.Marshal(appUserRow{AppUser: u, PasswordHash: u.PasswordHash})
	if err != nil {
		return err
	}
	_, err = s.execWrite(ctx, `INSERT INTO app_users (id, data) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data`, u.ID, string(data))
	return mapErr(err)
}

// DeleteAppUser removes an application user.
func (s *Store) DeleteAppUser(ctx context.Context, id string) error {
	res, err := s.execWrite(ctx, `DELETE FROM app_users WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: application user", provision.ErrNotFound)
	}
	return nil
}
