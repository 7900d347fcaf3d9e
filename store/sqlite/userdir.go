package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"

	"selfprov/provision"
)

// userDirectory holds every user, decoded, by user ID and by self-service
// ID, so that a login reads no row: a known and an unknown ID both cost a
// map lookup, and a boot storm's logins, each of a user not read before,
// do not queue on the read pool. About half a kilobyte a user.
//
// It is exact because this Store is the database's only writer (the lock
// file) and every write to the users table goes through tx, which logs the
// IDs it wrote; after the commit, still holding writeMu, tx reads those
// rows back on the writer's connection and puts them here, in commit
// order. Should that read fail (the commit stands), the directory is
// marked stale and reads go to the database until a later write reloads
// it whole.
type userDirectory struct {
	mu     sync.RWMutex
	stale  bool
	byID   map[string]*provision.User // never changed once stored
	bySSID map[string]*provision.User
}

// reloadUsersAbove is the number of users written in one transaction (an
// import) above which the whole table is read again rather than each row.
const reloadUsersAbove = 64

// get returns a copy of the user with this user ID, else of the one with
// this self-service ID. ok is false when the directory is stale and the
// caller must ask the database.
func (d *userDirectory) get(id string) (u provision.User, found, ok bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.stale {
		return u, false, false
	}
	p := d.byID[id]
	if p == nil {
		p = d.bySSID[id]
	}
	if p == nil {
		return u, false, true
	}
	u = *p
	u.Groups = slices.Clone(u.Groups)
	return u, true, true
}

// has reports whether a user with this user ID is in the directory; ok is
// false when the directory is stale.
func (d *userDirectory) has(id string) (found, ok bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.stale {
		return false, false
	}
	return d.byID[id] != nil, true
}

// load replaces the directory with every row of the users table.
func (d *userDirectory) load(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT `+userCols+` FROM users`)
	if err != nil {
		return err
	}
	defer rows.Close()
	byID := make(map[string]*provision.User)
	bySSID := make(map[string]*provision.User)
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return err
		}
		byID[u.ID] = &u
		if u.SelfServiceID != "" {
			bySSID[u.SelfServiceID] = &u
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.byID, d.bySSID, d.stale = byID, bySSID, false
	return nil
}

// put records the row of user id as it now is: u, or none when deleted.
func (d *userDirectory) put(id string, u *provision.User) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old := d.byID[id]; old != nil && old.SelfServiceID != "" && d.bySSID[old.SelfServiceID] == old {
		delete(d.bySSID, old.SelfServiceID)
	}
	if u == nil {
		delete(d.byID, id)
		return
	}
	d.byID[id] = u
	if u.SelfServiceID != "" {
		// Unique in the table: whoever held it before has been or will be
		// put in this same commit.
		d.bySSID[u.SelfServiceID] = u
	}
}

func (d *userDirectory) markStale() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stale = true
}

// logUser records a user write of the running transaction (writeMu held).
func (s *Store) logUser(id string) { s.userLog = append(s.userLog, id) }

// applyUserLog reads back the users the committed transaction wrote and
// puts them in the directory (writeMu held). The commit is done whatever
// happens here, so a failure (the database failing to read a row it just
// wrote) marks the directory stale rather than failing the write; the
// next write that logs a user reloads it.
func (s *Store) applyUserLog() {
	if len(s.userLog) == 0 {
		return
	}
	// The caller's context may end now that its write is done; this read
	// must not.
	if err := s.refreshUsers(context.Background()); err != nil {
		s.users.markStale()
	}
	s.userLog = s.userLog[:0]
}

func (s *Store) refreshUsers(ctx context.Context) error {
	s.users.mu.RLock()
	stale := s.users.stale
	s.users.mu.RUnlock()
	if stale || len(s.userLog) > reloadUsersAbove {
		return s.users.load(ctx, s.w)
	}
	st, err := s.prepared(ctx, qUserRow)
	if err != nil {
		return err
	}
	for _, id := range s.userLog {
		u, err := scanUser(st.QueryRowContext(ctx, id))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			s.users.put(id, nil)
		case err != nil:
			return err
		default:
			s.users.put(id, &u)
		}
	}
	return nil
}

var qUserRow = writeStatement(`SELECT ` + userCols + ` FROM users WHERE id = ?`)
