package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"selfprov/provision"
)

// Cluster returns the cluster settings; ErrNotFound before they are first saved.
func (s *Store) Cluster(ctx context.Context) (provision.Cluster, error) {
	var data string
	var c struct {
		provision.Cluster
		AuthCodeHash string `json:"authCodeHash"`
	}
	err := s.r.QueryRowContext(ctx, `SELECT data FROM cluster WHERE id = 1`).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return provision.Cluster{}, provision.ErrNotFound
	}
	if err != nil {
		return provision.Cluster{}, err
	}
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		return provision.Cluster{}, fmt.Errorf("sqlite: cluster settings: %w", err)
	}
	c.Cluster.AuthCodeHash = c.AuthCodeHash
	return c.Cluster, nil
}

// SaveCluster stores the cluster settings.
func (s *Store) SaveCluster(ctx context.Context, c provision.Cluster) error {
	data, err := json.Marshal(struct {
		provision.Cluster
		AuthCodeHash string `json:"authCodeHash"`
	}{c, c.AuthCodeHash})
	if err != nil {
		return err
	}
	_, err = s.execWrite(ctx, `INSERT INTO cluster (id, data) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data`, string(data))
	return err
}

// Named objects (templates, profiles) share one shape: name + JSON.

// namedCache keeps the named tables' objects in memory, decoded:
// templates and profiles are read on every auto-registration and
// self-provisioning (reading and decoding them had been a quarter of an
// auto-registration's CPU), calling search spaces on every call, and all
// change rarely. Their types hold no maps, so a cached value is handed out
// as a copy; the one slice, a calling search space's partitions, is copied
// by its getter. This Store is the
// database's only writer (the lock file), so dropping an entry on each of
// its own writes keeps the cache exact; gen stops a read that raced a write
// from caching what it read.
type namedCache struct {
	mu   sync.Mutex
	gen  uint64
	objs map[string]any
}

func (c *namedCache) get(key string) (obj any, ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	obj, ok = c.objs[key]
	return obj, ok, c.gen
}

// fill caches obj unless a write happened since gen was read.
func (c *namedCache) fill(key string, obj any, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.objs == nil {
		c.objs = map[string]any{}
	}
	c.objs[key] = obj
}

// drop forgets an object and the cached list of its table.
func (c *namedCache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.objs, key)
	if i := strings.IndexByte(key, 0); i >= 0 {
		delete(c.objs, listKey(key[:i]))
	}
}

// listKey is the cache key of a whole table's list: no object is named
// "" (and were one, its entry's type would not match a list's).
func listKey(table string) string { return table + "\x00" }

func getNamed[T any](ctx context.Context, s *Store, table, name string) (T, error) {
	key := table + "\x00" + name
	obj, ok, gen := s.named.get(key)
	if v, isT := obj.(T); ok && isT {
		return v, nil
	}
	var v T
	var data string
	err := s.r.QueryRowContext(ctx, `SELECT data FROM `+table+` WHERE name = ?`, name).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("%w: %s %q", provision.ErrNotFound, table, name)
	}
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		return v, err
	}
	s.named.fill(key, v, gen)
	return v, nil
}

// listNamed lists a table's objects in name order, cached as the objects
// are (the default user profile is found by listing the profiles, on
// every call from a phone whose owner names none). The list is a copy;
// slices inside its objects are shared, as getNamed's are.
func listNamed[T any](ctx context.Context, s *Store, table string) ([]T, error) {
	obj, ok, gen := s.named.get(listKey(table))
	if v, isList := obj.([]T); ok && isList {
		return slices.Clone(v), nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT data FROM `+table+` ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.named.fill(listKey(table), slices.Clone(out), gen)
	return out, nil
}

func putNamed(ctx context.Context, s *Store, table, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	defer s.named.drop(table + "\x00" + name)
	_, err = s.execWrite(ctx, `INSERT INTO `+table+` (name, data) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET data = excluded.data`, name, string(data))
	return err
}

func deleteNamed(ctx context.Context, s *Store, table, name string) error {
	defer s.named.drop(table + "\x00" + name)
	res, err := s.execWrite(ctx, `DELETE FROM `+table+` WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s %q", provision.ErrNotFound, table, name)
	}
	return nil
}

func (s *Store) UDT(ctx context.Context, name string) (provision.UDT, error) {
	return getNamed[provision.UDT](ctx, s, "udts", name)
}
func (s *Store) UDTs(ctx context.Context) ([]provision.UDT, error) {
	return listNamed[provision.UDT](ctx, s, "udts")
}
func (s *Store) PutUDT(ctx context.Context, t provision.UDT) error {
	return putNamed(ctx, s, "udts", t.Name, t)
}
func (s *Store) DeleteUDT(ctx context.Context, name string) error {
	return deleteNamed(ctx, s, "udts", name)
}

func (s *Store) ULT(ctx context.Context, name string) (provision.ULT, error) {
	return getNamed[provision.ULT](ctx, s, "ults", name)
}
func (s *Store) ULTs(ctx context.Context) ([]provision.ULT, error) {
	return listNamed[provision.ULT](ctx, s, "ults")
}
func (s *Store) PutULT(ctx context.Context, t provision.ULT) error {
	return putNamed(ctx, s, "ults", t.Name, t)
}
func (s *Store) DeleteULT(ctx context.Context, name string) error {
	return deleteNamed(ctx, s, "ults", name)
}

func (s *Store) UserProfile(ctx context.Context, name string) (provision.UserProfile, error) {
	return getNamed[provision.UserProfile](ctx, s, "user_profiles", name)
}
func (s *Store) UserProfiles(ctx context.Context) ([]provision.UserProfile, error) {
	return listNamed[provision.UserProfile](ctx, s, "user_profiles")
}
func (s *Store) PutUserProfile(ctx context.Context, p provision.UserProfile) error {
	return putNamed(ctx, s, "user_profiles", p.Name, p)
}
func (s *Store) DeleteUserProfile(ctx context.Context, name string) error {
	return deleteNamed(ctx, s, "user_profiles", name)
}

func (s *Store) FeatureGroupTemplate(ctx context.Context, name string) (provision.FeatureGroupTemplate, error) {
	return getNamed[provision.FeatureGroupTemplate](ctx, s, "feature_group_templates", name)
}
func (s *Store) FeatureGroupTemplates(ctx context.Context) ([]provision.FeatureGroupTemplate, error) {
	return listNamed[provision.FeatureGroupTemplate](ctx, s, "feature_group_templates")
}
func (s *Store) PutFeatureGroupTemplate(ctx context.Context, t provision.FeatureGroupTemplate) error {
	return putNamed(ctx, s, "feature_group_templates", t.Name, t)
}
func (s *Store) DeleteFeatureGroupTemplate(ctx context.Context, name string) error {
	return deleteNamed(ctx, s, "feature_group_templates", name)
}

func (s *Store) Partition(ctx context.Context, name string) (provision.Partition, error) {
	return getNamed[provision.Partition](ctx, s, "partitions", name)
}
func (s *Store) Partitions(ctx context.Context) ([]provision.Partition, error) {
	return listNamed[provision.Partition](ctx, s, "partitions")
}
func (s *Store) PutPartition(ctx context.Context, p provision.Partition) error {
	return putNamed(ctx, s, "partitions", p.Name, p)
}
func (s *Store) DeletePartition(ctx context.Context, name string) error {
	return deleteNamed(ctx, s, "partitions", name)
}

// CallingSearchSpace hands out a copy of the cached partition list, which
// the cache's other readers share.
func (s *Store) CallingSearchSpace(ctx context.Context, name string) (provision.CallingSearchSpace, error) {
	c, err := getNamed[provision.CallingSearchSpace](ctx, s, "calling_search_spaces", name)
	c.Partitions = slices.Clone(c.Partitions)
	return c, err
}
func (s *Store) CallingSearchSpaces(ctx context.Context) ([]provision.CallingSearchSpace, error) {
	all, err := listNamed[provision.CallingSearchSpace](ctx, s, "calling_search_spaces")
	for i := range all {
		all[i].Partitions = slices.Clone(all[i].Partitions)
	}
	return all, err
}
func (s *Store) PutCallingSearchSpace(ctx context.Context, c provision.CallingSearchSpace) error {
	return putNamed(ctx, s, "calling_search_spaces", c.Name, c)
}
func (s *Store) DeleteCallingSearchSpace(ctx context.Context, name string) error {
	return deleteNamed(ctx, s, "calling_search_spaces", name)
}

// Users. Secrets and credential state live in their own columns: the JSON
// document never holds a hash.

const userCols = `data, pin_hash, password_hash, credential`

func scanUser(sc interface{ Scan(...any) error }) (provision.User, error) {
	var u provision.User
	var data, cred string
	if err := sc.Scan(&data, &u.PINHash, &u.PasswordHash, &cred); err != nil {
		return u, err
	}
	pin, pw := u.PINHash, u.PasswordHash
	if err := json.Unmarshal([]byte(data), &u); err != nil {
		return u, err
	}
	u.PINHash, u.PasswordHash = pin, pw
	// The credential column is the truth; the document may hold an older
	// copy whose lockout would survive an unmarshal of a cleared state.
	u.Credential = provision.CredentialState{}
	if err := json.Unmarshal([]byte(cred), &u.Credential); err != nil {
		return u, err
	}
	return u, nil
}

// User finds a user by ID, then by self-service ID, in the directory of
// every user (userdir.go); the database only while the directory is stale.
func (s *Store) User(ctx context.Context, id string) (provision.User, error) {
	u, found, ok := s.users.get(id)
	if ok {
		if !found {
			return provision.User{}, provision.ErrUserNotFound
		}
		return u, nil
	}
	u, err := scanUser(s.getUser.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		u, err = scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE self_service_id = ?`, id))
	}
	if errors.Is(err, sql.ErrNoRows) {
		return provision.User{}, provision.ErrUserNotFound
	}
	return u, err
}

// Users lists users in ID order after the given ID.
func (s *Store) Users(ctx context.Context, after string, limit int) ([]provision.User, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+userCols+` FROM users WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []provision.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func userArgs(u provision.User) ([]any, error) {
	data, err := json.Marshal(u)
	if err != nil {
		return nil, err
	}
	cred, err := json.Marshal(u.Credential)
	if err != nil {
		return nil, err
	}
	var ssid any
	if u.SelfServiceID != "" {
		ssid = u.SelfServiceID
	}
	return []any{u.ID, ssid, string(data), u.PINHash, u.PasswordHash, string(cred)}, nil
}

// CreateUser inserts a user and, if d is set, their device, in one transaction.
func (s *Store) CreateUser(ctx context.Context, u provision.User, d *provision.Device) error {
	args, err := userArgs(u)
	if err != nil {
		return err
	}
	return mapErr(s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, qInsertUser, args...); err != nil {
			return err
		}
		s.logUser(u.ID)
		if d != nil {
			return s.insertDevice(ctx, tx, *d, false)
		}
		return nil
	}))
}

// UpdateUser replaces a user's record.
func (s *Store) UpdateUser(ctx context.Context, u provision.User) error {
	args, err := userArgs(u)
	if err != nil {
		return err
	}
	return mapErr(s.writeUser(ctx, u.ID, qUpdateUser, append(args[1:], u.ID)...))
}

// SetCredentialState stores a user's failed-logon state.
func (s *Store) SetCredentialState(ctx context.Context, id string, st provision.CredentialState) error {
	cred, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return s.writeUser(ctx, id, qSetCredential, string(cred), id)
}

// writeUser runs one UPDATE of user id's row.
func (s *Store) writeUser(ctx context.Context, id, query string, args ...any) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, query, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return provision.ErrUserNotFound
		}
		s.logUser(id)
		return nil
	})
}

var (
	qInsertUser    = writeStatement(`INSERT INTO users (id, self_service_id, data, pin_hash, password_hash, credential) VALUES (?, ?, ?, ?, ?, ?)`)
	qUpdateUser    = writeStatement(`UPDATE users SET self_service_id = ?, data = ?, pin_hash = ?, password_hash = ?, credential = ? WHERE id = ?`)
	qSetCredential = writeStatement(`UPDATE users SET credential = ? WHERE id = ?`)
)

// Import inserts users and then devices in one transaction.
func (s *Store) Import(ctx context.Context, users []provision.User, devices []provision.Device) (int, error) {
	row := -1
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for i, u := range users {
			args, err := userArgs(u)
			if err != nil {
				row = i
				return err
			}
			if _, err := s.exec(ctx, tx, qInsertUser, args...); err != nil {
				row = i
				if e := mapErr(err); errors.Is(e, provision.ErrDuplicate) {
					return fmt.Errorf("%w: user %s exists", provision.ErrDuplicate, u.ID)
				}
				return err
			}
			s.logUser(u.ID)
		}
		for i, d := range devices {
			if err := s.insertDevice(ctx, tx, d, false); err != nil {
				row = len(users) + i
				return err
			}
		}
		return nil
	})
	if err != nil {
		return row, mapErr(err)
	}
	return -1, nil
}
