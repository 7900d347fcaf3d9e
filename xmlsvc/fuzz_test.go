package xmlsvc

import (
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"selfprov/internal/coretest"
)

func FuzzParseQuery(f *testing.F) {
	f.Add("name=SEP001122AABBCC&userid=alice&pin=12345")    // plain
	f.Add("name=SEP001122AABBCC?userid=alice&pin=12345")    // phone appended with ?
	f.Add("name=SEP1&name=SEP1")                            // repeated, same value
	f.Add("name=SEP1&name=SEP2")                            // repeated, different value: refused
	f.Add("userid=a%26b%3Fc&pin=%2B1")                      // escaped separators
	f.Add("userid=%zz")                                     // bad escape
	f.Add("&&??=&a")                                        // empty parts
	f.Add("token=" + strings.Repeat("A", 22) + "&x=%E2%82") // truncated UTF-8
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseQuery(raw)
		if err != nil {
			if q != nil {
				t.Fatalf("both %v and %v", q, err)
			}
			return
		}
		if len(q) > maxParams {
			t.Fatalf("%d parameters", len(q))
		}
		// What was accepted survives a standard encoding round trip.
		v := url.Values{}
		for k, val := range q {
			if k == "" {
				t.Fatal("empty key accepted")
			}
			v.Set(k, val)
		}
		back, err := parseQuery(v.Encode())
		if err != nil && len(v.Encode()) <= maxRawQuery {
			t.Fatalf("re-encoded %q: %v", v.Encode(), err)
		}
		if err == nil && !reflect.DeepEqual(q, back) {
			t.Fatalf("round trip %v -> %v", q, back)
		}
	})
}

func FuzzParseDisplay(f *testing.F) {
	f.Add("298, 168, 12, C") // 7970
	f.Add("133, 65, 2, G")   // 7940, greyscale
	f.Add("800,480,24,C")    // 8845, no spaces
	f.Add("1,2,3")           // too few fields
	f.Add("-1, 2, 3, C")     // negative
	f.Fuzz(func(t *testing.T, h string) {
		d, ok := parseDisplay(h)
		if !ok {
			if d != (display{}) {
				t.Fatalf("rejected %q but returned %+v", h, d)
			}
			return
		}
		if d.width <= 0 || d.height <= 0 || d.depth <= 0 {
			t.Fatalf("%q gave %+v", h, d)
		}
		c := "G"
		if d.colour {
			c = "C"
		}
		again, ok := parseDisplay(strconv.Itoa(d.width) + ", " + strconv.Itoa(d.height) + ", " + strconv.Itoa(d.depth) + ", " + c)
		if !ok || again != d {
			t.Fatalf("%q: %+v, reformatted %+v", h, d, again)
		}
	})
}

func TestParseQuery(t *testing.T) {
	q, err := parseQuery("name=SEP1?userid=a+b&pin=%3F1")
	if err != nil || q["name"] != "SEP1" || q["userid"] != "a b" || q["pin"] != "?1" {
		t.Fatalf("%v %v", q, err)
	}
	for _, bad := range []string{"name=a&name=b", "x=%zz", strings.Repeat("a=1&", 17), "a=" + strings.Repeat("x", maxRawQuery)} {
		if _, err := parseQuery(bad); err == nil {
			t.Errorf("%.30q accepted", bad)
		}
	}
}

func TestTokensSweep(t *testing.T) {
	clock := coretest.NewClock(time.Time{})
	tk := newTokens(clock, DefaultTokenTTL, 2)
	a, _ := tk.issue("SEPA", "u")
	if _, err := tk.issue("SEPB", "u"); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.issue("SEPC", "u"); err != errTokenFull {
		t.Fatalf("third device: %v", err)
	}
	if _, err := tk.issue("SEPA", "u"); err != nil { // replaces, does not add
		t.Fatalf("re-issue: %v", err)
	}
	if _, err := tk.take("SEPA", a); err != errTokenInvalid {
		t.Fatalf("replaced token: %v", err)
	}
	clock.Advance(DefaultTokenTTL)
	if _, err := tk.issue("SEPC", "u"); err != nil {
		t.Fatalf("after expiry the table has room: %v", err)
	}
	if n := tk.len(); n != 1 {
		t.Fatalf("%d pending after sweep, want 1", n)
	}
}
