package registrar

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestBindingTableHoldsNoPointers: the collector walks nothing of the
// table, however many phones: its storage is a few large objects without
// pointers, not objects per binding.
func TestBindingTableHoldsNoPointers(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[slot](), reflect.TypeFor[map[uint64]uint32]()} {
		if hasPointers(typ) {
			t.Fatalf("%v holds pointers", typ)
		}
	}
	switch _, per := tableHeap(20_000); {
	case per < 0:
		t.Fatal("the heap shrank while the table was filled, in five tries: other goroutines kept freeing")
	case per > 0.05:
		t.Fatalf("%.2f heap objects per binding, want next to none", per)
	}
}

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.String, reflect.Slice, reflect.Interface, reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return true
	case reflect.Map:
		return hasPointers(t.Key()) || hasPointers(t.Elem())
	case reflect.Array:
		return hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// TestBindingChangesAndRefreshes: a refresh from the same address only
// moves the times and allocates nothing; a phone that moves gets all its
// new values, under the same name; removal frees it.
func TestBindingChangesAndRefreshes(t *testing.T) {
	tb := newTable(5*time.Second, 0)
	now := time.Unix(1_800_000_000, 0)
	const name = "SEP0A1B2C3D4E5F"
	first := Binding{Contact: "sip:2001@10.0.0.5:5060", AOR: "2001", Source: "10.0.0.5:5060", Transport: UDP,
		CallID: "a-1@10.0.0.5", UserAgent: "Cisco-CP8845/14.2.1"}
	tb.put(name, first, now, time.Minute, true)
	tb.put(name, first, now.Add(time.Second), time.Minute, false)
	if e, ok := tb.get(name); !ok || e.verified != now.UnixNano() || e.expires != now.Add(time.Second+time.Minute).UnixNano() {
		t.Fatalf("after a refresh: %+v, %v", e, ok)
	}
	if allocs := testing.AllocsPerRun(100, func() { tb.put(name, first, now, time.Minute, false) }); allocs != 0 {
		t.Fatalf("a refresh allocates %v times, want none", allocs)
	}

	moved := Binding{Contact: "sip:2001@10.0.0.77:41000;transport=tcp", AOR: "2001", Source: "10.0.0.77:41000", Transport: TCP,
		CallID: "b-2@10.0.0.77", UserAgent: "Cisco-CP8845/14.3.1"}
	tb.put(name, moved, now.Add(2*time.Second), 2*time.Minute, false)
	want := moved
	want.DeviceName, want.Expires = name, now.Add(2*time.Second+2*time.Minute)
	if got := tb.list(); len(got) != 1 || tb.len() != 1 || got[0] != want {
		t.Fatalf("after a move: %d counted, listed %+v, want %+v", tb.len(), got, want)
	}
	if got, ok := tb.binding(name); !ok || got != want {
		t.Fatalf("binding after a move: %+v, %v", got, ok)
	}
	if e, _ := tb.get(name); e.verified != now.UnixNano() {
		t.Fatal("a move forgot when the device was last verified")
	}
	if !tb.remove(name) || tb.len() != 0 || tb.remove(name) {
		t.Fatal("the moved binding was not removed once by its name")
	}
	if _, ok := tb.binding(name); ok {
		t.Fatal("a removed binding is still found")
	}
}

// TestBindingTextIsCompacted: a phone that keeps moving leaves its old
// text behind in the arena, which is rewritten before it grows unbounded.
func TestBindingTextIsCompacted(t *testing.T) {
	tb := newTable(5*time.Second, 0)
	now := time.Unix(1_800_000_000, 0)
	for i := range 5000 {
		tb.put("SEP0A1B2C3D4E5F", Binding{Contact: fmt.Sprintf("sip:2001@10.0.%d.%d:5060;transport=tcp;x=%0100d", i>>8&255, i&255, i),
			Source: fmt.Sprintf("10.0.%d.%d:5060", i>>8&255, i&255), CallID: fmt.Sprint(i), Transport: TCP}, now, time.Minute, false)
	}
	s, _ := tb.shard("SEP0A1B2C3D4E5F")
	if len(s.text) > 256<<10 {
		t.Fatalf("arena of %d bytes for one binding after 5,000 moves", len(s.text))
	}
	b, _ := tb.binding("SEP0A1B2C3D4E5F")
	if b.CallID != "4999" || b.Source != "10.0.19.135:5060" {
		t.Fatalf("after compaction the binding reads %+v", b)
	}
}

// TestBindingNamesSharingAHash: two names with the same hash in a shard
// stay two bindings, and either can go first.
func TestBindingNamesSharingAHash(t *testing.T) {
	for _, firstGoes := range []bool{true, false} {
		var s shard
		s.index = map[uint64]uint32{}
		a, b := fields("SEPAAAAAAAAAAAA", &Binding{CallID: "a"}), fields("SEPBBBBBBBBBBBB", &Binding{CallID: "b"})
		s.insert(42, &a)
		s.insert(42, &b)
		ia, okA := s.find(a[0], 42)
		ib, okB := s.find(b[0], 42)
		if !okA || !okB || ia == ib || s.binding(ia).CallID != "a" || s.binding(ib).CallID != "b" {
			t.Fatalf("two names sharing a hash: found %v %v at %d %d", okA, okB, ia, ib)
		}
		gone, goneName, stays, staysAt := ia, a[0], b[0], ib
		if !firstGoes {
			gone, goneName, stays, staysAt = ib, b[0], a[0], ia
		}
		s.delete(gone)
		if i, ok := s.find(stays, 42); !ok || i != staysAt {
			t.Fatalf("after the other went, %s found %v at %d, want %d", stays, ok, i, staysAt)
		}
		if _, ok := s.find(goneName, 42); ok || len(s.collided) != 0 || len(s.index) != 1 {
			t.Fatalf("%s still found %v; index %v, collided %v after its deletion", goneName, ok, s.index, s.collided)
		}
	}
}

// TestBindingTableMatchesAModel: random puts, moves, removals, NOTIFY
// sequence numbers and sweeps give the same bindings as a plain map, across
// free-list reuse and arena compactions.
func TestBindingTableMatchesAModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tb := newTable(0, 0)
	model := map[string]Binding{}
	now := time.Unix(1_800_000_000, 0)
	str := func(prefix string) string {
		return prefix + strings.Repeat("x", rng.IntN(300)) + fmt.Sprint(rng.IntN(1000))
	}
	for op := range 20_000 {
		name := fmt.Sprintf("SEP%012X", rng.IntN(300))
		switch r := rng.IntN(100); {
		case r < 60:
			b := Binding{Contact: str("sip:"), AOR: fmt.Sprint(rng.IntN(100)), Source: str("10.0.0.1:"), Transport: Transport(1 + rng.IntN(3)),
				CallID: str("c"), UserAgent: str("Cisco-")}
			if old, ok := model[name]; ok && rng.IntN(2) == 0 {
				b.Contact, b.AOR, b.Source, b.CallID, b.UserAgent = old.Contact, old.AOR, old.Source, old.CallID, old.UserAgent // a refresh
			}
			granted := time.Duration(1+rng.IntN(60)) * time.Second
			tb.put(name, b, now, granted, false)
			b.DeviceName, b.Expires = name, now.Add(granted)
			model[name] = b
		case r < 75:
			_, want := model[name]
			if got := tb.remove(name); got != want {
				t.Fatalf("op %d: remove(%s) = %v, want %v", op, name, got, want)
			}
			delete(model, name)
		case r < 85:
			b, _, ok := tb.nextNotifySeq(name)
			if want, exists := model[name]; ok != exists || ok && b != want {
				t.Fatalf("op %d: nextNotifySeq(%s) = %+v %v, want %+v %v", op, name, b, ok, want, exists)
			}
		case r < 90:
			now = now.Add(time.Duration(rng.IntN(30)) * time.Second)
			tb.sweep(now)
			for n, b := range model {
				if !b.Expires.After(now) {
					delete(model, n)
				}
			}
		default:
			now = now.Add(time.Second)
		}
		if tb.len() != len(model) {
			t.Fatalf("op %d: %d bindings counted, model has %d", op, tb.len(), len(model))
		}
		if got, ok := tb.binding(name); ok != (model[name] != Binding{}) || ok && got != model[name] {
			t.Fatalf("op %d: binding(%s) = %+v %v, want %+v", op, name, got, ok, model[name])
		}
	}
	list := tb.list()
	if len(list) != len(model) {
		t.Fatalf("list has %d bindings, model %d", len(list), len(model))
	}
	for _, b := range list {
		if model[b.DeviceName] != b {
			t.Fatalf("listed %+v, model has %+v", b, model[b.DeviceName])
		}
	}
}
