package configs

import (
	"testing"
)

// FuzzParse: any file, however hostile (aliases, huge numbers, odd
// types), gives a valid configuration or an error, and never a panic.
func FuzzParse(f *testing.F) {
	f.Add(demoYAML)
	f.Add([]byte("cluster:\n  autoRegistration:\n    startDN: \"2000\"\n    endDN: \"1000\"\n"))
	f.Add([]byte("users:\n  - {userId: x, pin: \"1\"}\n"))
	f.Add([]byte("clusterr: {}\n"))
	f.Add([]byte("listen: {sip: \":99999\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parse accepted a configuration that Validate refuses: %v", err)
		}
	})
}
