package cucmapi_test

import (
	"testing"
	"time"

	"selfprov/cucmapi"
)

func TestThrottle(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	th := cucmapi.NewThrottle(2, func() time.Time { return now })
	for i := range 2 {
		if ok, _ := th.Allow(); !ok {
			t.Fatalf("event %d refused", i)
		}
	}
	ok, retry := th.Allow()
	if ok || retry != time.Minute {
		t.Fatalf("third event: %v, retry %s", ok, retry)
	}
	now = now.Add(59 * time.Second)
	if ok, retry := th.Allow(); ok || retry != time.Second {
		t.Fatalf("at 59s: %v, retry %s", ok, retry)
	}
	now = now.Add(time.Second)
	if ok, _ := th.Allow(); !ok {
		t.Fatal("a minute later still refused")
	}
	if ok, _ := cucmapi.NewThrottle(0, nil).Allow(); !ok {
		t.Fatal("no limit refused")
	}
}
