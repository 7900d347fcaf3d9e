package tftpd

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"selfprov/internal/testkit"
	"selfprov/provision"
)

// laterDevice is a device created while a test runs, after its phone was
// told there is no config for it.
var laterDevice = func() provision.Device {
	d := autoDevice
	d.Name = "SEP0A1B2C3D4E5F"
	d.Description = "Auto 1001"
	d.Settings.IdleURL = "http://192.0.2.10:8080/xps/idle?name=SEP0A1B2C3D4E5F"
	d.Lines = []provision.Line{{Button: 1, DN: "1001", Label: "1001", DisplayName: "Later 1001",
		Contact: "6c1f0b52-2d4e-4c1b-9a51-0f3e8d2a7b21", MaxCalls: 2, BusyTrigger: 1}}
	d.ConfigVersion = "1767323046-6c1f0b52-2d4e-4c1b-9a51-0f3e8d2a7b20"
	return d
}()

func TestConfigCacheAbsent(t *testing.T) {
	c := newConfigCache(2)
	slot := c.reserve("SEP0A1B00000000")
	if _, absent := c.find("SEP0A1B00000000"); absent {
		t.Fatal("a reserved slot is absent")
	}
	c.markAbsent("SEP0A1B00000000", slot)
	if e, absent := c.find("SEP0A1B00000000"); e != nil || !absent {
		t.Fatalf("after markAbsent: %+v, absent %v", e, absent)
	}
	if len(c.entries) != 0 {
		t.Errorf("the reserved slot stays: %v", c.entries)
	}
	// A write forgets the name.
	c.forget("SEP0A1B00000000")
	if _, absent := c.find("SEP0A1B00000000"); absent {
		t.Error("absent after a write")
	}
	// A write between reserve and markAbsent: the answer may predate it,
	// so it is not kept.
	slot = c.reserve("SEP0A1B00000001")
	c.forget("SEP0A1B00000001")
	c.markAbsent("SEP0A1B00000001", slot)
	if _, absent := c.find("SEP0A1B00000001"); absent {
		t.Error("an answer raced by a write was kept")
	}
	// A render kept later replaces the name.
	slot = c.reserve("SEP0A1B00000002")
	c.markAbsent("SEP0A1B00000002", slot)
	c.put("SEP0A1B00000002", 1, "x", []byte("two"))
	if e, absent := c.find("SEP0A1B00000002"); e == nil || absent {
		t.Errorf("after a render: %+v, absent %v", e, absent)
	}
	// Bounded as the configs are.
	for i := range 10 {
		key := fmt.Sprintf("SEP0A1C%08X", i)
		c.markAbsent(key, c.reserve(key))
	}
	if len(c.absent) > 2 {
		t.Errorf("%d absent names kept, the bound is 2", len(c.absent))
	}
}

// TestUnknownDeviceAnsweredFromMemory: a phone the core has no device for
// is asked about once; its next requests, over HTTP and TFTP, are answered
// "not found" without a read. The device created then is served at once.
func TestUnknownDeviceAnsweredFromMemory(t *testing.T) {
	e := newEnv(t, nil)
	core := &countingCore{Service: e.svc}
	r := start(t, e, func(o *Options) { o.Core = core })
	const name = "SEP0A1B2C3D4E5F.cnf.xml"
	for i := range 3 {
		if resp, _ := httpGet(t, http.MethodGet, r.http+"/"+name); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %d: %d", i, resp.StatusCode)
		}
		if _, err := get(t, r.tftp, name, nil); !isNotFound(err) {
			t.Fatalf("TFTP %d: %v", i, err)
		}
		if resp, _ := httpGet(t, http.MethodHead, r.http+"/sep0a1b2c3d4e5f.cnf.xml"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("HEAD %d: %d", i, resp.StatusCode)
		}
	}
	if n := core.reads.Load(); n != 1 {
		t.Errorf("%d device reads for 9 requests of one unknown device, want 1", n)
	}
	if err := e.st.CreateDevice(context.Background(), laterDevice); err != nil {
		t.Fatal(err)
	}
	resp, body := httpGet(t, http.MethodGet, r.http+"/"+name)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("<displayName>Later 1001</displayName>")) {
		t.Fatalf("GET after the device was created: %d\n%s", resp.StatusCode, body)
	}
	if got, err := get(t, r.tftp, name, nil); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("TFTP after the device was created: %v, equal to HTTP %v", err, bytes.Equal(got, body))
	}
	// Deleted again: not found again, from the next request on.
	if err := e.svc.DeleteDevice(context.Background(), laterDevice.Name); err != nil {
		t.Fatal(err)
	}
	if resp, _ := httpGet(t, http.MethodGet, r.http+"/"+name); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET after the device was deleted: %d", resp.StatusCode)
	}
}

// TestUnknownDeviceWithoutWatcher: a core that does not report writes is
// asked on every request, so a device created after a 404 is served too.
func TestUnknownDeviceWithoutWatcher(t *testing.T) {
	e := newEnv(t, nil)
	core := &countingCore{Service: e.svc}
	r := start(t, e, func(o *Options) { o.Core = unwatchedCore{core} })
	const name = "SEP0A1B2C3D4E5F.cnf.xml"
	for range 2 {
		if resp, _ := httpGet(t, http.MethodGet, r.http+"/"+name); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
	}
	if n := core.reads.Load(); n != 2 {
		t.Errorf("%d device reads for 2 requests, want 2", n)
	}
	if err := e.st.CreateDevice(context.Background(), laterDevice); err != nil {
		t.Fatal(err)
	}
	if resp, _ := httpGet(t, http.MethodGet, r.http+"/"+name); resp.StatusCode != http.StatusOK {
		t.Errorf("GET after the device was created: %d", resp.StatusCode)
	}
}

// TestAbsentRacingAWrite: a device created after the core answered "no
// such device" and before that answer is kept is served on the next
// request: the stale answer goes to the request that read it only.
func TestAbsentRacingAWrite(t *testing.T) {
	e := newEnv(t, nil)
	core := &countingCore{Service: e.svc}
	r := start(t, e, func(o *Options) { o.Core = core })
	var once atomic.Bool
	hook := func() {
		if once.CompareAndSwap(false, true) {
			if err := e.st.CreateDevice(context.Background(), laterDevice); err != nil {
				t.Error(err)
			}
		}
	}
	core.hook.Store(&hook)
	const name = "/SEP0A1B2C3D4E5F.cnf.xml"
	if resp, _ := httpGet(t, http.MethodGet, r.http+name); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the hook ran before the read: %d", resp.StatusCode)
	}
	if resp, body := httpGet(t, http.MethodGet, r.http+name); resp.StatusCode != http.StatusOK {
		t.Errorf("the answer that raced the write was kept: %d\n%s", resp.StatusCode, body)
	}
}

// TestMirrorAnswerUnknownAllocations: an unknown phone asking again is
// answered as cheaply as a kept config, one allocation (the decoded
// path), without the core, a context or a timer.
func TestMirrorAnswerUnknownAllocations(t *testing.T) {
	e := newEnv(t, nil)
	core := &countingCore{Service: e.svc}
	r := start(t, e, func(o *Options) { o.Core = core })
	// Asks the core once (and makes sure the server is serving before
	// the test ends and shuts it down).
	if _, err := get(t, r.tftp, "SEP0A1B2C3D4E5F.cnf.xml", nil); !isNotFound(err) {
		t.Fatalf("TFTP: %v", err)
	}
	mc := &mirrorConn{m: r.srv.HTTPServer()}
	req, _, err := readRequest([]byte("GET /SEP0A1B2C3D4E5F.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	mc.setNow()
	mc.answer(req, true) // grows the output buffer
	n := testing.AllocsPerRun(100, func() {
		mc.out = mc.out[:0]
		// From memory: an event loop, which must not wait for the
		// store, answers it too.
		if o := mc.answer(req, false); o != answered {
			t.Fatalf("outcome %d, want answered", o)
		}
	})
	if n > 1 || !bytes.HasPrefix(mc.out, []byte("HTTP/1.1 404 Not Found\r\n")) {
		t.Errorf("%v allocations per answer, want at most 1:\n%s", n, mc.out)
	}
	if reads := core.reads.Load(); reads != 1 {
		t.Errorf("%d device reads for a TFTP request and 102 answers, want 1", reads)
	}
}

// TestUnknownDeviceAnsweredAtOnceOverTFTP: once the core had no device
// for a name, a TFTP request for its config is answered "file not found"
// from the listening port, as a missing trust file is, without a transfer
// slot; the device created then is sent by a transfer.
func TestUnknownDeviceAnsweredAtOnceOverTFTP(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, nil)
	const name = "SEP0A1B2C3D4E5F.cnf.xml"
	first, _ := exchange(t, r.tftp, rrqPacket(opRRQ, name, "octet"))
	if first.op != opERROR || first.code != errFileNotFound || first.from.String() == r.tftp {
		t.Fatalf("first request: answer op %d code %d from %v, want ERROR 1 from a transfer port", first.op, first.code, first.from)
	}
	testkit.WaitFor(t, "the first transfer's slot back", func() bool { return r.srv.slots.inUse() == 0 })
	for _, n := range []string{name, "sep0a1b2c3d4e5f.cnf.xml"} {
		again, _ := exchange(t, r.tftp, rrqPacket(opRRQ, n, "octet"))
		if again.op != opERROR || again.code != errFileNotFound || again.from.String() != r.tftp {
			t.Errorf("%s again: answer op %d code %d from %v, want ERROR 1 from the listening port %s", n, again.op, again.code, again.from, r.tftp)
		}
	}
	if got := r.srv.slots.inUse(); got != 0 {
		t.Errorf("%d transfer slots held", got)
	}
	if err := e.st.CreateDevice(context.Background(), laterDevice); err != nil {
		t.Fatal(err)
	}
	got, err := get(t, r.tftp, name, nil)
	if err != nil || !bytes.Contains(got, []byte("<displayName>Later 1001</displayName>")) {
		t.Errorf("after the device was created: %v\n%s", err, got)
	}
}
