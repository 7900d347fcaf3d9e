package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"sync"

	"selfprov/provision"
)

// maxCachedDevices bounds the decoded devices kept in memory (about 1 KB
// each); names are always all kept.
const maxCachedDevices = 50_000

// deviceCache mirrors the devices table in memory. It holds every device
// name, so that the question every first REGISTER and every unknown
// phone's config request asks ("is there such a device?") is answered
// without a query, and the decoded documents of the devices last read or
// written, which phones fetch again and again while booting.
//
// It is exact because this Store is the database's only writer (the lock
// file) and every device write goes through insertDevice or deleteDevice
// inside tx, which log what they change; tx applies the log after the
// commit, in commit order, before the next transaction starts (writeMu).
type deviceCache struct {
	mu    sync.RWMutex
	names map[string]struct{}         // every name_key in the table
	docs  map[string]provision.Device // by name_key; bounded
	gen   uint64                      // bumped by every applied write
}

// deviceChange is one device write of a transaction: the device as written,
// or a deletion.
type deviceChange struct {
	key     string
	dev     provision.Device
	deleted bool
}

// load reads every device name; called once at Open.
func (c *deviceCache) load(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT name_key FROM devices`)
	if err != nil {
		return err
	}
	defer rows.Close()
	names := map[string]struct{}{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return err
		}
		names[k] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.names, c.docs = names, map[string]provision.Device{}
	c.mu.Unlock()
	return nil
}

// lookup returns the cached device (a copy the caller may change), or
// exists=false when no such device exists. cached=false with exists=true
// means: read it, and offer it to fill with gen.
func (c *deviceCache) lookup(key string) (dev provision.Device, exists, cached bool, gen uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if _, ok := c.names[key]; !ok {
		return provision.Device{}, false, false, c.gen
	}
	d, ok := c.docs[key]
	if !ok {
		return provision.Device{}, true, false, c.gen
	}
	return cloneDevice(d), true, true, c.gen
}

// exists reports whether a device with this name_key is committed.
func (c *deviceCache) exists(key string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.names[key]
	return ok
}

// fill caches what a reader read, unless a write was applied since it
// looked up gen: the read may then predate that write.
func (c *deviceCache) fill(key string, d provision.Device, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	c.put(key, d)
}

// apply records a committed transaction's device writes.
func (c *deviceCache) apply(log []deviceChange) {
	if len(log) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, ch := range log {
		if ch.deleted {
			delete(c.names, ch.key)
			delete(c.docs, ch.key)
			continue
		}
		c.names[ch.key] = struct{}{}
		c.put(ch.key, ch.dev)
	}
}

// put stores a copy of d; c.mu is held. A full cache drops some entries:
// an arbitrary eighth, since map order is random.
func (c *deviceCache) put(key string, d provision.Device) {
	if _, ok := c.docs[key]; !ok && len(c.docs) >= maxCachedDevices {
		n := maxCachedDevices / 8
		for k := range c.docs {
			if n == 0 {
				break
			}
			delete(c.docs, k)
			n--
		}
	}
	c.docs[key] = cloneDevice(d)
}

func cloneDevice(d provision.Device) provision.Device {
	d.Lines = slices.Clone(d.Lines)
	return d
}
