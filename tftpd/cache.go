package tftpd

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"runtime"
	"sync"

	"selfprov/phonecfg"
)

// configCache keeps rendered device configs deflated against a preset
// dictionary: a config rendered for a made-up device of the same cluster.
// Configs differ from each other in a few values only, so an entry costs a
// few hundred bytes instead of about two kilobytes, which keeps 10,000
// devices well inside the memory budget; inflating is far cheaper than
// rendering again.
//
// Deflating costs more than rendering, so a config is kept only when it
// is rendered a second time from the same input. The first time leaves a
// mark (the fingerprint without bytes). In a boot storm every config is
// fetched once, just after the change that produced it, and would
// otherwise be deflated for nothing.
type configCache struct {
	dict    []byte
	max     int
	readers sync.Pool // flate readers, reset per use
	// deflaters holds at most one *flate.Writer per CPU (nil until first
	// needed). A writer is about a megabyte; a sync.Pool, emptied by every
	// collection, had a storm allocate one per config and hold hundreds
	// of megabytes at once, when more than one per CPU cannot run anyway.
	deflaters chan *flate.Writer

	mu      sync.RWMutex
	entries map[string]cached
}

// cached is a deflated config and the fingerprint of what it was rendered
// from; z is nil for a config rendered once and not kept.
type cached struct {
	sum  uint64
	size int
	z    []byte
}

func newConfigCache(cms []phonecfg.CallManager, max int) *configCache {
	sample := phonecfg.Device{
		Name: "SEP000000000000", DevicePool: "Default", CallManagerGroup: "Default", CallManagers: cms,
		Transport: phonecfg.TransportTCP, RegisterExpires: DefaultRegisterExpires, IdleTimeout: 5,
		IdleURL:           "http://" + cms[0].Host + ":8080/xps/idle?name=SEP000000000000",
		AuthenticationURL: "http://" + cms[0].Host + ":8080/xps/authenticate",
		LoadInformation:   "sip88xx.14-2-1-0201-10", UserLocale: "English_United_States",
		VersionStamp: "1700000000-00000000-0000-4000-8000-000000000000",
		Lines: []phonecfg.Line{{Button: 1, DN: "1000", Label: "1000", DisplayName: "Auto 1000",
			Contact: "00000000-0000-4000-8000-000000000000", MaxCalls: 2, BusyTrigger: 1}},
	}
	dict, err := phonecfg.RenderDevice(sample)
	if err != nil {
		dict = nil // a cache without a dictionary still works, only larger
	}
	c := &configCache{dict: dict, max: max, entries: map[string]cached{},
		deflaters: make(chan *flate.Writer, runtime.GOMAXPROCS(0))}
	for range cap(c.deflaters) {
		c.deflaters <- nil
	}
	return c
}

// get returns the config cached for name if it was rendered from input
// with fingerprint sum.
func (c *configCache) get(name string, sum uint64) ([]byte, bool) {
	c.mu.RLock()
	e, ok := c.entries[name]
	c.mu.RUnlock()
	if !ok || e.sum != sum || e.z == nil {
		return nil, false
	}
	r, _ := c.readers.Get().(io.ReadCloser)
	if r == nil {
		r = flate.NewReaderDict(bytes.NewReader(e.z), c.dict)
	} else if err := r.(flate.Resetter).Reset(bytes.NewReader(e.z), c.dict); err != nil {
		return nil, false
	}
	defer c.readers.Put(r)
	data := make([]byte, e.size)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, false
	}
	return data, true
}

// put records that name rendered to data from input with fingerprint sum;
// the bytes are kept from the second time on.
func (c *configCache) put(name string, sum uint64, data []byte) error {
	c.mu.RLock()
	e, ok := c.entries[name]
	c.mu.RUnlock()
	if !ok || e.sum != sum {
		c.store(name, cached{sum: sum})
		return nil
	}
	var buf bytes.Buffer
	w := <-c.deflaters
	if w == nil {
		var err error
		if w, err = flate.NewWriterDict(&buf, flate.BestSpeed, c.dict); err != nil {
			c.deflaters <- nil
			return fmt.Errorf("tftpd: config cache: %w", err)
		}
	} else {
		w.Reset(&buf)
	}
	_, err := w.Write(data)
	if err == nil {
		err = w.Close()
	}
	c.deflaters <- w
	if err != nil {
		return err
	}
	c.store(name, cached{sum: sum, size: len(data), z: bytes.Clone(buf.Bytes())})
	return nil
}

func (c *configCache) store(name string, e cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[name]; !ok && len(c.entries) >= c.max {
		for k := range c.entries { // drop an arbitrary entry
			delete(c.entries, k)
			break
		}
	}
	c.entries[name] = e
}

// bytes is what the entries hold, for tests and tuning: entries counts
// kept configs, not marks.
func (c *configCache) bytes() (entries, stored int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, e := range c.entries {
		if e.z != nil {
			entries++
			stored += len(e.z)
		}
	}
	return entries, stored
}
