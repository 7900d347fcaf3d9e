package sqlite

import (
	"context"
	"encoding/json"
	"strings"

	"selfprov/provision"
)

var _ provision.UserByEmailer = (*Store)(nil)

// UserByEmail finds the user whose email address is email, ignoring case.
// The address lives in the user's JSON document; LIKE on its encoded form
// narrows the scan (portably: '%' and '_' in an address only widen the
// match) and the decoded field decides.
func (s *Store) UserByEmail(ctx context.Context, email string) (provision.User, error) {
	if email == "" {
		return provision.User{}, provision.ErrUserNotFound
	}
	enc, err := json.Marshal(email)
	if err != nil {
		return provision.User{}, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+userCols+` FROM users WHERE data LIKE ? ORDER BY id`, "%"+string(enc[1:len(enc)-1])+"%")
	if err != nil {
		return provision.User{}, err
	}
	defer rows.Close()
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return provision.User{}, err
		}
		if strings.EqualFold(u.Email, email) {
			return u, nil
		}
	}
	if err := rows.Err(); err != nil {
		return provision.User{}, err
	}
	return provision.User{}, provision.ErrUserNotFound
}
