package tftpd

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"selfprov/phonecfg"
	"selfprov/provision"
)

func TestConfigCache(t *testing.T) {
	c := newConfigCache(testCMs, 3)
	configs := map[string][]byte{}
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("SEP0A1B%08X", i)
		data, err := phonecfg.RenderDevice(phonecfg.Device{Name: name, CallManagers: testCMs,
			Lines:        []phonecfg.Line{{Button: 1, DN: fmt.Sprint(1000 + i), DisplayName: fmt.Sprint("Auto ", 1000+i)}},
			VersionStamp: fmt.Sprint("1700000000-", i)})
		if err != nil {
			t.Fatal(err)
		}
		configs[name] = data
		if err := c.put(name, uint64(i), data); err != nil {
			t.Fatal(err)
		}
		// Rendered once, a config is not kept.
		if _, ok := c.get(name, uint64(i)); ok {
			t.Fatalf("%s: a config rendered once hit", name)
		}
		if err := c.put(name, uint64(i), data); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("SEP0A1B%08X", i)
		got, ok := c.get(name, uint64(i))
		if !ok || !bytes.Equal(got, configs[name]) {
			t.Errorf("%s: hit %v, bytes equal %v", name, ok, bytes.Equal(got, configs[name]))
		}
		if _, ok := c.get(name, uint64(i)+100); ok {
			t.Errorf("%s: a different fingerprint hit", name)
		}
	}
	n, stored := c.bytes()
	if n != 3 || stored > 3*600 {
		t.Errorf("%d entries in %d bytes; want 3 in well under the %d bytes of the files", n, stored, 3*len(configs["SEP0A1B00000000"]))
	}
	// A fourth device evicts one; the bound holds.
	for range 2 {
		if err := c.put("SEP0A1B00000009", 9, configs["SEP0A1B00000000"]); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := c.bytes(); n != 3 || len(c.entries) != 3 {
		t.Errorf("%d kept of %d entries, bound is 3", n, len(c.entries))
	}
	// A new fingerprint for a kept config replaces it with a mark.
	if err := c.put("SEP0A1B00000009", 10, configs["SEP0A1B00000001"]); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.get("SEP0A1B00000009", 9); ok {
		t.Error("the old fingerprint still hits after a change")
	}
}

// TestChangeWithoutNewVersionStamp: a device changed without a new stamp
// is still served as it is now.
func TestChangeWithoutNewVersionStamp(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, nil)
	if _, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	changed := autoDevice
	changed.Lines = []provision.Line{autoDevice.Lines[0]}
	changed.Lines[0].DisplayName = "Front Desk"
	if err := e.st.DeleteDevice(ctx, changed.Name, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateDevice(ctx, changed); err != nil {
		t.Fatal(err)
	}
	got, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil)
	if err != nil || !bytes.Contains(got, []byte("<displayName>Front Desk</displayName>")) {
		t.Errorf("after the change: %v\n%s", err, got)
	}
}

// TestConfigCacheConcurrentPuts: deflaters are shared by concurrent puts
// (one per CPU at most), and every entry still inflates to its own config.
func TestConfigCacheConcurrentPuts(t *testing.T) {
	c := newConfigCache(testCMs, 1000)
	const workers, each = 16, 20
	configs := make([][]byte, workers*each)
	for i := range configs {
		data, err := phonecfg.RenderDevice(phonecfg.Device{Name: fmt.Sprintf("SEP0A1B%08X", i), CallManagers: testCMs,
			Lines: []phonecfg.Line{{Button: 1, DN: fmt.Sprint(1000 + i)}}, VersionStamp: fmt.Sprint("1700000000-", i)})
		if err != nil {
			t.Fatal(err)
		}
		configs[i] = data
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * each; i < (w+1)*each; i++ {
				for range 2 { // kept from the second render on
					if err := c.put(fmt.Sprintf("SEP0A1B%08X", i), uint64(i), configs[i]); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	for i, want := range configs {
		if got, ok := c.get(fmt.Sprintf("SEP0A1B%08X", i), uint64(i)); !ok || !bytes.Equal(got, want) {
			t.Fatalf("config %d: hit %v, bytes equal %v", i, ok, bytes.Equal(got, want))
		}
	}
	if n := len(c.deflaters); n != runtime.GOMAXPROCS(0) {
		t.Fatalf("%d deflaters returned, want %d", n, runtime.GOMAXPROCS(0))
	}
}
