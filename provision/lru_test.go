package provision

import (
	"context"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func TestLRUDropsLeastRecentlyUsed(t *testing.T) {
	c := newLRU[string, int](3)
	c.put("a", 1)
	c.put("b", 2)
	c.put("c", 3)
	c.get("a") // b is now the oldest
	c.put("d", 4)
	if _, ok := c.get("b"); ok || c.len() != 3 {
		t.Fatalf("b kept or size %d", c.len())
	}
	for k, want := range map[string]int{"a": 1, "c": 3, "d": 4} {
		if v, ok := c.get(k); !ok || v != want {
			t.Errorf("%s = %d, %v", k, v, ok)
		}
	}
	c.put("a", 9)
	c.remove("c")
	if v, _ := c.get("a"); v != 9 || c.len() != 2 {
		t.Fatalf("a = %d, size %d", v, c.len())
	}
}

// TestTrackingIsBounded: a flood of unknown IDs and of sources keeps the
// tables at their bounds.
func TestTrackingIsBounded(t *testing.T) {
	now := time.Unix(0, 0)
	u := newUnknownIDs()
	g := newSourceGuard(FailedLoginLimit{PerSource: 5})
	for i := range maxTrackedUnknownIDs + 100 {
		u.fail("ghost"+strconv.Itoa(i), DefaultCredentialPolicy, now)
		src := sourceKey(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		g.begin(context.Background(), src, func() time.Time { return now })
		g.end(src, true, now)
	}
	if n := u.m.len(); n != maxTrackedUnknownIDs {
		t.Errorf("%d unknown IDs kept, want %d", n, maxTrackedUnknownIDs)
	}
	if n := g.m.len(); n != maxTrackedSources {
		t.Errorf("%d sources kept, want %d", n, maxTrackedSources)
	}
}
