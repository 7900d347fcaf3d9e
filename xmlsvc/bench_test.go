package xmlsvc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"selfprov/configs"
	"selfprov/phonexml"
	"selfprov/provision"
)

// BenchmarkFlow measures complete self-provisioning flows over HTTP on
// loopback: idle (login screen) → login (checks, confirm screen) → confirm
// (provision, success screen), 32 phones at once, PINs hashed at
// provision.DefaultHashIterations. Reported: flows/s and the p99 of each
// screen in milliseconds, and the CPU time of one flow (server and client
// together), which the load of other processes does not change.
//
// The pbkdf2-1 case hashes PINs with one iteration: not a setting to run,
// the same flow without the hash, so the ratio of the two shows the share
// of the PIN hash in the cost of a flow.
func BenchmarkFlow(b *testing.B) {
	b.Run(fmt.Sprintf("pbkdf2-%d", provision.DefaultHashIterations), func(b *testing.B) { benchFlow(b, 0) })
	b.Run("pbkdf2-1", func(b *testing.B) { benchFlow(b, 1) })
}

func benchFlow(b *testing.B, hashIterations int) {
	const concurrency, users = 32, 64
	e := newEnvCost(b, hashIterations, func(c *configs.Config) {
		c.Cluster.AutoRegistration.Range = provision.DNRange{Start: "100000", End: "199999"}
		c.UserProfiles[0].DeviceLimit = math.MaxInt32 // every flow provisions
		for i := range users {
			c.Users = append(c.Users, configs.UserConfig{ID: fmt.Sprintf("bench%02d", i), LastName: "Bench",
				PrimaryExtension: fmt.Sprintf("3%03d", i), UserProfile: "Standard User Profile", PIN: "12345"})
		}
	}, func(o *Options) {
		// As in the daemon: one info line per step, JSON, here discarded.
		o.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	})
	e.svc.SetNotifier(provision.NopNotifier{})
	devices := make([]string, b.N)
	for i := range devices {
		devices[i] = e.autoRegister(b, 1000+i, 36224).Name
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}
	defer client.CloseIdleConnections()
	get := func(target string) ([]byte, error) {
		resp, err := client.Get(target)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	var (
		mu        sync.Mutex
		lat       [3][]time.Duration
		failures  int
		firstFail error
	)
	step := func(i int, target string) (phonexml.Object, time.Duration, error) {
		t0 := time.Now()
		body, err := get(target)
		d := time.Since(t0)
		if err != nil {
			return nil, d, err
		}
		o, err := phonexml.Parse(body)
		return o, d, err
	}
	flow := func(i int) error {
		var ds [3]time.Duration
		o, d, err := step(0, e.base+PathIdle+"?name="+devices[i])
		ds[0] = d
		in, ok := o.(*phonexml.Input)
		if err != nil || !ok {
			return fmt.Errorf("idle: %v %T", err, o)
		}
		o, d, err = step(1, phonexml.SubmitURL(in.URL, [2]string{"userid", fmt.Sprintf("bench%02d", i%users)}, [2]string{"pin", "12345"}))
		ds[1] = d
		conf, ok := o.(*phonexml.Text)
		if err != nil || !ok || conf.Prompt != "Confirm" {
			return fmt.Errorf("login: %v %+v", err, o)
		}
		var cont string
		for _, k := range conf.SoftKeys {
			if k.Name == "Continue" {
				cont = k.URL
			}
		}
		o, d, err = step(2, cont)
		ds[2] = d
		if x, ok := o.(*phonexml.Text); err != nil || !ok || x.Prompt != "Provisioned" {
			return fmt.Errorf("confirm: %v %+v", err, o)
		}
		mu.Lock()
		for s := range ds {
			lat[s] = append(lat[s], ds[s])
		}
		mu.Unlock()
		return nil
	}
	work := make(chan int, b.N)
	for i := range b.N {
		work <- i
	}
	close(work)
	b.ResetTimer()
	cpu0, start := processCPU(), time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for i := range work {
				if err := flow(i); err != nil {
					mu.Lock()
					failures++
					if firstFail == nil {
						firstFail = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	if failures > 0 {
		b.Fatalf("%d of %d flows failed; first: %v", failures, b.N, firstFail)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "flows/s")
	if cpu > 0 {
		// CPU of server and client together, per flow: the rate two idle
		// cores would sustain is 2 s / this.
		b.ReportMetric(cpu.Seconds()*1e3/float64(b.N), "cpu-ms/flow")
	}
	for s, name := range []string{"idle", "login", "confirm"} {
		b.ReportMetric(p99(lat[s]).Seconds()*1e3, "p99-"+name+"-ms")
	}
	// Spot-check the outcome: the last device is provisioned.
	d, err := e.svc.Device(context.Background(), devices[b.N-1])
	if err != nil || d.State != provision.StateProvisioned {
		b.Fatalf("last device %+v %v", d, err)
	}
}

// BenchmarkPINHash is the cost of one PIN verification at the default
// PBKDF2-SHA256 iteration count, the bound on logins per core.
func BenchmarkPINHash(b *testing.B) {
	h, err := provision.HashSecret("12345", provision.DefaultHashIterations)
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := processCPU()
	for b.Loop() {
		if !provision.VerifySecret(h, "12345") {
			b.Fatal("verify failed")
		}
	}
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(cpu.Seconds()*1e3/float64(b.N), "cpu-ms/op")
	}
}

func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)*99+99)/100-1]
}
