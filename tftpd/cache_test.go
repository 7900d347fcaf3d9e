package tftpd

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"selfprov/provision"
)

func TestConfigCache(t *testing.T) {
	c := newConfigCache(3)
	for i := 0; i < 3; i++ {
		key := fmt.Sprintf("SEP0A1B%08X", i)
		slot := c.reserve(key)
		if _, ok := c.lookup(key); ok {
			t.Fatalf("%s: a reserved slot hit", key)
		}
		c.fill(key, slot, key+".cnf.xml", []byte(key))
		e, ok := c.lookup(key)
		if !ok || string(e.data) != key || e.fileName != key+".cnf.xml" || e.length[0] != "15" {
			t.Fatalf("%s: hit %v, entry %+v", key, ok, e)
		}
	}
	// A write between reserve and fill: the render may predate it, so it
	// is not kept.
	slot := c.reserve("SEP0A1B00000000")
	c.forget("SEP0A1B00000000")
	c.fill("SEP0A1B00000000", slot, "SEP0A1B00000000.cnf.xml", []byte("stale"))
	if e, ok := c.lookup("SEP0A1B00000000"); ok {
		t.Errorf("a render raced by a write was kept: %q", e.data)
	}
	// A later reserve takes the slot over: only the last render is kept.
	first := c.reserve("SEP0A1B00000001")
	second := c.reserve("SEP0A1B00000001")
	c.fill("SEP0A1B00000001", first, "x", []byte("first"))
	c.fill("SEP0A1B00000001", second, "x", []byte("second"))
	if e, ok := c.lookup("SEP0A1B00000001"); !ok || string(e.data) != "second" {
		t.Errorf("after two renders: %v %+v", ok, e)
	}
	// Fingerprinted entries hit only with their fingerprint.
	c.put("SEP0A1B00000009", 9, "x", []byte("nine"))
	if _, ok := c.get("SEP0A1B00000009", 10); ok {
		t.Error("a different fingerprint hit")
	}
	if e, ok := c.get("SEP0A1B00000009", 9); !ok || string(e.data) != "nine" {
		t.Errorf("fingerprint 9: %v %+v", ok, e)
	}
	if len(c.entries) > 3 {
		t.Errorf("%d entries, the bound is 3", len(c.entries))
	}
}

// countingCore counts device reads; hook, if set, runs after each read
// and before its result is returned.
type countingCore struct {
	*provision.Service
	reads atomic.Int64
	hook  atomic.Pointer[func()]
}

func (c *countingCore) Device(ctx context.Context, name string) (provision.Device, error) {
	c.reads.Add(1)
	d, err := c.Service.Device(ctx, name)
	if h := c.hook.Load(); h != nil {
		(*h)()
	}
	return d, err
}

// startWatched starts a Server on e's core, or on the same core with its
// WatchDevices hidden.
func startWatched(t *testing.T, e *env, watched bool) *running {
	t.Helper()
	return start(t, e, func(o *Options) {
		if !watched {
			o.Core = unwatchedCore{e.svc}
		}
	})
}

// unwatchedCore hides the core's WatchDevices, as a core over a store
// that cannot report writes would.
type unwatchedCore struct{ Core }

// changeAutoDevice rewrites the auto-registered device with a new display
// name and no new version stamp.
func changeAutoDevice(t *testing.T, e *env, display string) {
	t.Helper()
	ctx := context.Background()
	changed := autoDevice
	changed.Lines = []provision.Line{autoDevice.Lines[0]}
	changed.Lines[0].DisplayName = display
	if err := e.st.DeleteDevice(ctx, changed.Name, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateDevice(ctx, changed); err != nil {
		t.Fatal(err)
	}
}

// TestChangeWithoutNewVersionStamp: a device changed without a new stamp
// is still served as it is now, by a core that reports writes and by one
// that does not.
func TestChangeWithoutNewVersionStamp(t *testing.T) {
	for _, watched := range []bool{true, false} {
		t.Run(fmt.Sprint("watched=", watched), func(t *testing.T) {
			e := newEnv(t, nil)
			r := startWatched(t, e, watched)
			if r.srv.content.watched != watched {
				t.Fatalf("watched = %v", r.srv.content.watched)
			}
			if _, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil); err != nil {
				t.Fatal(err)
			}
			changeAutoDevice(t, e, "Front Desk")
			got, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil)
			if err != nil || !bytes.Contains(got, []byte("<displayName>Front Desk</displayName>")) {
				t.Errorf("after the change: %v\n%s", err, got)
			}
			_, body := httpGet(t, http.MethodGet, r.http+"/SEP001122AABBCC.cnf.xml")
			if !bytes.Equal(body, got) {
				t.Errorf("HTTP serves another config than TFTP:\n%s", body)
			}
		})
	}
}

// TestKnownDeviceServedFromMemory: once rendered, a config is served over
// HTTP and TFTP without reading its device again, until the device is
// written.
func TestKnownDeviceServedFromMemory(t *testing.T) {
	e := newEnv(t, nil)
	core := &countingCore{Service: e.svc}
	r := start(t, e, func(o *Options) { o.Core = core })
	want, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		resp, body := httpGet(t, http.MethodGet, r.http+"/sep001122aabbcc.cnf.xml")
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Fatalf("GET: %d, body equal %v", resp.StatusCode, bytes.Equal(body, want))
		}
		if got, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("TFTP: %v, body equal %v", err, bytes.Equal(got, want))
		}
	}
	if n := core.reads.Load(); n != 1 {
		t.Errorf("%d device reads for 7 fetches of one unchanged device, want 1", n)
	}
	changeAutoDevice(t, e, "Lobby")
	_, body := httpGet(t, http.MethodGet, r.http+"/SEP001122AABBCC.cnf.xml")
	if !bytes.Contains(body, []byte("<displayName>Lobby</displayName>")) {
		t.Errorf("after the change:\n%s", body)
	}
	if n := core.reads.Load(); n != 2 {
		t.Errorf("%d device reads after the change, want 2", n)
	}
}

// TestRenderRacingAWrite: a device written while its config renders from
// what was read before the write is rendered again on the next fetch;
// the stale render is served once, to the request that read it, and never
// kept.
func TestRenderRacingAWrite(t *testing.T) {
	e := newEnv(t, nil)
	core := &countingCore{Service: e.svc}
	r := start(t, e, func(o *Options) { o.Core = core })
	var once atomic.Bool
	hook := func() {
		if once.CompareAndSwap(false, true) {
			changeAutoDevice(t, e, "Written Meanwhile")
		}
	}
	core.hook.Store(&hook)
	_, stale := httpGet(t, http.MethodGet, r.http+"/SEP001122AABBCC.cnf.xml")
	if bytes.Contains(stale, []byte("Written Meanwhile")) {
		t.Fatal("the hook ran before the read")
	}
	_, body := httpGet(t, http.MethodGet, r.http+"/SEP001122AABBCC.cnf.xml")
	if !bytes.Contains(body, []byte("<displayName>Written Meanwhile</displayName>")) {
		t.Errorf("the render that raced the write was kept:\n%s", body)
	}
}
