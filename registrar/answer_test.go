package registrar

import (
	"strings"
	"testing"
	"time"
)

func TestDateCache(t *testing.T) {
	var c dateCache
	at := time.Date(2026, 12, 3, 8, 0, 0, 100, time.FixedZone("CET", 3600))
	want := at.UTC().Format(sipDateFormat)
	if got := c.format(at); got != want || !strings.HasSuffix(got, "GMT") {
		t.Fatalf("%q, want %q in GMT", got, want)
	}
	if got := c.format(at.Add(500 * time.Millisecond)); got != want {
		t.Fatalf("within the second: %q, want %q", got, want)
	}
	next := at.Add(time.Second)
	if got, want := c.format(next), next.UTC().Format(sipDateFormat); got != want {
		t.Fatalf("the next second: %q, want %q", got, want)
	}
	if got := c.format(at); got != want {
		t.Fatalf("back a second (a test clock): %q, want %q", got, want)
	}
}
