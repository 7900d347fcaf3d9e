package admin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"selfprov/provision"
)

// get runs one authenticated GET and drains the answer, as a client would.
func (e *env) get(b *testing.B, path string, auth bool) {
	req, _ := http.NewRequest("GET", e.base+path, nil)
	if auth {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("%s: %d", path, resp.StatusCode)
	}
}

func benchEnv(b *testing.B, devices int) *env {
	e := newEnv(b, envOpt{})
	ctx := context.Background()
	if _, err := e.svc.UpdateCluster(ctx, func(c *provision.Cluster) error {
		c.AutoRegistration.Range = provision.DNRange{Start: "10000", End: "19999"}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	for i := range devices {
		if _, _, err := e.svc.AutoRegister(ctx, fmt.Sprintf("SEP0A%010X", i), 36224); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

// BenchmarkAdminHTTP compares a bare probe with authenticated API reads,
// all over loopback HTTP with keep-alive.
func BenchmarkAdminHTTP(b *testing.B) {
	e := benchEnv(b, 1000)
	b.Run("healthz", func(b *testing.B) {
		for b.Loop() {
			e.get(b, "/healthz", false)
		}
	})
	b.Run("get-device", func(b *testing.B) {
		for b.Loop() {
			e.get(b, "/api/v1/devices/SEP0A0000000100", true)
		}
	})
	b.Run("list-100-devices", func(b *testing.B) {
		for b.Loop() {
			e.get(b, "/api/v1/devices?limit=100&after=SEP0A0000000100", true)
		}
	})
}

// BenchmarkCheckDNRange is the cost a range change pays: one pass over
// every device and user.
func BenchmarkCheckDNRange(b *testing.B) {
	for _, n := range []int{100, 2000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			e := benchEnv(b, n)
			ar := provision.AutoRegistration{Enabled: true, UDT: "Auto-registration Template", ULT: "Auto-registration Line Template",
				Range: provision.DNRange{Start: "30000", End: "39999"}}
			for b.Loop() {
				if err := e.svc.CheckDNRange(context.Background(), ar); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
