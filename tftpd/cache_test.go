package tftpd

import (
	"bytes"
	"context"
	"fmt"
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
	if err := c.put("SEP0A1B00000009", 9, configs["SEP0A1B00000000"]); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.bytes(); n != 3 {
		t.Errorf("%d entries, bound is 3", n)
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
