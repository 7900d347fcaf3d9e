package registrar

import (
	"hash/maphash"
	"math/rand/v2"
	"strings"
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

// entry is a Binding as stored. The device name, contact, AOR, source and
// Call-ID are one string, and the map key is its first part: one object
// per binding for the garbage collector to mark, not five. With 350,000
// phones the collector's marking ran a quarter of the time, and on two
// cores that time comes out of REGISTER latency. Unix-nanosecond times
// keep it small.
type entry struct {
	text      string    // name, contact, AOR, source and Call-ID back to back
	ends      [4]uint32 // where the name, contact, AOR and source end in text
	userAgent string    // interned
	transport Transport
	expires   int64 // granted expiry
	deadline  int64 // removal time: expiry plus grace and jitter
	verified  int64 // last time the device was read from the store
	notifySeq uint32
}

func (e *entry) contact() string { return e.text[e.ends[0]:e.ends[1]] }
func (e *entry) aor() string     { return e.text[e.ends[1]:e.ends[2]] }
func (e *entry) source() string  { return e.text[e.ends[2]:e.ends[3]] }
func (e *entry) callID() string  { return e.text[e.ends[3]:] }

// sameAddress reports whether e already holds b's contact, AOR, source
// and Call-ID, as a refresh from the same phone does.
func (e *entry) sameAddress(b *Binding) bool {
	return e.contact() == b.Contact && e.aor() == b.AOR && e.source() == b.Source && e.callID() == b.CallID
}

// setText stores name and b's strings in one new allocation, which no
// longer pins the parsed message's memory.
func (e *entry) setText(name string, b *Binding) {
	var sb strings.Builder
	sb.Grow(len(name) + len(b.Contact) + len(b.AOR) + len(b.Source) + len(b.CallID))
	for i, f := range [...]string{name, b.Contact, b.AOR, b.Source} {
		sb.WriteString(f)
		e.ends[i] = uint32(sb.Len())
	}
	sb.WriteString(b.CallID)
	e.text = sb.String()
}

// key is the device name, sharing e's text.
func (e *entry) key() string { return e.text[:e.ends[0]] }

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
	e, ok := s.m[name]
	if !ok || !e.sameAddress(&b) {
		if ok {
			// The stored key is part of the old text: it goes too.
			delete(s.m, name)
		}
		e.setText(name, &b)
	}
	e.transport, e.expires, e.deadline = b.Transport, n+int64(granted), n+int64(granted+extra)
	if e.userAgent != b.UserAgent {
		e.userAgent = t.ua.intern(b.UserAgent)
	}
	if verified {
		e.verified = n
	}
	s.m[e.key()] = e
	s.mu.Unlock()
	if !ok {
		t.count.Add(1)
	}
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
		DeviceName: name, Contact: e.contact(), AOR: e.aor(), Source: e.source(), Transport: e.transport,
		CallID: e.callID(), UserAgent: e.userAgent, Expires: time.Unix(0, e.expires),
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
