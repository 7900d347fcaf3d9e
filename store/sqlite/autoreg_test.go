package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"selfprov/provision"
)

func autoRegDevice(name, dn string) provision.Device {
	return provision.Device{
		Name: name, Model: 36224, Protocol: "SIP", State: provision.StateAutoRegistered,
		Lines: []provision.Line{{Button: 1, DN: dn}},
	}
}

// TestAutoRegisterStormIsGroupedAndIsolated sends a storm of concurrent
// auto-registrations, one of which fails inside its transaction. The
// storm must be grouped, the failure must cost no other phone its device,
// and the DNs handed out must be the lowest of the range, each once.
func TestAutoRegisterStormIsGroupedAndIsolated(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	// One DN per phone, so the failing phone always finds one free.
	r := provision.DNRange{Start: "1000", End: "1299"}
	const phones = 300
	const failing = 137
	type result struct {
		dev     provision.Device
		created bool
		err     error
	}
	results := make([]result, phones)
	var wg sync.WaitGroup
	for i := range phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("SEP0000000%05d", i)
			d, created, err := s.AutoRegister(ctx, name, r, "", func(dn string) provision.Device {
				if i == failing {
					// The device row goes in, then its second line collides
					// with the first: only a savepoint keeps the row out.
					d := autoRegDevice(name, dn)
					d.Lines = append(d.Lines, provision.Line{Button: 1, DN: "9999"})
					return d
				}
				return autoRegDevice(name, dn)
			})
			results[i] = result{d, created, err}
		}()
	}
	wg.Wait()

	if got := s.largestAutoRegBatch.Load(); got < 2 {
		t.Errorf("largest batch %d: the storm was not grouped", got)
	}
	var dns []string
	exhausted := 0
	for i, res := range results {
		switch {
		case i == failing:
			if !errors.Is(res.err, provision.ErrDuplicate) {
				t.Errorf("failing phone: err %v, want ErrDuplicate", res.err)
			}
		case errors.Is(res.err, provision.ErrAutoRegExhausted):
			exhausted++
		case res.err != nil:
			t.Errorf("phone %d: %v", i, res.err)
		case !res.created || len(res.dev.Lines) != 1:
			t.Errorf("phone %d: created %v, lines %v", i, res.created, res.dev.Lines)
		default:
			dns = append(dns, res.dev.Lines[0].DN)
		}
	}
	if _, err := s.Device(ctx, fmt.Sprintf("SEP0000000%05d", failing)); !errors.Is(err, provision.ErrDeviceNotFound) {
		t.Errorf("the failed phone's device row survived: %v", err)
	}
	if len(dns) != phones-1 || exhausted != 0 {
		t.Fatalf("%d devices and %d exhausted, want %d and 0", len(dns), exhausted, phones-1)
	}
	sort.Strings(dns)
	for i, dn := range dns {
		if want := fmt.Sprint(1000 + i); dn != want {
			t.Fatalf("DN #%d is %s, want %s: DNs are not the lowest, each once", i, dn, want)
		}
	}

	// The failed phone's DN went back: the next phone gets the last DN,
	// and the one after finds the range used up.
	last, _, err := s.AutoRegister(ctx, "SEP0000000AAAAA", r, "", func(dn string) provision.Device { return autoRegDevice("SEP0000000AAAAA", dn) })
	if err != nil || last.Lines[0].DN != "1299" {
		t.Fatalf("next phone: %v %v, want DN 1299", err, last.Lines)
	}
	if _, _, err := s.AutoRegister(ctx, "SEP0000000BBBBB", r, "", func(dn string) provision.Device { return autoRegDevice("SEP0000000BBBBB", dn) }); !errors.Is(err, provision.ErrAutoRegExhausted) {
		t.Fatalf("phone past the range: %v, want ErrAutoRegExhausted", err)
	}

	// A retry of a created device finds it and takes no DN.
	again, created, err := s.AutoRegister(ctx, "SEP000000000000", r, "", func(dn string) provision.Device {
		t.Fatal("build called for an existing device")
		return provision.Device{}
	})
	if err != nil || created || again.Name != "SEP000000000000" {
		t.Fatalf("retry: %v created=%v %s", err, created, again.Name)
	}
}

func TestAutoRegisterAfterCloseFails(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "selfprov.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, _, err = s.AutoRegister(context.Background(), "SEP000000000001", provision.DNRange{Start: "1000", End: "1001"}, "",
		func(dn string) provision.Device { return autoRegDevice("SEP000000000001", dn) })
	if err == nil {
		t.Fatal("AutoRegister on a closed store succeeded")
	}
}

// TestAutoRegisterSkipsDNsOfOtherLines: a DN in the range that a
// provisioned line holds is never handed out, whether the line was added
// while the store ran or read back when it opened.
func TestAutoRegisterSkipsDNsOfOtherLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "selfprov.db")
	s := open(t, path)
	ctx := context.Background()
	r := provision.DNRange{Start: "1000", End: "1099"}
	autoreg := func(name, want string) {
		t.Helper()
		d, _, err := s.AutoRegister(ctx, name, r, "", func(dn string) provision.Device { return autoRegDevice(name, dn) })
		if err != nil || d.Lines[0].DN != want {
			t.Fatalf("%s: %v %v, want DN %s", name, d.Lines, err, want)
		}
	}
	provisioned := func(name, dn string) {
		t.Helper()
		if err := s.CreateDevice(ctx, provision.Device{Name: name, Model: 36224, State: provision.StateProvisioned,
			Lines: []provision.Line{{Button: 1, DN: dn}}}); err != nil {
			t.Fatal(err)
		}
	}
	autoreg("SEP000000000001", "1000")
	provisioned("SEP0000000000A1", "1001")
	autoreg("SEP000000000002", "1002")
	provisioned("SEP0000000000A2", "1004")
	s.Close()
	s = open(t, path)
	autoreg("SEP000000000003", "1003")
	autoreg("SEP000000000004", "1005")
}

// TestAutoRegisterSamePhoneInOneBatch: one phone asking many times at once
// (retransmissions, new Call-IDs) gets one device and one DN, created once.
func TestAutoRegisterSamePhoneInOneBatch(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	r := provision.DNRange{Start: "1000", End: "1099"}
	const name, asks = "SEP000000000077", 50
	var created sync.Map
	var wg sync.WaitGroup
	dns := make([]string, asks)
	for i := range asks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, c, err := s.AutoRegister(ctx, name, r, "", func(dn string) provision.Device { return autoRegDevice(name, dn) })
			if err != nil {
				t.Error(err)
				return
			}
			if c {
				created.Store(i, true)
			}
			dns[i] = d.Lines[0].DN
		}()
	}
	wg.Wait()
	n := 0
	created.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Errorf("created %d times, want once", n)
	}
	for i, dn := range dns {
		if dn != "1000" {
			t.Fatalf("ask %d got DN %q, want 1000", i, dn)
		}
	}
	next, _, err := s.AutoRegister(ctx, "SEP000000000078", r, "", func(dn string) provision.Device { return autoRegDevice("SEP000000000078", dn) })
	if err != nil || next.Lines[0].DN != "1001" {
		t.Fatalf("next phone: %v %v, want DN 1001", next.Lines, err)
	}
}

// TestAutoRegisterBurstJoinsFirstBatch: phones whose requests are already
// runnable when a batch starts must join it, not wait for the next one.
// On one P the goroutines below run strictly in turn, so without the
// runner's yield the first batch would hold only its leader.
func TestAutoRegisterBurstJoinsFirstBatch(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	var mu sync.Mutex
	var sizes []int
	testHookAutoRegBatch = func(n int) { mu.Lock(); sizes = append(sizes, n); mu.Unlock() }
	defer func() { testHookAutoRegBatch = nil }()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	const phones = 40
	r := provision.DNRange{Start: "1000", End: "1999"}
	var wg sync.WaitGroup
	errs := make(chan error, phones)
	for i := range phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("SEP0000000%05d", i)
			_, _, err := s.AutoRegister(context.Background(), name, r, "", func(dn string) provision.Device { return autoRegDevice(name, dn) })
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) == 0 || sizes[0] < 2 {
		t.Fatalf("batch sizes %v: the first batch did not gather the phones already waiting", sizes)
	}
}

// TestAutoRegisterAsync: requests queued from one goroutine, which never
// waits, are all answered once, with distinct DNs; a device that exists
// is answered before the call returns.
func TestAutoRegisterAsync(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	r := provision.DNRange{Start: "1000", End: "1999"}
	const phones = 200
	type result struct {
		dn      string
		created bool
		err     error
	}
	results := make(chan result, 2*phones)
	for i := range phones {
		name := fmt.Sprintf("SEP0000000%05d", i)
		s.AutoRegisterAsync(context.Background(), name, r, "", func(dn string) provision.Device { return autoRegDevice(name, dn) },
			func(d provision.Device, created bool, err error) {
				dn := ""
				if len(d.Lines) > 0 {
					dn = d.Lines[0].DN
				}
				results <- result{dn, created, err}
			})
	}
	seen := map[string]bool{}
	timeout := time.After(10 * time.Second)
	for range phones {
		select {
		case res := <-results:
			if res.err != nil || !res.created || seen[res.dn] {
				t.Fatalf("answer %+v (DNs so far %d)", res, len(seen))
			}
			seen[res.dn] = true
		case <-timeout:
			t.Fatalf("%d of %d answered", len(seen), phones)
		}
	}
	answered := false
	s.AutoRegisterAsync(context.Background(), "SEP000000000007", r, "", func(dn string) provision.Device { return autoRegDevice("SEP000000000007", dn) },
		func(d provision.Device, created bool, err error) {
			answered = err == nil && !created && d.Name == "SEP000000000007"
		})
	if !answered {
		t.Fatal("an existing device was not answered at once")
	}
	select {
	case res := <-results:
		t.Fatalf("an extra answer: %+v", res)
	default:
	}
}

// TestReplacementsShareBatches: concurrent replacements share batches; one
// that fails after its deletion (its line's DN belongs to an
// auto-registered device) is rolled back alone, and every device reads as
// it is.
func TestReplacementsShareBatches(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	r := provision.DNRange{Start: "1000", End: "1999"}
	const phones = 20
	for i := range phones + 1 { // the last one keeps its DN, 1020
		name := fmt.Sprintf("SEP0000000%05d", i)
		if _, _, err := s.AutoRegister(ctx, name, r, "", func(dn string) provision.Device { return autoRegDevice(name, dn) }); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var sizes []int
	testHookAutoRegBatch = func(n int) { mu.Lock(); sizes = append(sizes, n); mu.Unlock() }
	defer func() { testHookAutoRegBatch = nil }()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	// Even phones are replaced by owned devices on DN 2000+i; odd ones
	// ask for DN 1020, which an auto-registered phone keeps, and fail
	// after their deletion.
	var wg sync.WaitGroup
	errs := make([]error, phones)
	for i := range phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dn := fmt.Sprint(2000 + i)
			if i%2 == 1 {
				dn = "1020"
			}
			errs[i] = s.ReplaceDevice(ctx, fmt.Sprintf("SEP0000000%05d", i), provision.Device{
				Name: fmt.Sprintf("SEP0000000%05d", i), Model: 36224, State: provision.StateProvisioned, Owner: "alice",
				Lines: []provision.Line{{Button: 1, DN: dn}}}, 0)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		name := fmt.Sprintf("SEP0000000%05d", i)
		d, derr := s.Device(ctx, name)
		switch {
		case i%2 == 0 && (err != nil || derr != nil || d.State != provision.StateProvisioned):
			t.Errorf("%s: replace %v; then %s, %v", name, err, d.State, derr)
		case i%2 == 1 && (!errors.Is(err, provision.ErrDuplicate) || derr != nil || d.State != provision.StateAutoRegistered):
			t.Errorf("%s: replace %v, want ErrDuplicate; then %s, %v, want still auto-registered", name, err, d.State, derr)
		}
	}
	if n, err := s.CountOwnedDevices(ctx, "alice"); err != nil || n != phones/2 {
		t.Errorf("alice owns %d devices (%v), want %d", n, err, phones/2)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) == 0 || slices.Max(sizes) < 2 {
		t.Fatalf("batch sizes %v: replacements did not share a batch", sizes)
	}
}
