package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"selfprov/provision"
)

// Lines: a stored line is a row of directory_numbers; a line that only
// appearances name is the (partition, dn) of rows of lines. Both are one
// line to the core (see provision.DirectoryNumber).

var (
	qLineData        = writeStatement(`SELECT data FROM directory_numbers WHERE partition = ? AND dn = ?`)
	qLineDevices     = writeStatement(`SELECT DISTINCT device_key FROM lines WHERE partition = ? AND dn_num IS ? AND dn = ? ORDER BY device_key`)
	qInsertLineRow   = writeStatement(`INSERT INTO directory_numbers (partition, dn, dn_num, dn_len, data) VALUES (?, ?, ?, ?, ?)`)
	qUpdateLineRow   = writeStatement(`UPDATE directory_numbers SET data = ? WHERE partition = ? AND dn = ?`)
	qDeleteLineRow   = writeStatement(`DELETE FROM directory_numbers WHERE partition = ? AND dn = ?`)
	qAutoKeysOfDev   = writeStatement(`SELECT partition, dn FROM lines WHERE device_key = ? AND auto = 1`)
	qDevicesOfOwner  = writeStatement(`SELECT name_key FROM devices WHERE owner = ? ORDER BY name_key`)
	qDeleteUser      = writeStatement(`DELETE FROM users WHERE id = ?`)
	qDeleteDeletions = writeStatement(`DELETE FROM deletions WHERE owner = ?`)
)

// dnNum is the dn_num column of a DN: its value when it is all digits.
func dnNum(dn string) any {
	if dn == "" || dn[0] == '+' || dn[0] == '-' {
		return nil
	}
	n, err := strconv.ParseInt(dn, 10, 64)
	if err != nil {
		return nil
	}
	return n
}

// lineDoc is what a row's data holds: the settings, not the key.
func lineDoc(l provision.DirectoryNumber) (string, error) {
	l.DN, l.Partition, l.Appearances = "", "", nil
	b, err := json.Marshal(l)
	return string(b), err
}

func decodeLine(k provision.LineKey, data []byte) (provision.DirectoryNumber, error) {
	var l provision.DirectoryNumber
	if len(data) > 0 {
		if err := json.Unmarshal(data, &l); err != nil {
			return l, fmt.Errorf("sqlite: line %s: %w", k, err)
		}
	}
	l.DN, l.Partition = k.DN, k.Partition
	return l, nil
}

func lineNotFound(k provision.LineKey) error {
	return fmt.Errorf("%w: no line %s", provision.ErrNotFound, k)
}

// Line reads a line and the devices that show it.
func (s *Store) Line(ctx context.Context, k provision.LineKey) (provision.DirectoryNumber, error) {
	var data []byte
	err := s.r.QueryRowContext(ctx, `SELECT data FROM directory_numbers WHERE partition = ? AND dn = ?`, k.Partition, k.DN).Scan(&data)
	stored := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return provision.DirectoryNumber{}, err
	}
	l, err := decodeLine(k, data)
	if err != nil {
		return l, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT device_key, button FROM lines WHERE partition = ? AND dn_num IS ? AND dn = ? ORDER BY device_key, button`, k.Partition, dnNum(k.DN), k.DN)
	if err != nil {
		return l, err
	}
	defer rows.Close()
	for rows.Next() {
		var a provision.LineAppearance
		if err := rows.Scan(&a.Device, &a.Button); err != nil {
			return l, err
		}
		l.Appearances = append(l.Appearances, a)
	}
	if err := rows.Err(); err != nil {
		return l, err
	}
	if !stored && len(l.Appearances) == 0 {
		return provision.DirectoryNumber{}, lineNotFound(k)
	}
	// The key is upper-cased; the device's own spelling is in its document.
	for i, a := range l.Appearances {
		if d, err := s.Device(ctx, a.Device); err == nil {
			l.Appearances[i].Device = d.Name
		}
	}
	return l, nil
}

// Lines lists stored lines and those only appearances name, in
// (partition, dn) order after f.After.
func (s *Store) Lines(ctx context.Context, f provision.LineFilter) ([]provision.DirectoryNumber, error) {
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.r.QueryContext(ctx, `
		SELECT partition, dn, data FROM directory_numbers WHERE partition > ?1 OR (partition = ?1 AND dn > ?2)
		UNION ALL
		SELECT DISTINCT partition, dn, NULL FROM lines l WHERE (partition > ?1 OR (partition = ?1 AND dn > ?2))
			AND NOT EXISTS (SELECT 1 FROM directory_numbers d WHERE d.partition = l.partition AND d.dn = l.dn)
		ORDER BY 1, 2 LIMIT ?3`, f.After.Partition, f.After.DN, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []provision.DirectoryNumber
	for rows.Next() {
		var k provision.LineKey
		var data []byte
		if err := rows.Scan(&k.Partition, &k.DN, &data); err != nil {
			return nil, err
		}
		l, err := decodeLine(k, data)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// lineExists reports whether a stored line or an appearance has k, and
// which devices show it.
func (s *Store) lineExists(ctx context.Context, tx *sql.Tx, k provision.LineKey) (stored bool, devices []string, err error) {
	var data []byte
	err = s.queryRow(ctx, tx, qLineData, k.Partition, k.DN).Scan(&data)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, nil, err
	}
	stored = err == nil
	rows, err := s.query(ctx, tx, qLineDevices, k.Partition, dnNum(k.DN), k.DN)
	if err != nil {
		return false, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			return false, nil, err
		}
		devices = append(devices, key)
	}
	return stored, devices, rows.Err()
}

// CreateLine stores a line no line or appearance has yet.
func (s *Store) CreateLine(ctx context.Context, l provision.DirectoryNumber) error {
	doc, err := lineDoc(l)
	if err != nil {
		return err
	}
	return mapErr(s.tx(ctx, func(tx *sql.Tx) error {
		stored, devices, err := s.lineExists(ctx, tx, l.Key())
		if err != nil {
			return err
		}
		if stored || len(devices) > 0 {
			return fmt.Errorf("%w: line %s exists", provision.ErrDuplicate, l.Key())
		}
		return s.insertLineRow(ctx, tx, l, doc)
	}))
}

func (s *Store) insertLineRow(ctx context.Context, tx *sql.Tx, l provision.DirectoryNumber, doc string) error {
	num := dnNum(l.DN)
	if _, err := s.exec(ctx, tx, qInsertLineRow, l.Partition, l.DN, num, len(l.DN), doc); err != nil {
		return err
	}
	if n, ok := num.(int64); ok {
		s.raiseCeiling(l.Partition, n)
	}
	return nil
}

// UpdateLine edits a line's settings in one transaction, storing them the
// first time for a line only appearances named.
func (s *Store) UpdateLine(ctx context.Context, k provision.LineKey, edit func(provision.DirectoryNumber) (provision.DirectoryNumber, error)) (provision.DirectoryNumber, error) {
	var out provision.DirectoryNumber
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var data []byte
		err := s.queryRow(ctx, tx, qLineData, k.Partition, k.DN).Scan(&data)
		stored := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if !stored {
			_, devices, err := s.lineExists(ctx, tx, k)
			if err != nil {
				return err
			}
			if len(devices) == 0 {
				return lineNotFound(k)
			}
		}
		cur, err := decodeLine(k, data)
		if err != nil {
			return err
		}
		l, err := edit(cur)
		if err != nil {
			return err
		}
		if l.Key() != k {
			return fmt.Errorf("sqlite: editing line %s as %s", k, l.Key())
		}
		doc, err := lineDoc(l)
		if err != nil {
			return err
		}
		if stored {
			_, err = s.exec(ctx, tx, qUpdateLineRow, doc, k.Partition, k.DN)
		} else {
			err = s.insertLineRow(ctx, tx, l, doc)
		}
		out = l
		return err
	})
	return out, mapErr(err)
}

// DeleteLine removes a line and its appearances, rewriting each device
// that showed it through edit.
func (s *Store) DeleteLine(ctx context.Context, k provision.LineKey, edit func(provision.Device) provision.Device) error {
	return mapErr(s.tx(ctx, func(tx *sql.Tx) error {
		stored, devices, err := s.lineExists(ctx, tx, k)
		if err != nil {
			return err
		}
		if !stored && len(devices) == 0 {
			return lineNotFound(k)
		}
		if _, err := s.exec(ctx, tx, qDeleteLineRow, k.Partition, k.DN); err != nil {
			return err
		}
		for _, key := range devices {
			d, err := s.deviceInTx(ctx, tx, key)
			if err != nil {
				return err
			}
			if err := s.rewriteDevice(ctx, tx, key, edit(d)); err != nil {
				return err
			}
		}
		return nil
	}))
}

// deviceInTx reads a device inside the write transaction.
func (s *Store) deviceInTx(ctx context.Context, tx *sql.Tx, key string) (provision.Device, error) {
	var data []byte
	err := s.queryRow(ctx, tx, qDeviceData, key).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return provision.Device{}, provision.ErrDeviceNotFound
	}
	if err != nil {
		return provision.Device{}, err
	}
	var d provision.Device
	if err := json.Unmarshal(data, &d); err != nil {
		return provision.Device{}, fmt.Errorf("sqlite: device %s: %w", key, err)
	}
	return d, nil
}

// rewriteDevice replaces the device stored under key by d, inside tx: its
// rows are deleted and written again with the checks of insertDevice, the
// lines auto-registration gave it still its own.
func (s *Store) rewriteDevice(ctx context.Context, tx *sql.Tx, key string, d provision.Device) error {
	if strings.ToUpper(d.Name) != key {
		return fmt.Errorf("sqlite: rewriting device %s as %s", key, d.Name)
	}
	keep := map[provision.LineKey]bool{}
	rows, err := s.query(ctx, tx, qAutoKeysOfDev, key)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k provision.LineKey
		if err := rows.Scan(&k.Partition, &k.DN); err != nil {
			rows.Close()
			return err
		}
		keep[k] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	released, err := s.deleteDevice(ctx, tx, key, time.Time{})
	if err != nil {
		return err
	}
	// Lowering a hint early is always safe: it only widens the next scan.
	s.release(released)
	return s.insertDeviceKeeping(ctx, tx, d, false, keep)
}

// UpdateDevice reads, edits and rewrites a device in one transaction.
func (s *Store) UpdateDevice(ctx context.Context, name string, edit func(provision.Device) (provision.Device, error)) (provision.Device, error) {
	key := strings.ToUpper(name)
	var out provision.Device
	err := s.tx(ctx, func(tx *sql.Tx) error {
		d, err := s.deviceInTx(ctx, tx, key)
		if err != nil {
			return err
		}
		nd, err := edit(d)
		if err != nil {
			return err
		}
		if err := s.rewriteDevice(ctx, tx, key, nd); err != nil {
			return err
		}
		out = nd
		return nil
	})
	if err != nil {
		return provision.Device{}, mapErr(err)
	}
	return out, nil
}

// DeleteUser removes a user and, in the same transaction, rewrites each
// device they own through clear.
func (s *Store) DeleteUser(ctx context.Context, id string, clear func(provision.Device) provision.Device) error {
	return mapErr(s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, qDeleteUser, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return provision.ErrUserNotFound
		}
		s.logUser(id)
		if _, err := s.exec(ctx, tx, qDeleteDeletions, id); err != nil {
			return err
		}
		rows, err := s.query(ctx, tx, qDevicesOfOwner, id)
		if err != nil {
			return err
		}
		var keys []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return err
			}
			keys = append(keys, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, key := range keys {
			d, err := s.deviceInTx(ctx, tx, key)
			if err != nil {
				return err
			}
			if err := s.rewriteDevice(ctx, tx, key, clear(d)); err != nil {
				return err
			}
		}
		return nil
	}))
}

// qLinesByDN reads every line with a DN in the empty partition and in the
// stored partitions, appearances and stored settings in one statement:
// each partition is one probe of the (partition, dn_num) and primary key
// indexes, so no index by DN alone weighs on auto-registration's writes.
// CROSS JOIN keeps SQLite's planner from walking the lines in the outer
// loop instead (it has no statistics to know better).
// Rows come by partition, then device and button; a stored line no device
// shows comes as one row without a device.
const qLinesByDN = `
	WITH parts(name) AS (SELECT '' UNION ALL SELECT name FROM partitions)
	SELECT l.partition, l.device_key, l.button, d.data
		FROM parts p CROSS JOIN lines l ON l.partition = p.name AND l.dn_num IS ?1 AND l.dn = ?2
		LEFT JOIN directory_numbers d ON d.partition = l.partition AND d.dn = l.dn
	UNION ALL
	SELECT d.partition, NULL, NULL, d.data
		FROM parts p CROSS JOIN directory_numbers d ON d.partition = p.name AND d.dn = ?2
		WHERE NOT EXISTS (SELECT 1 FROM lines l WHERE l.partition = d.partition AND l.dn_num IS ?1 AND l.dn = ?2)
	ORDER BY 1, 2, 3`

// LinesByDN returns the lines with a DN in the empty partition and every
// stored partition, with their appearances.
func (s *Store) LinesByDN(ctx context.Context, dn string) ([]provision.DNLine, error) {
	rows, err := s.linesByDN.QueryContext(ctx, dnNum(dn), dn)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []provision.DNLine
	for rows.Next() {
		var (
			partition string
			key       sql.NullString
			button    sql.NullInt64
			data      []byte
		)
		if err := rows.Scan(&partition, &key, &button, &data); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Partition != partition {
			k := provision.LineKey{DN: dn, Partition: partition}
			l, err := decodeLine(k, data)
			if err != nil {
				return nil, err
			}
			out = append(out, provision.DNLine{DirectoryNumber: l, Stored: data != nil})
		}
		if key.Valid {
			l := &out[len(out)-1]
			l.Appearances = append(l.Appearances, provision.LineAppearance{Device: key.String, Button: int(button.Int64)})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	// The key is upper-cased; a client device's own spelling is in its
	// document (the cache's, mostly). SEP names are upper-case already.
	for i := range out {
		for j, a := range out[i].Appearances {
			if strings.HasPrefix(a.Device, provision.PrefixSEP) {
				continue
			}
			if d, err := s.Device(ctx, a.Device); err == nil {
				out[i].Appearances[j].Device = d.Name
			}
		}
	}
	return out, nil
}
