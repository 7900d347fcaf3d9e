package axl_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"selfprov/cucmapi/axl"
	"selfprov/internal/coretest"
	"selfprov/provision"
)

// benchRig serves AXL over HTTPS (HTTP/1.1, keep-alive) as a rig meets it.
type benchRig struct {
	url    string
	client *http.Client
	core   *coretest.Core
}

func newBenchRig(b *testing.B) *benchRig {
	c := coretest.New(b, coretest.Options{})
	if err := c.Svc.SeedAppUser(context.Background(), appPassword); err != nil {
		b.Fatal(err)
	}
	h, err := axl.New(axl.Options{Service: c.Svc})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = false
	srv.StartTLS()
	b.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	return &benchRig{url: srv.URL + "/axl/", client: &http.Client{Transport: tr}, core: c}
}

func (r *benchRig) post(op, inner string) error {
	req, err := http.NewRequest(http.MethodPost, r.url, strings.NewReader(envelope("14.0", "<ns:"+op+">"+inner+"</ns:"+op+">")))
	if err != nil {
		return err
	}
	req.Header.Set("SOAPAction", `"CUCM:DB ver=14.0 `+op+`"`)
	req.SetBasicAuth(provision.DefaultAppUser, appPassword)
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", op, resp.StatusCode)
	}
	return nil
}

func (r *benchRig) addPhones(b *testing.B, prefix string, n int) {
	ctx := context.Background()
	for i := range n {
		if _, err := r.core.Svc.AddDevice(ctx, provision.NewDevice{Name: fmt.Sprintf("%s%06X", prefix, i), Model: 36224, UDT: "Desk Phone Template",
			Lines: []provision.Line{{Button: 1, DN: fmt.Sprintf("7%05d", i)}}}); err != nil {
			b.Fatal(err)
		}
	}
}

// parallel runs op from 16 clients at once (2 cores × 8), as the measure
// asks, and reports requests per second.
func parallel(b *testing.B, op func(i int64) error) {
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(n.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func BenchmarkGetPhone(b *testing.B) {
	r := newBenchRig(b)
	r.addPhones(b, "SEP000000", 100)
	parallel(b, func(i int64) error {
		return r.post("getPhone", fmt.Sprintf("<name>SEP000000%06X</name>", i%100))
	})
}

func BenchmarkAddPhone(b *testing.B) {
	r := newBenchRig(b)
	parallel(b, func(i int64) error {
		return r.post("addPhone", fmt.Sprintf(`<phone><name>SEP%012X</name><product>Cisco 8845</product><protocol>SIP</protocol>
			<lines><line><index>1</index><dirn><pattern>8%07d</pattern></dirn></line></lines></phone>`, i, i))
	})
}

// BenchmarkListPhone10000 lists 10,000 phones with returnedTags, one
// request at a time.
func BenchmarkListPhone10000(b *testing.B) {
	r := newBenchRig(b)
	r.addPhones(b, "SEP000000", 10000)
	b.ResetTimer()
	for range b.N {
		if err := r.post("listPhone", `<searchCriteria><name>SEP%</name></searchCriteria><returnedTags><name/><product/><description/></returnedTags>`); err != nil {
			b.Fatal(err)
		}
	}
}
