package sqlite

import (
	"context"
	"database/sql"
	"hash/maphash"
	"slices"
	"sync"

	"selfprov/provision"
)

// cachedDevicesPerGeneration bounds the decoded devices kept in memory: two
// generations of this many. Few on purpose: a boot storm reads the devices
// it just wrote, and a larger heap of decoded devices cost more in garbage
// collection (on two cores, in REGISTER latency) than their reads saved.
// Names are always all kept.
const cachedDevicesPerGeneration = 2048

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
	mu sync.RWMutex
	// names counts the name_keys in the table by their hash: a map without
	// pointers, which the garbage collector does not walk, however many
	// devices there are. Two names may share a hash, so a hit means "may
	// exist" (then the database answers) and a miss means "does not".
	seed  maphash.Seed
	names map[uint64]uint32
	// Decoded devices by name_key, in two generations: when docs is full it
	// becomes old, and a device read from old moves back into docs. What
	// was not read for a generation is dropped.
	docs, old map[string]provision.Device
	gen       uint64 // bumped by every applied write
	// owners holds the owner of every device that has one, by name_key,
	// and owned how many devices each owner has: every login checks its
	// user's device limit, which a query on the read pool answered at a
	// few percent of a boot storm's CPU.
	owners map[string]string
	owned  map[string]int
	// watchers are told every name a committed write changed.
	watchers []func(string)
}

// deviceChange is one device write of a transaction: the device as written,
// or a deletion.
type deviceChange struct {
	key     string
	dev     provision.Device
	deleted bool
	updated bool // the row was rewritten in place, not inserted
}

// load reads every device name and owner; called once at Open.
func (c *deviceCache) load(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT name_key, owner FROM devices`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var keys []string
	owners := make(map[string]string)
	for rows.Next() {
		var k string
		var owner sql.NullString
		if err := rows.Scan(&k, &owner); err != nil {
			return err
		}
		keys = append(keys, k)
		if owner.String != "" {
			owners[k] = owner.String
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	c.init(keys, owners)
	return nil
}

// init empties the cache and records the committed names and owners.
func (c *deviceCache) init(keys []string, owners map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seed = maphash.MakeSeed()
	c.names = make(map[uint64]uint32, len(keys))
	for _, k := range keys {
		c.names[maphash.String(c.seed, k)]++
	}
	c.docs, c.old = map[string]provision.Device{}, map[string]provision.Device{}
	c.owners, c.owned = make(map[string]string, len(owners)), make(map[string]int)
	for k, o := range owners {
		c.setOwner(k, o)
	}
}

// setOwner records owner as the owner of the device key ("" for none);
// c.mu is held.
func (c *deviceCache) setOwner(key, owner string) {
	if old, ok := c.owners[key]; ok {
		if c.owned[old] > 1 {
			c.owned[old]--
		} else {
			delete(c.owned, old)
		}
		delete(c.owners, key)
	}
	if owner != "" {
		c.owners[key] = owner
		c.owned[owner]++
	}
}

// ownedBy is the number of committed devices owner owns.
func (c *deviceCache) ownedBy(owner string) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.owned[owner]
}

// lookup returns the cached device (a copy the caller may change), or
// exists=false when no such device exists. cached=false with exists=true
// means: it may exist; read it, and offer what was read to fill with gen.
func (c *deviceCache) lookup(key string) (dev provision.Device, exists, cached bool, gen uint64) {
	c.mu.RLock()
	d, young := c.docs[key]
	exists = c.names[maphash.String(c.seed, key)] > 0
	gen = c.gen
	c.mu.RUnlock()
	if !exists || young {
		return cloneDevice(d), exists, young, gen
	}
	// Not in the young generation: a device found in the old one moves back.
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.old[key]; ok {
		c.put(key, d)
		return cloneDevice(d), true, true, c.gen
	}
	return provision.Device{}, c.names[maphash.String(c.seed, key)] > 0, false, c.gen
}

// exists reports whether a device with this name_key may be committed;
// false is certain.
func (c *deviceCache) exists(key string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.names[maphash.String(c.seed, key)] > 0
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

// watch adds fn to the watchers.
func (c *deviceCache) watch(fn func(string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watchers = append(c.watchers, fn)
}

// apply records a committed transaction's device writes, then tells the
// watchers. The caller holds writeMu, so watchers hear of writes in
// commit order, each before the next write begins.
func (c *deviceCache) apply(log []deviceChange) {
	if len(log) == 0 {
		return
	}
	watchers := c.record(log)
	for _, fn := range watchers {
		for _, ch := range log {
			fn(ch.key)
		}
	}
}

func (c *deviceCache) record(log []deviceChange) []func(string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, ch := range log {
		if ch.deleted {
			if h := maphash.String(c.seed, ch.key); c.names[h] > 1 {
				c.names[h]--
			} else {
				delete(c.names, h)
			}
			delete(c.docs, ch.key)
			delete(c.old, ch.key)
			c.setOwner(ch.key, "")
			continue
		}
		// A logged insert is always a new row (a device rewritten under
		// another name is deleted first), so it adds one to its hash's
		// count; a row updated in place was counted when inserted.
		if !ch.updated {
			c.names[maphash.String(c.seed, ch.key)]++
		}
		c.put(ch.key, ch.dev)
		c.setOwner(ch.key, ch.dev.Owner)
	}
	return c.watchers
}

// put stores a copy of d in the young generation; c.mu is held.
func (c *deviceCache) put(key string, d provision.Device) {
	if _, ok := c.docs[key]; !ok && len(c.docs) >= cachedDevicesPerGeneration {
		c.old, c.docs = c.docs, make(map[string]provision.Device, cachedDevicesPerGeneration)
	}
	delete(c.old, key)
	c.docs[key] = cloneDevice(d)
}

func cloneDevice(d provision.Device) provision.Device {
	d.Lines = slices.Clone(d.Lines)
	return d
}
