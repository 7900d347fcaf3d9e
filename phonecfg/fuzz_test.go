package phonecfg

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error wraps
// ErrMalformed, and that render∘parse is idempotent: once a parsed config
// has been rendered, parsing and rendering it again gives the same bytes.
func FuzzParse(f *testing.F) {
	addRenderedDevices(f)
	out, err := RenderDefault(defaults)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(out)
	f.Add([]byte(`<device/>`))                                                           // every field absent
	f.Add([]byte(`<device><transportLayerProtocol>4</transportLayerProtocol></device>`)) // CUCM's transport
	f.Add([]byte(`<Default><loadInformation7 model="Cisco 7960">P0S3</loadInformation7></Default>`))
	f.Add([]byte("<device><idleURL>a\r\nb</idleURL></device>")) // line ends normalised by the decoder
	f.Add([]byte(`<device><sipProfile><sipLines><line button="99999"/></sipLines></sipProfile></device>`))

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		render := func(c *Config) ([]byte, error) {
			if c.Default != nil {
				return RenderDefault(*c.Default)
			}
			return RenderDevice(c.Device)
		}
		first, err := render(c)
		if err != nil {
			return // parsed but not renderable: no name, no call manager, long URL
		}
		c2, err := Parse(first)
		if err != nil {
			t.Fatalf("rendered config does not parse: %v\n%s", err, first)
		}
		second, err := render(c2)
		if err != nil {
			t.Fatalf("re-parsed config does not render: %v", err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("render∘parse is not idempotent:\n%s\n---\n%s", first, second)
		}
	})
}

// addRenderedDevices seeds f with the rendered test devices.
func addRenderedDevices(f *testing.F) {
	f.Helper()
	for _, d := range []Device{autoRegistered, provisioned, webexClient} {
		out, err := RenderDevice(d)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(out)
	}
}
