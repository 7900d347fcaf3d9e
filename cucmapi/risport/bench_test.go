package risport_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"selfprov/cucmapi/risport"
	"selfprov/internal/coretest"
	"selfprov/provision"
)

// BenchmarkSelectCmDevice1000Of10000 asks for 1,000 devices by name
// pattern out of 10,000 registered, over HTTPS with keep-alive, and
// reports the 99th percentile.
func BenchmarkSelectCmDevice1000Of10000(b *testing.B) {
	c := coretest.New(b, coretest.Options{})
	ctx := context.Background()
	if err := c.Svc.SeedAppUser(ctx, password); err != nil {
		b.Fatal(err)
	}
	const n = 10000
	bindings := make([]risport.Binding, n)
	for i := range n {
		name := fmt.Sprintf("SEP00000000%04d", i)
		if _, err := c.Svc.AddDevice(ctx, provision.NewDevice{Name: name, Model: 36224, UDT: "Desk Phone Template",
			Lines: []provision.Line{{Button: 1, DN: fmt.Sprintf("7%05d", i)}}}); err != nil {
			b.Fatal(err)
		}
		bindings[i] = risport.Binding{DeviceName: name, Source: fmt.Sprintf("10.0.%d.%d:5060", i/250, i%250), Expires: time.Now().Add(time.Hour)}
	}
	h, err := risport.New(risport.Options{Service: c.Svc, Bindings: func() []risport.Binding { return bindings }})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = false
	srv.StartTLS()
	b.Cleanup(srv.Close)
	client := srv.Client()
	body := query("selectCmDevice", "1000", "Any", "Name", "SEP000000003*") // 3000..3999
	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header.Set("SOAPAction", "http://schemas.cisco.com/ast/soap/action/#RisPort#SelectCmDevice")
		req.SetBasicAuth(provision.DefaultAppUser, password)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(out), "<TotalDevicesFound>1000</TotalDevicesFound>") {
			b.Fatalf("HTTP %d\n%.500s", resp.StatusCode, out)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}
