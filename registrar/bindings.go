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

// entry is a Binding as stored: unix-nanosecond times keep it small.
type entry struct {
	contact, aor, source, callID, userAgent string
	transport                               Transport
	expires                                 int64 // granted expiry
	deadline                                int64 // removal time: expiry plus grace and jitter
	verified                                int64 // last time the device was read from the store
	notifySeq                               uint32
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
	ua     interner
}

type shard struct {
	mu sync.RWMutex
	m  map[string]entry
}

func newTable(grace time.Duration, jitter float64) *table {
	t := &table{seed: maphash.MakeSeed(), grace: grace, jitter: jitter}
	for i := range t.shards {
		t.shards[i].m = make(map[string]entry)
	}
	return t
}

func (t *table) shard(name string) *shard {
	return &t.shards[maphash.String(t.seed, name)%shardCount]
}

func (t *table) get(name string) (entry, bool) {
	s := t.shard(name)
	s.mu.RLock()
	e, ok := s.m[name]
	s.mu.RUnlock()
	return e, ok
}

// put stores or refreshes a binding expiring granted after now. Strings
// equal to the stored ones are kept, so a refresh allocates nothing.
// verified, if non-zero, records a store read of the device.
func (t *table) put(name string, b Binding, now time.Time, granted time.Duration, verified bool) {
	n := now.UnixNano()
	// The binding outlives its granted time by a grace (a Cisco phone
	// refreshes 5 s before expiry; a late one must not flap) plus jitter, so
	// bindings made in one burst are not all removed in the same sweep.
	extra := t.grace
	if t.jitter > 0 {
		extra += time.Duration(rand.Float64() * t.jitter * float64(granted))
	}
	s := t.shard(name)
	s.mu.Lock()
	old, ok := s.m[name]
	e := entry{
		contact: keep(old.contact, b.Contact), aor: keep(old.aor, b.AOR),
		source: keep(old.source, b.Source), callID: keep(old.callID, b.CallID),
		transport: b.Transport, expires: n + int64(granted), deadline: n + int64(granted+extra),
		verified: old.verified, notifySeq: old.notifySeq,
	}
	if old.userAgent == b.UserAgent {
		e.userAgent = old.userAgent
	} else {
		e.userAgent = t.ua.intern(b.UserAgent)
	}
	if verified {
		e.verified = n
	}
	s.m[name] = e
	s.mu.Unlock()
	if !ok {
		t.count.Add(1)
	}
}

// keep returns old when equal to new, else a copy of new that does not pin
// the parsed message's memory.
func keep(old, new string) string {
	if old == new {
		return old
	}
	return cloneString(new)
}

func cloneString(s string) string {
	if s == "" {
		return ""
	}
	return string([]byte(s))
}

func (t *table) remove(name string) bool {
	s := t.shard(name)
	s.mu.Lock()
	_, ok := s.m[name]
	delete(s.m, name)
	s.mu.Unlock()
	if ok {
		t.count.Add(-1)
	}
	return ok
}

// nextNotifySeq returns the CSeq for the next NOTIFY to name.
func (t *table) nextNotifySeq(name string) (entry, uint32, bool) {
	s := t.shard(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[name]
	if !ok {
		return e, 0, false
	}
	e.notifySeq++
	s.m[name] = e
	return e, 100 + e.notifySeq, true
}

// sweep removes bindings past their deadline and returns how many.
func (t *table) sweep(now time.Time) int {
	n := now.UnixNano()
	removed := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if e.deadline <= n {
				delete(s.m, k)
				removed++
			}
		}
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
		for k, e := range s.m {
			out = append(out, e.binding(k))
		}
		s.mu.RUnlock()
	}
	return out
}

func (e entry) binding(name string) Binding {
	return Binding{
		DeviceName: name, Contact: e.contact, AOR: e.aor, Source: e.source, Transport: e.transport,
		CallID: e.callID, UserAgent: e.userAgent, Expires: time.Unix(0, e.expires),
	}
}

// interner shares User-Agent strings: a fleet has a handful of them. It is
// bounded so hostile values cannot grow it.
type interner struct {
	mu sync.RWMutex
	m  map[string]string
}

const maxInterned = 1024

func (in *interner) intern(s string) string {
	in.mu.RLock()
	v, ok := in.m[s]
	in.mu.RUnlock()
	if ok {
		return v
	}
	v = cloneString(s)
	in.mu.Lock()
	if in.m == nil {
		in.m = make(map[string]string)
	}
	if len(in.m) < maxInterned {
		in.m[v] = v
	}
	in.mu.Unlock()
	return v
}
