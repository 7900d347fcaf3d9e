package tftpd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"selfprov/configs"
	"selfprov/phonecfg"
)

// served fetches a device's config over TFTP three times (rendered,
// rendered again and kept, then from the cache) and over HTTP, and
// returns its versionStamp and sipPort, the same every time.
func served(t *testing.T, r *running, name string) (stamp string, sipPort int) {
	t.Helper()
	var first *phonecfg.Config
	for i := range 4 {
		var data []byte
		if i < 3 {
			var err error
			if data, err = get(t, r.tftp, name, nil); err != nil {
				t.Fatal(err)
			}
		} else {
			var resp *http.Response
			if resp, data = httpGet(t, http.MethodGet, r.http+"/"+name); resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %s", resp.Status)
			}
		}
		c, err := phonecfg.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = c
		} else if c.VersionStamp != first.VersionStamp {
			t.Fatalf("fetch %d: stamp %s, first %s; nothing changed", i+1, c.VersionStamp, first.VersionStamp)
		}
	}
	return first.VersionStamp, first.CallManagers[0].SIPPort
}

// The versionStamp follows what the file is rendered from beyond the
// device: a new SIP port, address or load changes it; the same inputs keep
// it, across restarts too.
func TestStampFollowsInputsBeyondTheDevice(t *testing.T) {
	const name = "SEP001122AABBCC.cnf.xml"
	e := newEnv(t, nil)
	base, _ := served(t, start(t, e, nil), name)
	if base[:11] != "1767323045-" {
		t.Fatalf("stamp %s does not carry the stored version's epoch", base)
	}
	// A restart over another store with the same device and settings.
	if again, _ := served(t, start(t, newEnv(t, nil), nil), name); again != base {
		t.Fatalf("same inputs after a restart: stamp %s, was %s", again, base)
	}

	seen := map[string]string{base: "base"}
	differs := func(what, stamp string) {
		t.Helper()
		if other, dup := seen[stamp]; dup {
			t.Errorf("%s: stamp %s is that of %s", what, stamp, other)
		}
		seen[stamp] = what
	}
	stamp, port := served(t, start(t, e, func(o *Options) {
		o.CallManagers = []phonecfg.CallManager{{Host: "192.0.2.10", SIPPort: 5070, SecuredSIPPort: 5061}}
	}), name)
	if port != 5070 {
		t.Fatalf("sipPort %d, want 5070", port)
	}
	differs("SIP port", stamp)
	stamp, _ = served(t, start(t, e, func(o *Options) {
		o.CallManagers = []phonecfg.CallManager{{Host: "192.0.2.11", SIPPort: 5060, SecuredSIPPort: 5061}}
	}), name)
	differs("advertised address", stamp)
	stamp, _ = served(t, start(t, e, func(o *Options) {
		o.CallManagers = []phonecfg.CallManager{{Host: "192.0.2.10", SIPPort: 5060, SecuredSIPPort: 5071}}
	}), name)
	differs("secured SIP port", stamp)
	stamp, _ = served(t, start(t, e, func(o *Options) { o.RegisterExpires = 120 }), name)
	differs("register expires", stamp)
	loaded := newEnv(t, func(c *configs.Config) {
		for i := range c.Models {
			if c.Models[i].ID == 36224 {
				c.Models[i].Load = "sip8845_65.14-3-1-0001-10"
			}
		}
	})
	stamp, _ = served(t, start(t, loaded, nil), name)
	differs("model load", stamp)
}

// BenchmarkKnownDeviceConfig is a known device's config as the TFTP and
// HTTP paths resolve it: "hit" from the cache, as a phone fetching an
// unchanged config gets it; "miss" rendered, as after a change.
func BenchmarkKnownDeviceConfig(b *testing.B) {
	e := newEnv(b, nil)
	ctx := context.Background()
	for _, mode := range []string{"hit", "miss"} {
		b.Run(mode, func(b *testing.B) {
			c, err := newContent(e.svc, testCMs, DefaultRegisterExpires, "", DefaultMaxCached)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if mode == "miss" {
					c.cache.entries = map[string]*cached{} // rendered every time
				}
				f, err := c.device(ctx, "SEP001122AABBCC")
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

// ConfigStamp names the versionStamp of the file a fetch then gets, from
// the cache or from a render, and refuses names that are not devices.
func TestConfigStamp(t *testing.T) {
	const name = "SEP001122AABBCC"
	for _, watched := range []bool{true, false} {
		t.Run(fmt.Sprint("watched=", watched), func(t *testing.T) {
			r := startWatched(t, newEnv(t, nil), watched)
			ctx := context.Background()
			before, err := r.srv.ConfigStamp(ctx, name) // renders (and keeps) the file
			if err != nil {
				t.Fatal(err)
			}
			stamp, _ := served(t, r, name+".cnf.xml")
			if before != stamp || stamp == "" {
				t.Fatalf("ConfigStamp %q before the fetches, the files carry %q", before, stamp)
			}
			if after, err := r.srv.ConfigStamp(ctx, name); err != nil || after != stamp {
				t.Fatalf("ConfigStamp %q, %v after the fetches; the files carry %q", after, err, stamp)
			}
			if _, err := r.srv.ConfigStamp(ctx, "SEP00000000FFFF"); !errors.Is(err, ErrNotFound) {
				t.Errorf("an unknown device: %v, want ErrNotFound", err)
			}
			if _, err := r.srv.ConfigStamp(ctx, "XMLDefault"); err == nil {
				t.Error("XMLDefault has a device's stamp")
			}
		})
	}
}
