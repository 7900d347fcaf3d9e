package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"selfprov/provision"
)

// Statements of the write path, prepared once at Open: preparing inside a
// transaction would wait for the single writer connection the transaction holds.
var (
	qDeviceOwner       = writeStatement(`SELECT owner FROM devices WHERE name_key = ?`)
	qAutoLinesOfDevice = writeStatement(`SELECT partition, dn_num FROM lines WHERE device_key = ? AND auto = 1 AND dn_num IS NOT NULL`)
	qDeleteLines       = writeStatement(`DELETE FROM lines WHERE device_key = ?`)
	qDeleteDevice      = writeStatement(`DELETE FROM devices WHERE name_key = ?`)
	qRecordDeletion    = writeStatement(`INSERT INTO deletions (owner, prefix, deleted_at) VALUES (?, ?, ?)
			ON CONFLICT (owner, prefix) DO UPDATE SET deleted_at = excluded.deleted_at`)
	qInsertDevice = writeStatement(`INSERT INTO devices (name_key, owner, state, model, data) VALUES (?, ?, ?, ?, ?)`)
	qAutoDNHolder = writeStatement(`SELECT device_key FROM lines WHERE partition = ? AND dn = ? AND auto = 1`)
	qInsertLine   = writeStatement(`INSERT INTO lines (device_key, button, dn, partition, dn_num, dn_len, auto) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	qDeviceData   = writeStatement(`SELECT data FROM devices WHERE name_key = ?`)
	// A DN is used when a device's line or a stored line has it.
	qUsedDNs = writeStatement(`SELECT dn_num FROM lines WHERE partition = ?1 AND dn_num >= ?2 AND dn_num <= ?3 AND dn_len = ?4
			UNION SELECT dn_num FROM directory_numbers WHERE partition = ?1 AND dn_num >= ?2 AND dn_num <= ?3 AND dn_len = ?4
			ORDER BY dn_num`)
	qUserExists  = writeStatement(`SELECT 1 FROM users WHERE id = ?`)
	qDeviceState = writeStatement(`SELECT state FROM devices WHERE name_key = ?`)
	// A self-provisioning's device row, rewritten while still auto-registered.
	qUpdateAutoRegistered = writeStatement(`UPDATE devices SET owner = ?, state = ?, model = ?, data = ? WHERE name_key = ? AND state = ?`)
)

// Device looks a device up by name, case-insensitively: one indexed read of
// one row, the lines included in the document.
func (s *Store) Device(ctx context.Context, name string) (provision.Device, error) {
	key := strings.ToUpper(name)
	d, exists, cached, gen := s.devices.lookup(key)
	switch {
	case !exists:
		return provision.Device{}, provision.ErrDeviceNotFound
	case cached:
		return d, nil
	}
	var data []byte
	err := s.getDevice.QueryRowContext(ctx, key).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return provision.Device{}, provision.ErrDeviceNotFound
	}
	if err != nil {
		return provision.Device{}, err
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return provision.Device{}, fmt.Errorf("sqlite: device %s: %w", name, err)
	}
	s.devices.fill(key, d, gen)
	return d, nil
}

// Devices lists devices in name order.
func (s *Store) Devices(ctx context.Context, f provision.DeviceFilter) ([]provision.Device, error) {
	q := `SELECT data FROM devices WHERE name_key > ?`
	args := []any{strings.ToUpper(f.After)}
	if f.NamePrefix != "" {
		// Range scan on the key instead of LIKE, whose escaping differs by engine.
		p := strings.ToUpper(f.NamePrefix)
		q += ` AND name_key >= ? AND name_key < ?`
		args = append(args, p, p+"\U0010FFFF")
	}
	if f.Owner != "" {
		q += ` AND owner = ?`
		args = append(args, f.Owner)
	}
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, string(f.State))
	}
	if f.Model != 0 {
		q += ` AND model = ?`
		args = append(args, f.Model)
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	q += ` ORDER BY name_key LIMIT ?`
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []provision.Device
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var d provision.Device
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// CountOwnedDevices counts the committed devices a user owns, from
// memory (deviceCache). A transaction that must not break a limit counts
// again inside itself (replaceOne).
func (s *Store) CountOwnedDevices(_ context.Context, owner string) (int, error) {
	return s.devices.ownedBy(owner), nil
}

// CreateDevice inserts a device and its lines.
func (s *Store) CreateDevice(ctx context.Context, d provision.Device) error {
	return mapErr(s.tx(ctx, func(tx *sql.Tx) error { return s.insertDevice(ctx, tx, d, false) }))
}

// DeleteDevice removes a device, releases its DNs and records the deletion
// for the owner's Webex cool-down.
func (s *Store) DeleteDevice(ctx context.Context, name string, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		released, err := s.deleteDevice(ctx, tx, name, at)
		// Lowering a hint early is always safe: it only widens the next scan.
		s.release(released)
		return err
	})
}

type releasedDN struct {
	partition string
	num       int64
}

// deleteDevice removes a device and its lines, returning the
// auto-registration DNs it held. A non-zero at records the deletion.
func (s *Store) deleteDevice(ctx context.Context, tx *sql.Tx, name string, at time.Time) ([]releasedDN, error) {
	key := strings.ToUpper(name)
	var owner sql.NullString
	if !at.IsZero() {
		// The owner is recorded with the deletion. Without one, the
		// delete itself tells whether there was a device: a replace has
		// just read it, and a second read of the row cost a query.
		if err := s.queryRow(ctx, tx, qDeviceOwner, key).Scan(&owner); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, provision.ErrDeviceNotFound
			}
			return nil, err
		}
	}
	released, err := s.autoLinesOf(ctx, tx, key)
	if err != nil {
		return nil, err
	}
	if _, err := s.exec(ctx, tx, qDeleteLines, key); err != nil {
		return nil, err
	}
	res, err := s.exec(ctx, tx, qDeleteDevice, key)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, err
	} else if n == 0 {
		return nil, provision.ErrDeviceNotFound
	}
	if !at.IsZero() && owner.Valid && owner.String != "" && len(key) >= 3 {
		_, err := s.exec(ctx, tx, qRecordDeletion, owner.String, key[:3], at.UnixNano())
		if err != nil {
			return nil, err
		}
	}
	s.logDevice(deviceChange{key: key, deleted: true})
	return released, nil
}

// checkProvisioned checks a provisioned device about to be written as key:
// its owner is a user, and no line of another device holds one of its
// DNs by auto-registration. The allocator picks DNs no line uses (the
// unique index backs it); a provisioned line must not take one
// auto-registration took.
func (s *Store) checkProvisioned(ctx context.Context, tx *sql.Tx, key string, d provision.Device) error {
	if d.Owner != "" {
		found, err := s.userExistsInTx(ctx, tx, d.Owner)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: device %s: owner %q", provision.ErrUserNotFound, d.Name, d.Owner)
		}
	}
	for _, l := range d.Lines {
		var holder string
		err := s.queryRow(ctx, tx, qAutoDNHolder, l.Partition, l.DN).Scan(&holder)
		if err == nil && holder != key {
			return fmt.Errorf("%w: DN %s is assigned to auto-registered device %s", provision.ErrDuplicate, l.DN, holder)
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	return nil
}

// autoLinesOf is the numbered DNs auto-registration gave the device,
// which its deletion or rewrite gives back.
func (s *Store) autoLinesOf(ctx context.Context, tx *sql.Tx, key string) ([]releasedDN, error) {
	rows, err := s.query(ctx, tx, qAutoLinesOfDevice, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var released []releasedDN
	for rows.Next() {
		var r releasedDN
		if err := rows.Scan(&r.partition, &r.num); err != nil {
			return nil, err
		}
		released = append(released, r)
	}
	return released, rows.Err()
}

// insertDevice inserts d and its lines. auto marks line DNs as taken by
// auto-registration, which no other device may share.
func (s *Store) insertDevice(ctx context.Context, tx *sql.Tx, d provision.Device, auto bool) error {
	return s.insertDeviceKeeping(ctx, tx, d, auto, nil)
}

// insertDeviceKeeping is insertDevice where the lines in keepAuto stay
// marked as auto-registration's: a rewritten auto-registered device keeps
// its DN to itself.
func (s *Store) insertDeviceKeeping(ctx context.Context, tx *sql.Tx, d provision.Device, auto bool, keepAuto map[provision.LineKey]bool) error {
	if !auto {
		if err := s.checkProvisioned(ctx, tx, strings.ToUpper(d.Name), d); err != nil {
			return err
		}
	}
	var rows newRows
	if err := s.addDeviceKeeping(&rows, d, auto, keepAuto); err != nil {
		return err
	}
	if _, err := s.exec(ctx, tx, qInsertDevice, rows.devices...); err != nil {
		if strings.Contains(err.Error(), "constraint failed") {
			return fmt.Errorf("%w: device %s exists", provision.ErrDuplicate, d.Name)
		}
		return err
	}
	for i, l := range d.Lines {
		if _, err := s.exec(ctx, tx, qInsertLine, rows.lines[i*lineColumns:(i+1)*lineColumns]...); err != nil {
			if strings.Contains(err.Error(), "constraint failed") {
				return fmt.Errorf("%w: line %d DN %s on %s", provision.ErrDuplicate, l.Button, l.DN, d.Name)
			}
			return err
		}
	}
	return nil
}

// Columns of a devices row and of a lines row, as qInsertDevice and
// qInsertLine write them.
const (
	deviceColumns = 5
	lineColumns   = 7
)

// newRows holds the rows of devices not yet written: the values of
// qInsertDevice and qInsertLine, one row after the other. The devices'
// documents are encoded back to back into docs, which the driver copies
// from when it binds them; so one newRows, kept for the next batch,
// encodes without allocating a document a device.
type newRows struct {
	devices []any
	lines   []any
	docs    []byte
	enc     *json.Encoder // writes to docs
}

// Write appends to docs, for enc.
func (r *newRows) Write(p []byte) (int, error) {
	r.docs = append(r.docs, p...)
	return len(p), nil
}

// encode returns d's document, as json.Marshal writes it.
func (r *newRows) encode(d provision.Device) ([]byte, error) {
	if r.enc == nil {
		r.enc = json.NewEncoder(r)
	}
	start := len(r.docs)
	if err := r.enc.Encode(d); err != nil {
		r.docs = r.docs[:start]
		return nil, err
	}
	// Encode ends the document with a newline. A later append may move
	// docs, but never changes the bytes an earlier document points at.
	return r.docs[start : len(r.docs)-1 : len(r.docs)-1], nil
}

func (r *newRows) empty() bool { return len(r.devices) == 0 }

// addDevice adds d's rows to r, and d to the transaction's log: a device is
// in the log once its rows are bound for this transaction.
func (s *Store) addDevice(r *newRows, d provision.Device, auto bool) error {
	return s.addDeviceKeeping(r, d, auto, nil)
}

func (s *Store) addDeviceKeeping(r *newRows, d provision.Device, auto bool, keepAuto map[provision.LineKey]bool) error {
	key, err := s.addDeviceRows(r, d, auto, keepAuto)
	if err != nil {
		return err
	}
	s.logDevice(deviceChange{key: key, dev: d}) // apply stores a copy
	return nil
}

// addDeviceRows adds d's rows to r and returns its name_key.
func (s *Store) addDeviceRows(r *newRows, d provision.Device, auto bool, keepAuto map[provision.LineKey]bool) (string, error) {
	data, err := r.encode(d)
	if err != nil {
		return "", err
	}
	key := strings.ToUpper(d.Name)
	var owner any
	if d.Owner != "" {
		owner = d.Owner
	}
	r.devices = append(r.devices, key, owner, string(d.State), d.Model, data)
	a := 0
	if auto {
		a = 1
	}
	for _, l := range d.Lines {
		var num any
		if n, err := strconv.ParseInt(l.DN, 10, 64); err == nil && l.DN != "" && l.DN[0] != '+' && l.DN[0] != '-' {
			num = n
			s.raiseCeiling(l.Partition, n)
		}
		la := a
		if keepAuto[provision.LineKey{DN: l.DN, Partition: l.Partition}] {
			la = 1
		}
		r.lines = append(r.lines, key, l.Button, l.DN, l.Partition, num, len(l.DN), la)
	}
	return key, nil
}

// Multi-row forms of qInsertDevice and qInsertLine, for 2^k rows: a batch
// of auto-registrations is written in a few statements, not two a phone.
// Each statement through database/sql and the driver cost as much as the
// B-tree work of its row.
const maxRowsLog2 = 6

var (
	qInsertDevices [maxRowsLog2 + 1]string
	qInsertLines   [maxRowsLog2 + 1]string
)

func init() {
	for k := range qInsertDevices {
		qInsertDevices[k] = writeStatement(multiRow(qInsertDevice, deviceColumns, 1<<k))
		qInsertLines[k] = writeStatement(multiRow(qInsertLine, lineColumns, 1<<k))
	}
}

// multiRow repeats the single-row VALUES list of insert n times.
func multiRow(insert string, columns, n int) string {
	row := "(" + strings.Repeat("?, ", columns-1) + "?)"
	head, _, _ := strings.Cut(insert, " VALUES ")
	return head + " VALUES " + strings.Repeat(row+", ", n-1) + row
}

// writeRows writes r inside tx, in statements of 2^k rows, largest first,
// and empties it; after an error r still holds rows, and whoever reuses it
// resets it first. It does not say which row an error belongs to: a caller
// that must know writes one device at a time (insertDevice).
func (s *Store) writeRows(ctx context.Context, tx *sql.Tx, r *newRows) error {
	if err := s.execRows(ctx, tx, &qInsertDevices, deviceColumns, r.devices); err != nil {
		return err
	}
	if err := s.execRows(ctx, tx, &qInsertLines, lineColumns, r.lines); err != nil {
		return err
	}
	r.reset()
	return nil
}

// reset empties r, keeping its buffers for the next batch.
func (r *newRows) reset() {
	clear(r.devices) // let the devices' values go
	clear(r.lines)
	r.devices, r.lines, r.docs = r.devices[:0], r.lines[:0], r.docs[:0]
	if cap(r.docs) > maxKeptDocs {
		r.docs = nil
	}
}

// maxKeptDocs bounds the document buffer kept between batches: a batch of
// auto-registered phones takes about 64 KB, one of big provisioned devices
// may take more, and is not kept.
const maxKeptDocs = 256 << 10

func (s *Store) execRows(ctx context.Context, tx *sql.Tx, stmts *[maxRowsLog2 + 1]string, columns int, values []any) error {
	for len(values) > 0 {
		k := min(bits.Len(uint(len(values)/columns))-1, maxRowsLog2)
		n := columns << k
		if _, err := s.exec(ctx, tx, stmts[k], values[:n]...); err != nil {
			return err
		}
		values = values[n:]
	}
	return nil
}

func hintKey(partition string, r provision.DNRange) string {
	return partition + "\x00" + r.Start + "\x00" + r.End
}

func (s *Store) setHint(key string, n int64) {
	s.hintMu.Lock()
	s.hints[key] = n
	s.hintMu.Unlock()
}

// release lowers the hints so released DNs are handed out again, lowest first.
func (s *Store) release(dns []releasedDN) {
	if len(dns) == 0 {
		return
	}
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	for k, v := range s.hints {
		for _, r := range dns {
			if strings.HasPrefix(k, r.partition+"\x00") && r.num < v {
				v = r.num
			}
		}
		s.hints[k] = v
	}
}

// loadCeilings reads the highest numeric DN of each partition; called once
// at Open.
func (s *Store) loadCeilings(ctx context.Context) error {
	rows, err := s.w.QueryContext(ctx, `SELECT partition, MAX(dn_num) FROM (
		SELECT partition, dn_num FROM lines WHERE dn_num IS NOT NULL
		UNION ALL SELECT partition, dn_num FROM directory_numbers WHERE dn_num IS NOT NULL) GROUP BY partition`)
	if err != nil {
		return err
	}
	defer rows.Close()
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	for rows.Next() {
		var partition string
		var n int64
		if err := rows.Scan(&partition, &n); err != nil {
			return err
		}
		s.ceilings[partition] = n
	}
	return rows.Err()
}

func (s *Store) raiseCeiling(partition string, n int64) {
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	if c, ok := s.ceilings[partition]; !ok || n > c {
		s.ceilings[partition] = n
	}
}

// lowestFree walks the used DNs of the range from `from` up and returns the
// first gap (end+1 when there is none). Above the partition's ceiling every
// DN is free: a range being filled in order is allocated without a query.
func (s *Store) lowestFree(ctx context.Context, tx *sql.Tx, partition string, from, end int64, width int) (int64, error) {
	s.hintMu.Lock()
	c, ok := s.ceilings[partition]
	s.hintMu.Unlock()
	if !ok || from > c {
		return from, nil
	}
	rows, err := s.query(ctx, tx, qUsedDNs,
		partition, from, end, width)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cand := from
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return 0, err
		}
		if v > cand {
			break
		}
		if v == cand {
			cand++
		}
	}
	return cand, rows.Err()
}

// ReplaceDevice swaps an auto-registered device for a provisioned one.
func (s *Store) ReplaceDevice(ctx context.Context, oldName string, d provision.Device, limit int) error {
	// The batch runs on its own context: once begun, a replacement commits
	// even if this caller gives up, so its answer is awaited regardless.
	done := make(chan autoRegResult, 1)
	s.enqueue(&autoRegRequest{ctx: ctx, name: oldName, replace: &replacement{dev: d, limit: limit},
		finish: func(res autoRegResult) { done <- res }}, true)
	return (<-done).err
}

// replaceOne runs a ReplaceDevice request inside a batch's transaction.
// A device that keeps its name is rewritten in place: its row updated
// only while it is still auto-registered (which that UPDATE checks), its
// lines replaced. That is a self-provisioning, once a phone; one that
// takes another name is deleted and inserted.
func (s *Store) replaceOne(ctx context.Context, tx *sql.Tx, req *autoRegRequest) autoRegResult {
	r := req.replace
	key := strings.ToUpper(req.name)
	if strings.ToUpper(r.dev.Name) != key {
		return s.replaceRenamed(ctx, tx, req)
	}
	refuse := func(err error) autoRegResult {
		// What the device is comes first, as when its state was read first.
		if serr := s.autoRegisteredInTx(ctx, tx, key); serr != nil {
			return autoRegResult{err: serr}
		}
		return autoRegResult{err: err}
	}
	if r.limit > 0 && r.dev.Owner != "" && s.ownedInTx(r.dev.Owner) >= r.limit {
		return refuse(provision.ErrDeviceLimit)
	}
	if err := s.checkProvisioned(ctx, tx, key, r.dev); err != nil {
		return refuse(err)
	}
	released, err := s.autoLinesOf(ctx, tx, key)
	if err != nil {
		return autoRegResult{err: err}
	}
	var rows newRows
	if _, err := s.addDeviceRows(&rows, r.dev, false, nil); err != nil {
		return autoRegResult{err: err}
	}
	res, err := s.exec(ctx, tx, qUpdateAutoRegistered, rows.devices[1], rows.devices[2], rows.devices[3], rows.devices[4],
		key, string(provision.StateAutoRegistered))
	if err != nil {
		return autoRegResult{err: err, wrote: true}
	}
	if n, err := res.RowsAffected(); err != nil {
		return autoRegResult{err: err, wrote: true}
	} else if n == 0 {
		if err := s.autoRegisteredInTx(ctx, tx, key); err != nil {
			return autoRegResult{err: err}
		}
		return autoRegResult{err: fmt.Errorf("sqlite: device %s is auto-registered but was not updated", key)}
	}
	s.logDevice(deviceChange{key: key, dev: r.dev, updated: true})
	if _, err := s.exec(ctx, tx, qDeleteLines, key); err != nil {
		return autoRegResult{err: err, wrote: true}
	}
	s.release(released)
	for i, l := range r.dev.Lines {
		if _, err := s.exec(ctx, tx, qInsertLine, rows.lines[i*lineColumns:(i+1)*lineColumns]...); err != nil {
			if strings.Contains(err.Error(), "constraint failed") {
				err = fmt.Errorf("%w: line %d DN %s on %s", provision.ErrDuplicate, l.Button, l.DN, r.dev.Name)
			}
			return autoRegResult{err: err, wrote: true}
		}
	}
	return autoRegResult{dev: r.dev}
}

// replaceRenamed is replaceOne for a device that takes another name.
func (s *Store) replaceRenamed(ctx context.Context, tx *sql.Tx, req *autoRegRequest) autoRegResult {
	r := req.replace
	if err := s.autoRegisteredInTx(ctx, tx, strings.ToUpper(req.name)); err != nil {
		return autoRegResult{err: err}
	}
	if r.limit > 0 && r.dev.Owner != "" && s.ownedInTx(r.dev.Owner) >= r.limit {
		return autoRegResult{err: provision.ErrDeviceLimit}
	}
	released, err := s.deleteDevice(ctx, tx, req.name, time.Time{})
	if err != nil {
		return autoRegResult{err: err, wrote: true}
	}
	s.release(released)
	if err := s.insertDevice(ctx, tx, r.dev, false); err != nil {
		return autoRegResult{err: err, wrote: true}
	}
	return autoRegResult{dev: r.dev}
}

// autoRegisteredInTx is nil for an auto-registered device, else
// ErrDeviceNotFound or ErrDeviceNotAutoReg.
func (s *Store) autoRegisteredInTx(ctx context.Context, tx *sql.Tx, key string) error {
	var state string
	err := s.queryRow(ctx, tx, qDeviceState, key).Scan(&state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return provision.ErrDeviceNotFound
	case err != nil:
		return err
	case state != string(provision.StateAutoRegistered):
		return provision.ErrDeviceNotAutoReg
	}
	return nil
}

// ownedInTx is the number of devices owner owns as the running transaction
// sees them: the committed count, moved by the device writes it logged so
// far (writeMu is held, so nothing else commits meanwhile). It answers
// what SELECT COUNT(*) ... WHERE owner would, without the query.
func (s *Store) ownedInTx(owner string) int {
	c := &s.devices
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := c.owned[owner]
	var now map[string]string // device key → owner after this transaction's writes
	for _, ch := range s.devLog {
		before, ok := now[ch.key]
		if !ok {
			before = c.owners[ch.key]
		}
		after := ""
		if !ch.deleted {
			after = ch.dev.Owner
		}
		if before == owner {
			n--
		}
		if after == owner {
			n++
		}
		if now == nil {
			now = make(map[string]string, len(s.devLog))
		}
		now[ch.key] = after
	}
	return n
}

// userExistsInTx tells whether a user with this ID exists as the running
// transaction sees it: from the user directory when the transaction has
// written no user and the directory is current, else from the table.
func (s *Store) userExistsInTx(ctx context.Context, tx *sql.Tx, id string) (bool, error) {
	if len(s.userLog) == 0 {
		if found, ok := s.users.has(id); ok {
			return found, nil
		}
	}
	var one int
	err := s.queryRow(ctx, tx, qUserExists, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// LastDeletion tells when owner last lost a device with this prefix.
func (s *Store) LastDeletion(ctx context.Context, owner, prefix string) (time.Time, error) {
	var ns int64
	err := s.r.QueryRowContext(ctx, `SELECT deleted_at FROM deletions WHERE owner = ? AND prefix = ?`, owner, strings.ToUpper(prefix)).Scan(&ns)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, ns), nil
}

var _ provision.DeviceWatcher = (*Store)(nil)

// WatchDevices implements provision.DeviceWatcher: the lock file makes
// this Store the database's only writer, and every device write passes
// through tx, which calls fn with each name_key (the upper-cased name) its
// transaction wrote, after the commit.
func (s *Store) WatchDevices(fn func(name string)) { s.devices.watch(fn) }
