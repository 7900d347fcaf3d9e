package tftpd

import (
	"strconv"
	"sync"
)

// configCache keeps rendered device configs in memory, by upper-cased
// device name, so that a config fetched again is served without a store
// read or a render. A config is a couple of kilobytes: 10,000 devices
// take about 20 MB, in byte slices the garbage collector does not scan.
//
// Two ways keep it exact. With a core whose store reports every device
// write (provision.DeviceWatcher), forget drops a changed device and an
// entry is used as it is (lookup); a render started before a write it
// could not see is not kept, because the write forgets the slot it
// reserved. Without one, every fetch reads the device and an entry is
// used only when the fingerprint of what it was rendered from matches
// (get).
//
// With such a core it also keeps the names the core had no device for,
// so an unknown phone asking again and again (every few seconds while it
// waits to be added) is answered without a read: the write that creates
// the device forgets the name as it forgets a changed one, and a name
// read before a write it could not see is not kept, as a render is not.
type configCache struct {
	max int

	mu      sync.RWMutex
	entries map[string]*cached
	absent  map[string]struct{} // at most max; keys as entries'
}

// cached is one rendered config. data is nil while its render is under
// way (a reserved slot).
type cached struct {
	sum      uint64
	fileName string
	data     []byte
	length   []string // the Content-Length header value, made once
}

func newConfigCache(max int) *configCache {
	return &configCache{max: max, entries: map[string]*cached{}, absent: map[string]struct{}{}}
}

// lookup returns the config rendered for the device with key, if any.
func (c *configCache) lookup(key string) (*cached, bool) {
	e, _ := c.find(key)
	return e, e != nil
}

// find returns the config rendered for the device with key, or nil and
// whether the device is known to be absent.
func (c *configCache) find(key string) (e *cached, absent bool) {
	c.mu.RLock()
	e = c.entries[key]
	if e == nil {
		_, absent = c.absent[key]
	}
	c.mu.RUnlock()
	if e != nil && e.data == nil {
		return nil, false // a render under way
	}
	return e, absent
}

// reserve records that a render of key starts, before its device is read;
// fill keeps the result only if no write to the device came in between.
func (c *configCache) reserve(key string) *cached {
	e := &cached{}
	c.store(key, e)
	return e
}

// fill keeps data for key if slot is still reserved.
func (c *configCache) fill(key string, slot *cached, fileName string, data []byte) *cached {
	e := &cached{fileName: fileName, data: data, length: []string{strconv.Itoa(len(data))}}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[key] == slot {
		c.entries[key] = e
	}
	return e
}

// markAbsent records that the device with key does not exist, if slot,
// reserved before the core was asked, is still reserved.
func (c *configCache) markAbsent(key string, slot *cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[key] != slot {
		return
	}
	delete(c.entries, key)
	if len(c.absent) >= c.max {
		for k := range c.absent { // drop an arbitrary name
			delete(c.absent, k)
			break
		}
	}
	c.absent[key] = struct{}{}
}

// forget drops what is kept for key: its device was written.
func (c *configCache) forget(key string) {
	c.mu.Lock()
	delete(c.entries, key)
	delete(c.absent, key)
	c.mu.Unlock()
}

// get returns the config cached for key if it was rendered from input
// with fingerprint sum.
func (c *configCache) get(key string, sum uint64) (*cached, bool) {
	e, ok := c.lookup(key)
	if !ok || e.sum != sum {
		return nil, false
	}
	return e, true
}

// put keeps data rendered for key from input with fingerprint sum.
func (c *configCache) put(key string, sum uint64, fileName string, data []byte) *cached {
	e := &cached{sum: sum, fileName: fileName, data: data, length: []string{strconv.Itoa(len(data))}}
	c.store(key, e)
	return e
}

func (c *configCache) store(key string, e *cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k := range c.entries { // drop an arbitrary entry
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = e
	delete(c.absent, key)
}

// bytes is what the entries hold, for tests and tuning: entries counts
// rendered configs, not reserved slots.
func (c *configCache) bytes() (entries, stored int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, e := range c.entries {
		if e.data != nil {
			entries++
			stored += len(e.data)
		}
	}
	return entries, stored
}
