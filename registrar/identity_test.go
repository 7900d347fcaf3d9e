package registrar

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"selfprov/provision"
)

// identify reads the model claim as sent; what it means (a catalogue
// model, a refusal, the third-party model) is the core's decision.
func TestIdentify(t *testing.T) {
	tests := []struct {
		name, contact, aor, ua string
		want                   string
		model                  int
		product                string
		source                 string
		err                    string
	}{
		{"devicename wins", `<sip:x@10.0.0.1:5060;transport=tcp>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-001122aabbcc>";+u.sip!devicename.ccm.cisco.com="SEP001122AABBDD";+u.sip!model.ccm.cisco.com="36224"`, "1000", "", "SEP001122AABBDD", 36224, "", "devicename", ""},
		{"devicename lower case", `<sip:x@h>;+u.sip!devicename.ccm.cisco.com="sep001122aabbcc"`, "", "", "SEP001122AABBCC", 0, "", "devicename", ""},
		{"CSF devicename", `<sip:x@h>;+u.sip!devicename.ccm.cisco.com="CSFJDOE";video`, "", "Cisco-CSF", "CSFJDOE", 0, "", "devicename", ""},
		{"MAC from instance", `<sip:x@h>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-001122aabbcc>"`, "1000", "Cisco-CP8845/14.2.1", "SEP001122AABBCC", 0, "8845", "instance", ""},
		{"AOR is the device", `<sip:x@h>`, "SEP001122AABBCC", "Cisco-CP7841/14.2.1", "SEP001122AABBCC", 0, "7841", "aor", ""},
		{"unknown product", `<sip:x@h>`, "SEP001122AABBCC", "Cisco-CP9999/1", "SEP001122AABBCC", 0, "9999", "aor", ""},
		{"model param not a number", `<sip:x@h>;+u.sip!model.ccm.cisco.com="abc"`, "SEP001122AABBCC", "", "SEP001122AABBCC", 0, "", "aor", ""},
		{"nothing", `<sip:1000@h>`, "1000", "", "", 0, "", "", "no devicename"},
		{"softphone instance, AOR is the device", `<sip:x@h>;+sip.instance="<urn:uuid:d8fb04b9-1111-2222-3333-444455556666>"`, "SEP001122AABBCC", "baresip", "SEP001122AABBCC", 0, "", "aor", ""},
		{"softphone instance, AOR is no device", `<sip:x@h>;+sip.instance="<urn:uuid:d8fb04b9-1111-2222-3333-444455556666>"`, "1000", "", "", 0, "", "", "not a MAC-based"},
		{"instance with non-hex MAC", `<sip:x@h>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-00112233445g>"`, "", "", "", 0, "", "", "12 hex"},
		{"bad devicename", `<sip:x@h>;+u.sip!devicename.ccm.cisco.com="XYZ123"`, "SEP001122AABBCC", "", "", 0, "", "", "devicename"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseContact(tc.contact)
			if err != nil {
				t.Fatal(err)
			}
			id, err := identify(c, tc.aor, tc.ua)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.name != tc.want || id.model != tc.model || id.product != tc.product || id.source != tc.source {
				t.Fatalf("got %+v, want %s model %d product %q from %s", id, tc.want, tc.model, tc.product, tc.source)
			}
		})
	}
}

func TestParseContact(t *testing.T) {
	c, err := parseContact(`"Line 1" <sip:6c1f@192.0.2.23:51234;transport=tcp>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-001122aabbcc>";expires=3600;video;x="a\"b"`)
	if err != nil {
		t.Fatal(err)
	}
	if c.uri != "sip:6c1f@192.0.2.23:51234;transport=tcp" || c.parsed.Host != "192.0.2.23" || c.parsed.Port != 51234 {
		t.Fatalf("uri %q parsed %+v", c.uri, c.parsed)
	}
	if v, _ := c.param("EXPIRES"); v != "3600" {
		t.Errorf("expires %q", v)
	}
	if _, ok := c.param("video"); !ok {
		t.Error("flag parameter lost")
	}
	if v, _ := c.param("x"); v != `a"b` {
		t.Errorf("escaped quote: %q", v)
	}
	if c.params[0].raw != `+sip.instance="<urn:uuid:00000000-0000-0000-0000-001122aabbcc>"` {
		t.Errorf("raw %q", c.params[0].raw)
	}
	// Without angle brackets the parameters belong to the header.
	c, err = parseContact(`sip:a@h;expires=60`)
	if err != nil || c.uri != "sip:a@h" {
		t.Fatalf("%q %v", c.uri, err)
	}
	if v, _ := c.param("expires"); v != "60" {
		t.Errorf("expires %q", v)
	}
	for _, bad := range []string{"", "<>", "<sip:a@h", `<sip:a@h>;x="open`, "<tel:123>", "<sip:a@h>junk", "<sip:a@h>;=v", strings.Repeat("a", 3000)} {
		if _, err := parseContact(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzRegisterIdentity runs datagrams through the parser and the REGISTER
// identity path. Invariants: no panic; an identified device has a
// canonical name (CanonicalDeviceName is the identity on it) and a
// non-negative model; the same input identifies the same device.
func FuzzRegisterIdentity(f *testing.F) {
	p := newParser(16384)
	seed := func(contact, to, ua string) string {
		return "REGISTER sip:192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.23:5060;branch=z9hG4bK1\r\n" +
			"From: <sip:1001@192.0.2.10>;tag=1\r\nTo: <sip:" + to + "@192.0.2.10>\r\nCall-ID: a@b\r\nCSeq: 101 REGISTER\r\n" +
			"User-Agent: " + ua + "\r\nContact: " + contact + "\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
	}
	// A full Cisco REGISTER.
	f.Add(seed(`<sip:6c1f0b52@192.0.2.23:51234;transport=tcp>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-001122aabbcc>";+u.sip!devicename.ccm.cisco.com="SEP001122AABBCC";+u.sip!model.ccm.cisco.com="36224"`, "1001", "Cisco-CP8845/14.2.1"))
	// Instance only; AOR only; nothing; wildcard.
	f.Add(seed(`<sip:x@h>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-001122aabbcc>"`, "1001", "Cisco-CP7841/1"))
	f.Add(seed(`<sip:x@h>`, "SEP001122AABBCC", "x"))
	f.Add(seed(`<sip:x@h>`, "1001", ""))
	f.Add(seed(`*`, "1001", ""))
	// Quotes, escapes and brackets in odd places.
	f.Add(seed(`"a\"<b>" <sip:x@h>;+u.sip!devicename.ccm.cisco.com="SEP001122AABBCC\"";q`, "1001", "Cisco-CP/"))
	f.Add(seed(`sip:x@h;+u.sip!devicename.ccm.cisco.com=CSF-é`, "TAB", "Cisco-CP8845"))
	f.Fuzz(func(t *testing.T, data string) {
		msg, err := p.ParseSIP([]byte(data))
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok || req.To() == nil {
			return
		}
		hs := contactHeaders(req)
		if len(hs) == 0 {
			return
		}
		c, err := parseContact(hs[0].Value())
		if err != nil || c.star {
			return
		}
		ua := ""
		if h := req.GetHeader("User-Agent"); h != nil {
			ua = h.Value()
		}
		id, err := identify(c, req.To().Address.User, ua)
		if err != nil {
			return
		}
		canon, cerr := provision.CanonicalDeviceName(id.name)
		if cerr != nil || canon != id.name {
			t.Fatalf("identified %q, which is not canonical (%q, %v)", id.name, canon, cerr)
		}
		if id.model < 0 || id.model > 0 && id.product != "" || len(id.product) > 43 {
			t.Fatalf("model %d, product %q: one claim at most, bounded", id.model, id.product)
		}
		again, err := identify(c, req.To().Address.User, ua)
		if err != nil || again != id {
			t.Fatalf("not deterministic: %+v then %+v, %v", id, again, err)
		}
	})
}

// BenchmarkBindingTableMemory fills the table with 100,000 Cisco-shaped
// bindings and reports the heap they hold per binding (target: ≤ 2 KB).
func BenchmarkBindingTableMemory(b *testing.B) {
	for range b.N {
		bytes, objects := tableHeap(100_000)
		b.ReportMetric(bytes, "bytes/binding")
		b.ReportMetric(objects, "objects/binding")
	}
}

// tableHeap fills a table of n bindings and returns the heap bytes and
// heap objects it holds per binding.
//
// The heap is the whole process's: goroutines an earlier test left (a
// server still shutting down) free objects while the table is filled,
// which can make a difference negative. Of up to five measurements the
// one with the fewest objects that is not negative counts: such frees
// come by the hundreds, and a table that held an object a binding would
// add n of them.
func tableHeap(n int) (bytes, objects float64) {
	bytes, objects = -1, -1
	for range 5 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tb := filledTable(n)
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(tb)
		b := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
		o := float64(int64(after.HeapObjects)-int64(before.HeapObjects)) / float64(n)
		if b >= 0 && o >= 0 && (objects < 0 || o < objects) {
			bytes, objects = b, o
		}
		if objects >= 0 && objects <= 0.01 {
			break
		}
	}
	return bytes, objects
}

// filledTable is a table of n Cisco-shaped bindings over TCP.
func filledTable(n int) *table {
	now := time.Now()
	tb := newTable(5*time.Second, 0.1)
	for i := range n {
		m := fmt.Sprintf("0a1b%08x", i)
		tb.put("SEP"+strings.ToUpper(m), Binding{
			Contact:   fmt.Sprintf("sip:6c1f0b52-2d4e-4c1b-9a51-%012x@10.%d.%d.%d:51234;transport=tcp", i, i>>16&255, i>>8&255, i&255),
			AOR:       fmt.Sprintf("%d", 1000000+i),
			Source:    fmt.Sprintf("10.%d.%d.%d:51234", i>>16&255, i>>8&255, i&255),
			Transport: TCP,
			CallID:    fmt.Sprintf("%s-%s0002-00001a2b-00003c4d@10.%d.%d.%d", m[:8], m[8:], i>>16&255, i>>8&255, i&255),
			UserAgent: "Cisco-CP8845/14.2.1",
		}, now, 120*time.Second, true)
	}
	return tb
}

// BenchmarkGCWithBindings is one full garbage collection with 100,000
// bindings live: the collector's marking, which a storm pays for every
// second or so out of the same two cores as the REGISTERs.
func BenchmarkGCWithBindings(b *testing.B) {
	tb := filledTable(100_000)
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(tb)
}

// BenchmarkRefresh is the hot path of a known phone: look up and refresh.
func BenchmarkRefresh(b *testing.B) {
	tb := newTable(5*time.Second, 0.1)
	const n = 10_000
	names := make([]string, n)
	bs := make([]Binding, n)
	for i := range n {
		names[i] = fmt.Sprintf("SEP0A1B%08X", i)
		bs[i] = Binding{Contact: fmt.Sprintf("sip:x@10.0.%d.%d:5060", i>>8&255, i&255), AOR: "1000", Source: "10.0.0.1:5060", Transport: UDP, CallID: fmt.Sprintf("c%d@h", i), UserAgent: "Cisco-CP8845/14.2.1"}
		tb.put(names[i], bs[i], time.Now(), time.Minute, true)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			k := i % n
			if _, ok := tb.get(names[k]); ok {
				tb.put(names[k], bs[k], time.Now(), time.Minute, false)
			}
		}
	})
}

// BenchmarkParseContact is the registrar's parse of a Cisco phone's Contact.
func BenchmarkParseContact(b *testing.B) {
	v := `<sip:6c1f0b52-1a2b-3c4d-5e6f-001122aabbcc@192.0.2.23:51234;transport=tcp>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-001122aabbcc>";+u.sip!devicename.ccm.cisco.com="SEP001122AABBCC";+u.sip!model.ccm.cisco.com="36224";video;audio;+sip.reg-id=1`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseContact(v); err != nil {
			b.Fatal(err)
		}
	}
}
