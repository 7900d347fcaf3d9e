package registrar

import (
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// TestBindingTableHoldsOneObjectPerBinding: the collector marks every
// object the table holds, in every cycle, so a binding's strings are one.
func TestBindingTableHoldsOneObjectPerBinding(t *testing.T) {
	const n = 20_000
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	tb := filledTable(n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(tb)
	if per := float64(after.HeapObjects-before.HeapObjects) / n; per > 1.2 {
		t.Fatalf("%.2f heap objects per binding, want one", per)
	}
}

// TestBindingChangesAndRefreshes: a refresh from the same address keeps
// the stored text; a phone that moves gets all its new values, under one
// entry, and the name stays its key.
func TestBindingChangesAndRefreshes(t *testing.T) {
	tb := newTable(5*time.Second, 0)
	now := time.Unix(1_800_000_000, 0)
	first := Binding{Contact: "sip:2001@10.0.0.5:5060", AOR: "2001", Source: "10.0.0.5:5060", Transport: UDP,
		CallID: "a-1@10.0.0.5", UserAgent: "Cisco-CP8845/14.2.1"}
	tb.put("SEP0A1B2C3D4E5F", first, now, time.Minute, true)
	e1, _ := tb.get("SEP0A1B2C3D4E5F")

	tb.put("SEP0A1B2C3D4E5F", first, now.Add(time.Second), time.Minute, false)
	e2, _ := tb.get("SEP0A1B2C3D4E5F")
	if unsafe.StringData(e1.text) != unsafe.StringData(e2.text) || e2.verified != now.UnixNano() {
		t.Fatalf("a refresh changed the stored text or forgot the verification: %+v then %+v", e1, e2)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		tb.put("SEP0A1B2C3D4E5F", first, now, time.Minute, false)
	}); allocs != 0 {
		t.Fatalf("a refresh allocates %v times, want none", allocs)
	}

	moved := Binding{Contact: "sip:2001@10.0.0.77:41000;transport=tcp", AOR: "2001", Source: "10.0.0.77:41000", Transport: TCP,
		CallID: "b-2@10.0.0.77", UserAgent: "Cisco-CP8845/14.3.1"}
	tb.put("SEP0A1B2C3D4E5F", moved, now.Add(2*time.Second), 2*time.Minute, false)
	got := tb.list()
	if len(got) != 1 || tb.len() != 1 {
		t.Fatalf("%d bindings listed, %d counted after a move, want 1", len(got), tb.len())
	}
	want := moved
	want.DeviceName, want.Expires = "SEP0A1B2C3D4E5F", now.Add(2*time.Second+2*time.Minute)
	if got[0] != want {
		t.Fatalf("after a move:\n got %+v\nwant %+v", got[0], want)
	}
	if e, ok := tb.get("SEP0A1B2C3D4E5F"); !ok || e.key() != "SEP0A1B2C3D4E5F" || e.verified != now.UnixNano() {
		t.Fatalf("after a move the entry is %+v, %v", e, ok)
	}
	if !tb.remove("SEP0A1B2C3D4E5F") || tb.len() != 0 {
		t.Fatal("the moved binding was not removed by its name")
	}
}
