package provision

import (
	"strings"
	"sync"
)

// routeMemo remembers what RouteCall read from the store, for as long as
// the store's generation stays the same: who may call with a calling
// party, and which line a dialed DN reaches from a list of partitions.
// Every INVITE asks both; without the memo that was three to five store
// reads a call, more than the proxy's own work. The store is the only
// writer and changes its generation with every committed write, so the
// memo is exact: it is emptied at the first lookup of a newer generation,
// and an answer computed under an older one is not kept.
type routeMemo struct {
	mu       sync.Mutex
	gen      uint64
	byCaller map[callerKey]callerMemo
	byDN     map[string]reachMemo // partitions, "\x00"-joined, "\x01", DN
}

type callerKey struct{ device, dn string }

type callerMemo struct {
	list []caller
	err  error
}

type reachMemo struct {
	line DNLine // zero DN: not reachable
	err  error
}

// maxRouteMemo bounds each map; past it the map starts over.
const maxRouteMemo = 1 << 16

// current empties the memo for a newer generation and reports whether gen
// is the memo's; m.mu is held.
func (m *routeMemo) current(gen uint64) bool {
	if gen > m.gen || m.byCaller == nil {
		m.gen = gen
		m.byCaller = map[callerKey]callerMemo{}
		m.byDN = map[string]reachMemo{}
	}
	return gen == m.gen
}

// callers answers from the memo or computes and keeps the answer.
func (m *routeMemo) callers(gen uint64, r CallRequest, compute func() ([]caller, error)) ([]caller, error) {
	k := callerKey{r.CallingDevice, r.CallingDN}
	m.mu.Lock()
	if m.current(gen) {
		if v, ok := m.byCaller[k]; ok {
			m.mu.Unlock()
			return v.list, v.err
		}
	}
	m.mu.Unlock()
	list, err := compute()
	if err != nil && !isRefusal(err) {
		return nil, err // a store failure is not remembered
	}
	m.mu.Lock()
	if m.current(gen) {
		if len(m.byCaller) >= maxRouteMemo {
			clear(m.byCaller)
		}
		m.byCaller[k] = callerMemo{list, err}
	}
	m.mu.Unlock()
	return list, err
}

// reached answers from the memo or computes and keeps the answer; the
// line's DN is "" when the DN is not reachable from partitions.
func (m *routeMemo) reached(gen uint64, partitions []string, dn string, compute func() (DNLine, bool, error)) (DNLine, error) {
	k := strings.Join(partitions, "\x00") + "\x01" + dn
	m.mu.Lock()
	if m.current(gen) {
		if v, ok := m.byDN[k]; ok {
			m.mu.Unlock()
			return v.line, v.err
		}
	}
	m.mu.Unlock()
	l, ok, err := compute()
	if err != nil {
		return DNLine{}, err
	}
	if !ok {
		l = DNLine{}
	}
	m.mu.Lock()
	if m.current(gen) {
		if len(m.byDN) >= maxRouteMemo {
			clear(m.byDN)
		}
		m.byDN[k] = reachMemo{line: l}
	}
	m.mu.Unlock()
	return l, nil
}

// isRefusal reports an answer of the core's (an *Error), as opposed to a
// failure of the store, which is not remembered.
func isRefusal(err error) bool { return CodeOf(err) != "INTERNAL" }
