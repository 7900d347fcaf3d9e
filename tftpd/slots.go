package tftpd

import (
	"container/list"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// reclaimAge is how long a transfer may wait for its first
// acknowledgement, from its first packet, before a new request finding
// every slot taken may take its slot. A client on the phone LAN
// acknowledges within milliseconds; one still silent after half a second
// is lost or never meant to answer, and a real client asks again.
const reclaimAge = 500 * time.Millisecond

// reclaimScan bounds the waiting transfers looked at for one reclaim.
const reclaimScan = 16

// slots bounds concurrent transfers, in all and per source address, and
// keeps the transfers that have not yet had their first acknowledgement,
// oldest first, so that a peer that never answers cannot hold a slot
// against everyone else.
type slots struct {
	m         *metrics
	max       int
	perSource int

	mu       sync.Mutex
	active   int
	bySource map[netip.Addr]int
	waiting  list.List // of *slot awaiting their first ACK, oldest first
	held     map[*slot]struct{}
	stopped  bool // the server shut down: every socket closed, none kept
}

// slot is one admitted transfer's hold on the bounds.
type slot struct {
	src     netip.Addr
	start   time.Time
	sent    atomic.Int64  // unix nanoseconds of the first packet, 0 before
	conn    io.Closer     // the transfer's socket, closed to end it at once
	held    bool          // counted in active and bySource
	waiting *list.Element // in slots.waiting until the first ACK
	evicted bool          // reclaimed before its first ACK
}

type slotResult int

const (
	slotTaken slotResult = iota
	slotsFull
	sourceFull
)

func newSlots(max, perSource int, m *metrics) *slots {
	return &slots{m: m, max: max, perSource: perSource, bySource: map[netip.Addr]int{}, held: map[*slot]struct{}{}}
}

// acquire takes a slot for a transfer from src. When every slot is held
// it reclaims the one of the oldest transfer still waiting for its first
// acknowledgement, if that has waited reclaimAge.
func (s *slots) acquire(src netip.Addr, now time.Time) (*slot, slotResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bySource[src] >= s.perSource {
		return nil, sourceFull
	}
	if s.active >= s.max {
		old := s.reclaimable(now)
		if old == nil {
			return nil, slotsFull
		}
		old.evicted = true
		s.drop(old)
		s.m.reclaimed.Inc()
	}
	sl := &slot{src: src, start: now, held: true}
	sl.waiting = s.waiting.PushBack(sl)
	s.held[sl] = struct{}{}
	s.active++
	s.bySource[src]++
	s.m.active.Inc()
	return sl, slotTaken
}

// reclaimable finds the oldest waiting transfer whose first packet went
// out reclaimAge ago or more; a transfer still looking its file up is
// left alone.
func (s *slots) reclaimable(now time.Time) *slot {
	e := s.waiting.Front()
	for i := 0; e != nil && i < reclaimScan; i, e = i+1, e.Next() {
		sl := e.Value.(*slot)
		if sent := sl.sent.Load(); sent != 0 && now.Sub(time.Unix(0, sent)) >= reclaimAge {
			return sl
		}
	}
	return nil
}

// acked records a transfer's first acknowledgement: its slot can no
// longer be reclaimed.
func (s *slots) acked(sl *slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl.waiting != nil {
		s.waiting.Remove(sl.waiting)
		sl.waiting = nil
	}
}

// attach gives a transfer's socket to its slot, so that reclaiming the
// slot or shutting down closes it, which ends the transfer at once. It
// reports false, leaving c open, when the slot was already reclaimed or
// the server stopped.
func (s *slots) attach(sl *slot, c io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl.evicted || s.stopped {
		return false
	}
	sl.conn = c
	return true
}

// release gives a transfer's slot back, if it was not reclaimed. The
// transfer closes its socket itself.
func (s *slots) release(sl *slot) {
	s.mu.Lock()
	s.drop(sl)
	sl.conn = nil
	s.mu.Unlock()
}

// stop closes the socket of every transfer, and of every transfer that
// starts from now on: the server shuts down.
func (s *slots) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for sl := range s.held {
		if sl.conn != nil {
			_ = sl.conn.Close()
		}
	}
}

// reclaimed reports whether a new request took sl's slot.
func (s *slots) reclaimed(sl *slot) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sl.evicted
}

// drop gives sl's hold back; a reclaimed transfer's socket is closed, so
// that the transfer ends at once.
func (s *slots) drop(sl *slot) {
	if sl.waiting != nil {
		s.waiting.Remove(sl.waiting)
		sl.waiting = nil
	}
	if !sl.held {
		return
	}
	sl.held = false
	delete(s.held, sl)
	if sl.evicted && sl.conn != nil {
		_ = sl.conn.Close()
	}
	s.active--
	if n := s.bySource[sl.src]; n <= 1 {
		delete(s.bySource, sl.src)
	} else {
		s.bySource[sl.src] = n - 1
	}
	s.m.active.Dec()
}

// inUse is the number of slots held.
func (s *slots) inUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}
