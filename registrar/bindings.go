package registrar

import (
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Transport of a binding.
type Transport uint8

const (
	UDP Transport = iota + 1
	TCP
	TLS
)

func (t Transport) String() string {
	switch t {
	case UDP:
		return "udp"
	case TCP:
		return "tcp"
	case TLS:
		return "tls"
	}
	return "unknown"
}

func transportOf(network string) Transport {
	switch network {
	case "UDP", "udp":
		return UDP
	case "TCP", "tcp":
		return TCP
	case "TLS", "tls":
		return TLS
	}
	return 0
}

// Binding is one registered device: where and how to reach it.
type Binding struct {
	DeviceName string
	Contact    string // Contact URI the phone registered
	AOR        string // user part of the To URI (the DN a Cisco phone registers)
	Source     string // ip:port the REGISTER came from
	Transport  Transport
	CallID     string // of the REGISTER; echoed in the service-control NOTIFY
	UserAgent  string
	Expires    time.Time // granted expiry; the binding lives a little longer
}

// The binding table holds no pointers: the index is a map of integers, the
// slots are plain structs and the strings live in a byte arena per shard.
// The garbage collector walks none of it, however many phones register.
// With 400,000 bindings of five strings each, walking them took a fifth
// of the daemon's CPU, on the two cores the REGISTERs use.

// slot is a binding as stored. Its strings are text[off:off+size] of its
// shard: the device name, contact, AOR, source, Call-ID and user agent,
// back to back, ends[k] being where the k-th ends. A free slot has no name.
type slot struct {
	hash      uint64 // of the device name: its key in the shard's index
	off, size uint32
	ends      [5]uint32
	transport Transport
	notifySeq uint32
	expires   int64 // granted expiry
	deadline  int64 // removal time: expiry plus grace and jitter
	verified  int64 // last time the device was read from the store
}

const shardCount = 64

// table is the in-memory binding table, sharded by device name so
// concurrent REGISTERs of different phones rarely share a lock.
type table struct {
	seed   maphash.Seed
	shards [shardCount]shard
	count  atomic.Int64
	grace  time.Duration // fixed part of the delay between expiry and removal
	jitter float64       // random part, as a fraction of the granted time
}

type shard struct {
	mu    sync.RWMutex
	index map[uint64]uint32 // device name's hash → slot
	// collided holds the names whose hash another name in index has taken.
	// Two of a shard's names sharing 64 bits of hash is all but impossible,
	// but must still not merge two phones.
	collided map[string]uint32
	slots    []slot
	free     []uint32 // free slots
	text     []byte
	dead     int // bytes of text no slot uses any more
}

func newTable(grace time.Duration, jitter float64) *table {
	t := &table{seed: maphash.MakeSeed(), grace: grace, jitter: jitter}
	for i := range t.shards {
		t.shards[i].index = make(map[uint64]uint32)
	}
	return t
}

func (t *table) shard(name string) (*shard, uint64) {
	h := maphash.String(t.seed, name)
	return &t.shards[h%shardCount], h
}

// field is the k-th string of sl (0 name, 1 contact, 2 AOR, 3 source,
// 4 Call-ID, 5 user agent), in the shard's arena.
func (s *shard) field(sl *slot, k int) []byte {
	start := uint32(0)
	if k > 0 {
		start = sl.ends[k-1]
	}
	end := sl.size
	if k < len(sl.ends) {
		end = sl.ends[k]
	}
	return s.text[sl.off+start : sl.off+end]
}

// find returns the slot of name.
func (s *shard) find(name string, h uint64) (uint32, bool) {
	if i, ok := s.index[h]; ok && string(s.field(&s.slots[i], 0)) == name {
		return i, true
	}
	i, ok := s.collided[name]
	return i, ok
}

// fields are a binding's strings in slot order.
func fields(name string, b *Binding) [6]string {
	return [6]string{name, b.Contact, b.AOR, b.Source, b.CallID, b.UserAgent}
}

// sameText reports whether sl already holds these strings, as a refresh
// from the same phone at the same address does.
func (s *shard) sameText(sl *slot, f *[6]string) bool {
	for k := 1; k < len(f); k++ {
		if string(s.field(sl, k)) != f[k] {
			return false
		}
	}
	return true
}

// setText appends f to the arena as sl's text; its old text becomes dead.
func (s *shard) setText(sl *slot, f *[6]string) {
	s.dead += int(sl.size)
	sl.off = uint32(len(s.text))
	for k, v := range f {
		s.text = append(s.text, v...)
		if k < len(sl.ends) {
			sl.ends[k] = uint32(len(s.text)) - sl.off
		}
	}
	sl.size = uint32(len(s.text)) - sl.off
}

// insert stores a new slot for f[0] under hash h.
func (s *shard) insert(h uint64, f *[6]string) uint32 {
	var i uint32
	if n := len(s.free); n > 0 {
		i, s.free = s.free[n-1], s.free[:n-1]
	} else {
		s.slots = append(s.slots, slot{})
		i = uint32(len(s.slots) - 1)
	}
	sl := &s.slots[i]
	*sl = slot{hash: h}
	s.setText(sl, f)
	if _, taken := s.index[h]; taken {
		if s.collided == nil {
			s.collided = make(map[string]uint32)
		}
		s.collided[f[0]] = i
	} else {
		s.index[h] = i
	}
	return i
}

// delete frees slot i.
func (s *shard) delete(i uint32) {
	sl := &s.slots[i]
	if j, ok := s.index[sl.hash]; ok && j == i {
		delete(s.index, sl.hash)
		// A name that collided with this one takes its place.
		for name, j := range s.collided {
			if s.slots[j].hash == sl.hash {
				delete(s.collided, name)
				s.index[sl.hash] = j
				break
			}
		}
	} else {
		delete(s.collided, string(s.field(sl, 0)))
	}
	s.dead += int(sl.size)
	*sl = slot{}
	s.free = append(s.free, i)
}

// compact rewrites the arena without its dead text once that is most of
// it: changed and removed bindings leave their old text behind.
func (s *shard) compact() {
	if s.dead < 64<<10 || s.dead < len(s.text)/2 {
		return
	}
	text := make([]byte, 0, len(s.text)-s.dead)
	for i := range s.slots {
		sl := &s.slots[i]
		if sl.size == 0 {
			continue
		}
		off := uint32(len(text))
		text = append(text, s.text[sl.off:sl.off+sl.size]...)
		sl.off = off
	}
	s.text, s.dead = text, 0
}

// binding is slot i as a Binding, its strings copied out of the arena.
func (s *shard) binding(i uint32) Binding {
	sl := &s.slots[i]
	return Binding{
		DeviceName: string(s.field(sl, 0)), Contact: string(s.field(sl, 1)), AOR: string(s.field(sl, 2)),
		Source: string(s.field(sl, 3)), Transport: sl.transport, CallID: string(s.field(sl, 4)),
		UserAgent: string(s.field(sl, 5)), Expires: time.Unix(0, sl.expires),
	}
}

// get returns name's slot: its times, not its strings.
func (t *table) get(name string) (slot, bool) {
	s, h := t.shard(name)
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.find(name, h)
	if !ok {
		return slot{}, false
	}
	return s.slots[i], true
}

// binding returns name's binding.
func (t *table) binding(name string) (Binding, bool) {
	s, h := t.shard(name)
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.find(name, h)
	if !ok {
		return Binding{}, false
	}
	return s.binding(i), true
}

// put stores or refreshes a binding expiring granted after now. A refresh
// with the strings already stored allocates nothing. verified records a
// store read of the device.
func (t *table) put(name string, b Binding, now time.Time, granted time.Duration, verified bool) {
	n := now.UnixNano()
	// The binding outlives its granted time by a grace (a Cisco phone
	// refreshes 5 s before expiry; a late one must not flap) plus jitter, so
	// bindings made in one burst are not all removed in the same sweep.
	extra := t.grace
	if t.jitter > 0 {
		extra += time.Duration(rand.Float64() * t.jitter * float64(granted))
	}
	f := fields(name, &b)
	s, h := t.shard(name)
	s.mu.Lock()
	i, ok := s.find(name, h)
	if !ok {
		i = s.insert(h, &f)
	} else if sl := &s.slots[i]; !s.sameText(sl, &f) {
		s.setText(sl, &f)
		s.compact()
	}
	sl := &s.slots[i]
	sl.transport, sl.expires, sl.deadline = b.Transport, n+int64(granted), n+int64(granted+extra)
	if verified {
		sl.verified = n
	}
	s.mu.Unlock()
	if !ok {
		t.count.Add(1)
	}
}

func (t *table) remove(name string) bool {
	s, h := t.shard(name)
	s.mu.Lock()
	i, ok := s.find(name, h)
	if ok {
		s.delete(i)
		s.compact()
	}
	s.mu.Unlock()
	if ok {
		t.count.Add(-1)
	}
	return ok
}

// removeAOR removes every binding registered with this AOR user and
// returns how many. It walks the whole table: it serves the rare
// "Contact: *" unregister of a line's DN, which names no device.
func (t *table) removeAOR(aor string) int {
	removed := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for j := range s.slots {
			if sl := &s.slots[j]; sl.size > 0 && string(s.field(sl, 2)) == aor {
				s.delete(uint32(j))
				removed++
			}
		}
		s.compact()
		s.mu.Unlock()
	}
	t.count.Add(int64(-removed))
	return removed
}

// nextNotifySeq returns name's binding and the CSeq for its next NOTIFY.
func (t *table) nextNotifySeq(name string) (Binding, uint32, bool) {
	s, h := t.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.find(name, h)
	if !ok {
		return Binding{}, 0, false
	}
	s.slots[i].notifySeq++
	return s.binding(i), 100 + s.slots[i].notifySeq, true
}

// sweep removes bindings past their deadline and returns how many.
func (t *table) sweep(now time.Time) int {
	n := now.UnixNano()
	removed := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for j := range s.slots {
			if sl := &s.slots[j]; sl.size > 0 && sl.deadline <= n {
				s.delete(uint32(j))
				removed++
			}
		}
		s.compact()
		s.mu.Unlock()
	}
	t.count.Add(int64(-removed))
	return removed
}

func (t *table) len() int { return int(t.count.Load()) }

func (t *table) list() []Binding {
	out := make([]Binding, 0, t.len())
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		for j := range s.slots {
			if s.slots[j].size > 0 {
				out = append(out, s.binding(uint32(j)))
			}
		}
		s.mu.RUnlock()
	}
	return out
}
