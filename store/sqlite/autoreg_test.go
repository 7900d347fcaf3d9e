package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"selfprov/internal/testkit"
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
// runner's yield the first batch would hold only its leader. With it, the
// leader may still come back first now and then: Go's scheduler takes
// from the global queue, where Gosched puts it, once every 61 turns. So
// the burst is tried up to five times, and one whose first batch gathered
// the waiting phones is enough; without the yield all five hold one.
func TestAutoRegisterBurstJoinsFirstBatch(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	var mu sync.Mutex
	var sizes []int
	testHookAutoRegBatch = func(n int) { mu.Lock(); sizes = append(sizes, n); mu.Unlock() }
	defer func() { testHookAutoRegBatch = nil }()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	const phones, tries = 40, 5
	r := provision.DNRange{Start: "1000", End: "1999"}
	var firsts []int
	for try := range tries {
		mu.Lock()
		sizes = nil
		mu.Unlock()
		var wg sync.WaitGroup
		errs := make(chan error, phones)
		for i := range phones {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("SEP00000%02d%05d", try, i)
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
		first := 0
		if len(sizes) > 0 {
			first = sizes[0]
		}
		mu.Unlock()
		if first >= 2 {
			return
		}
		firsts = append(firsts, first)
	}
	t.Fatalf("first batch sizes %v over %d bursts: the first batch did not gather the phones already waiting", firsts, tries)
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
	addUser(t, s, "alice") // devices are owned by users that exist
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

// queueInOneBatch queues the requests of each function (one each) in one
// batch, and waits for it to run: the batch runner the first request
// starts waits, boundedly, until all are queued.
func queueInOneBatch(t *testing.T, s *Store, queue ...func()) (batches []int, savepointRuns int) {
	t.Helper()
	var mu sync.Mutex
	testHookAutoRegBatch = func(n int) { mu.Lock(); batches = append(batches, n); mu.Unlock() }
	testHookSavepointRun = func() { mu.Lock(); savepointRuns++; mu.Unlock() }
	testHookRunnerStart = func() {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			s.autoRegMu.Lock()
			n := len(s.autoRegPending)
			s.autoRegMu.Unlock()
			if n >= len(queue) {
				return
			}
		}
	}
	defer func() { testHookAutoRegBatch, testHookSavepointRun, testHookRunnerStart = nil, nil, nil }()
	for _, q := range queue {
		q()
	}
	s.autoRegRunners.Wait()
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(batches), savepointRuns
}

// autoRegisterAsync queues an auto-registration and returns where its
// answer will come.
func autoRegisterAsync(s *Store, name string, r provision.DNRange) <-chan autoRegResult {
	done := make(chan autoRegResult, 1)
	s.AutoRegisterAsync(context.Background(), name, r, "", func(dn string) provision.Device { return autoRegDevice(name, dn) },
		func(d provision.Device, created bool, err error) {
			done <- autoRegResult{dev: d, created: created, err: err}
		})
	return done
}

func awaitResult(t *testing.T, what string, done <-chan autoRegResult) autoRegResult {
	t.Helper()
	select {
	case res := <-done:
		return res
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer", what)
		return autoRegResult{}
	}
}

// TestAutoRegisterThenReplaceInOneBatch: a phone auto-registered and
// replaced in the same batch is replaced. The new device's rows wait to be
// written with the others; the replacement must find them.
func TestAutoRegisterThenReplaceInOneBatch(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	addUser(t, s, "alice") // devices are owned by users that exist
	r := provision.DNRange{Start: "1000", End: "1999"}
	var first, other <-chan autoRegResult
	var replaceErr error
	batches, reruns := queueInOneBatch(t, s,
		func() { first = autoRegisterAsync(s, "SEP000000000001", r) },
		func() { other = autoRegisterAsync(s, "SEP000000000002", r) },
		func() {
			replaceErr = s.ReplaceDevice(context.Background(), "SEP000000000001", provision.Device{
				Name: "SEP000000000001", Model: 36224, State: provision.StateProvisioned, Owner: "alice",
				Lines: []provision.Line{{Button: 1, DN: "2000"}}}, 0)
		})
	if len(batches) != 1 || batches[0] != 3 || reruns != 0 {
		t.Fatalf("batches %v, runs with savepoints %d; want one batch of 3 run once", batches, reruns)
	}
	if replaceErr != nil {
		t.Fatalf("replace: %v", replaceErr)
	}
	if res := awaitResult(t, "first", first); res.err != nil || !res.created {
		t.Fatalf("first: %+v", res)
	}
	if res := awaitResult(t, "other", other); res.err != nil || !res.created || res.dev.Lines[0].DN != "1001" {
		t.Fatalf("other: %+v, want created on 1001", res)
	}
	d, err := s.Device(context.Background(), "SEP000000000001")
	if err != nil || d.State != provision.StateProvisioned || d.Lines[0].DN != "2000" {
		t.Fatalf("replaced device reads %+v, %v", d, err)
	}
	// The replacement released 1000.
	if res := awaitResult(t, "next", autoRegisterAsync(s, "SEP000000000003", r)); res.err != nil || res.dev.Lines[0].DN != "1000" {
		t.Fatalf("next phone: %+v, want DN 1000", res)
	}
}

// TestAutoRegisterTwiceInOneBatchRunsOnce: a phone asking twice in one
// batch finds its own waiting rows; the batch needs no second run.
func TestAutoRegisterTwiceInOneBatchRunsOnce(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	r := provision.DNRange{Start: "1000", End: "1999"}
	var a, b, c <-chan autoRegResult
	batches, reruns := queueInOneBatch(t, s,
		func() { a = autoRegisterAsync(s, "SEP000000000001", r) },
		func() { b = autoRegisterAsync(s, "SEP000000000002", r) },
		func() { c = autoRegisterAsync(s, "sep000000000001", r) })
	ra, rb, rc := awaitResult(t, "a", a), awaitResult(t, "b", b), awaitResult(t, "c", c)
	if len(batches) != 1 || batches[0] != 3 || reruns != 0 {
		t.Fatalf("batches %v, runs with savepoints %d; want one batch of 3 run once", batches, reruns)
	}
	if ra.err != nil || !ra.created || ra.dev.Lines[0].DN != "1000" {
		t.Fatalf("first ask: %+v", ra)
	}
	if rb.err != nil || !rb.created || rb.dev.Lines[0].DN != "1001" {
		t.Fatalf("other phone: %+v", rb)
	}
	if rc.err != nil || rc.created || rc.dev.Lines[0].DN != "1000" {
		t.Fatalf("second ask: %+v, want the device of the first", rc)
	}
}

// TestAutoRegisterOverlappingRangesInOneBatch: two ranges over one
// partition allocate apart, so a batch can pick one DN twice before its
// rows are written. The unique index refuses the second; the batch runs
// again request by request and both phones get a DN of their own.
func TestAutoRegisterOverlappingRangesInOneBatch(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	wide := provision.DNRange{Start: "1000", End: "1999"}
	narrow := provision.DNRange{Start: "1000", End: "1099"}
	var a, b <-chan autoRegResult
	batches, reruns := queueInOneBatch(t, s,
		func() { a = autoRegisterAsync(s, "SEP000000000001", wide) },
		func() { b = autoRegisterAsync(s, "SEP000000000002", narrow) })
	ra, rb := awaitResult(t, "a", a), awaitResult(t, "b", b)
	if len(batches) != 1 || reruns != 1 {
		t.Fatalf("batches %v, runs with savepoints %d; want one batch, run again once", batches, reruns)
	}
	if ra.err != nil || rb.err != nil || !ra.created || !rb.created {
		t.Fatalf("answers %+v, %+v", ra, rb)
	}
	if got := []string{ra.dev.Lines[0].DN, rb.dev.Lines[0].DN}; !slices.Equal(got, []string{"1000", "1001"}) {
		t.Fatalf("DNs %v, want [1000 1001]", got)
	}
	// The rows the refused statement left are not the next batch's.
	var c <-chan autoRegResult
	batches, reruns = queueInOneBatch(t, s, func() { c = autoRegisterAsync(s, "SEP000000000003", wide) })
	if rc := awaitResult(t, "c", c); rc.err != nil || !rc.created || rc.dev.Lines[0].DN != "1002" || reruns != 0 {
		t.Fatalf("next phone: %+v after batches %v, %d runs with savepoints; want created on 1002 at the first run", rc, batches, reruns)
	}
}

// TestWriteRowsInChunks: rows are written in statements of 2^k rows, the
// largest first; every row of every count lands once.
func TestWriteRowsInChunks(t *testing.T) {
	if got, want := multiRow(qInsertLine, lineColumns, 2), `INSERT INTO lines (device_key, button, dn, partition, dn_num, dn_len, auto) VALUES (?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?)`; got != want {
		t.Fatalf("multiRow:\n%s\nwant\n%s", got, want)
	}
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	next := 0
	for _, n := range []int{1, 7, 64, 100, 127} {
		var names []string
		err := s.tx(ctx, func(tx *sql.Tx) error {
			rows := &s.autoRegRows
			for range n {
				name := fmt.Sprintf("SEP0000000%05d", next)
				d := autoRegDevice(name, fmt.Sprint(10000+next))
				d.Lines = append(d.Lines, provision.Line{Button: 2, DN: fmt.Sprint(20000 + next)})
				if err := s.addDevice(rows, d, true); err != nil {
					return err
				}
				names = append(names, name)
				next++
			}
			if err := s.writeRows(ctx, tx, rows); err != nil {
				return err
			}
			if !rows.empty() || len(rows.lines) != 0 {
				t.Errorf("%d rows: left %d device values, %d line values", n, len(rows.devices), len(rows.lines))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%d rows: %v", n, err)
		}
		for _, name := range names {
			d, err := s.Device(ctx, name)
			if err != nil || len(d.Lines) != 2 {
				t.Fatalf("%d rows: %s reads %+v, %v", n, name, d, err)
			}
			// The document is json.Marshal's, whole, though written from
			// a buffer shared by the batch and kept for the next.
			var stored []byte
			if err := s.r.QueryRow(`SELECT data FROM devices WHERE name_key = ?`, name).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if want, _ := json.Marshal(d); !bytes.Equal(stored, want) {
				t.Fatalf("%d rows: %s stored\n%s\nwant\n%s", n, name, stored, want)
			}
		}
	}
	var lines int
	if err := s.r.QueryRow(`SELECT COUNT(*) FROM lines`).Scan(&lines); err != nil || lines != 2*next {
		t.Fatalf("%d lines (%v), want %d", lines, err, 2*next)
	}
}

// TestDeviceLimitWithinOneBatch: replacements for one owner in one batch
// count the devices the earlier ones gave it, and those it already had,
// so a limit holds within a transaction as across them.
func TestDeviceLimitWithinOneBatch(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	addUser(t, s, "alice")
	r := provision.DNRange{Start: "1000", End: "1999"}
	names := []string{"SEP0000000000C0", "SEP0000000000C1", "SEP0000000000C2", "SEP0000000000C3", "SEP0000000000C4"}
	for _, name := range names {
		if _, _, err := s.AutoRegister(ctx, name, r, "", func(dn string) provision.Device { return autoRegDevice(name, dn) }); err != nil {
			t.Fatal(err)
		}
	}
	forAlice := func(name, dn string) provision.Device {
		return provision.Device{Name: name, Model: 36224, State: provision.StateProvisioned, Owner: "alice",
			Lines: []provision.Line{{Button: 1, DN: dn}}}
	}
	// One device before the batch; a limit of 3 leaves room for two more.
	if err := s.ReplaceDevice(ctx, names[0], forAlice(names[0], "2000"), 3); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 4)
	var wg sync.WaitGroup
	queue := make([]func(), 4)
	for i := range queue {
		queue[i] = func() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.ReplaceDevice(ctx, names[i+1], forAlice(names[i+1], fmt.Sprint(2001+i)), 3)
			}()
			// Queued before the next (the runner takes all four once the
			// last is in).
			if i < len(queue)-1 {
				testkit.WaitFor(t, "the replacement queued", func() bool {
					s.autoRegMu.Lock()
					defer s.autoRegMu.Unlock()
					return len(s.autoRegPending) > i
				})
			}
		}
	}
	batches, _ := queueInOneBatch(t, s, queue...)
	wg.Wait()
	if len(batches) != 1 || batches[0] != 4 {
		t.Fatalf("batches %v, want one of 4", batches)
	}
	var ok, over int
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, provision.ErrDeviceLimit):
			over++
		default:
			t.Errorf("replacement %d: %v", i, err)
		}
	}
	if ok != 2 || over != 2 {
		t.Fatalf("%d replaced and %d over the limit, want 2 and 2", ok, over)
	}
	var n int
	if err := s.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM devices WHERE owner = 'alice'`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("alice owns %d devices (%v), limit 3", n, err)
	}
}

// TestDeviceOwnerMustExist: a device for an owner who is not a user is
// refused, with the user directory current, stale, and in the
// transaction that creates the user.
func TestDeviceOwnerMustExist(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	addUser(t, s, "alice")
	dev := func(name, owner, dn string) provision.Device {
		return provision.Device{Name: name, Model: 36224, State: provision.StateProvisioned, Owner: owner,
			Lines: []provision.Line{{Button: 1, DN: dn}}}
	}
	if err := s.CreateDevice(ctx, dev("SEP0000000000D1", "nobody", "2001")); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("unknown owner: %v, want ErrUserNotFound", err)
	}
	if err := s.CreateDevice(ctx, dev("SEP0000000000D1", "alice", "2001")); err != nil {
		t.Fatal(err)
	}
	s.users.markStale()
	if err := s.CreateDevice(ctx, dev("SEP0000000000D2", "nobody", "2002")); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("stale directory, unknown owner: %v, want ErrUserNotFound", err)
	}
	if err := s.CreateDevice(ctx, dev("SEP0000000000D2", "alice", "2002")); err != nil {
		t.Fatalf("stale directory, known owner: %v", err)
	}
	// A user and their device in one transaction: the directory does not
	// have the user yet, the table does.
	d := dev("SEP0000000000D3", "bob", "2003")
	if err := s.CreateUser(ctx, provision.User{ID: "bob", LastName: "B"}, &d); err != nil {
		t.Fatalf("a user created with a device: %v", err)
	}
	if _, found, _ := s.users.get("bob"); !found {
		t.Fatal("bob is not in the directory after the commit")
	}
}

// TestReplaceInPlace: a self-provisioning rewrites the device's row in
// place and replaces its lines; the device cache counts the name once,
// the DN auto-registration gave goes back, a line may take that same DN,
// and a replacement under another name still deletes and inserts.
func TestReplaceInPlace(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	ctx := context.Background()
	addUser(t, s, "alice")
	r := provision.DNRange{Start: "1000", End: "1999"}
	autoReg := func(name string) provision.Device {
		t.Helper()
		d, _, err := s.AutoRegister(ctx, name, r, "", func(dn string) provision.Device { return autoRegDevice(name, dn) })
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	provisioned := func(name, dn string) provision.Device {
		return provision.Device{Name: name, Model: 36224, State: provision.StateProvisioned, Owner: "alice",
			Lines: []provision.Line{{Button: 1, DN: dn}}}
	}
	a := autoReg("SEP0000000000E1")
	// The provisioned line takes the DN auto-registration gave this device.
	if err := s.ReplaceDevice(ctx, a.Name, provisioned(a.Name, a.Lines[0].DN), 0); err != nil {
		t.Fatalf("a line on the device's own auto-registered DN: %v", err)
	}
	key := strings.ToUpper(a.Name)
	if n := s.devices.names[maphash.String(s.devices.seed, key)]; n != 1 {
		t.Fatalf("the cache counts the name %d times, want 1", n)
	}
	var rows int
	if err := s.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM lines WHERE device_key = ? AND auto = 0`, key).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("%d provisioned lines (%v), want 1", rows, err)
	}
	d, err := s.Device(ctx, a.Name)
	if err != nil || d.State != provision.StateProvisioned || d.Owner != "alice" || d.Lines[0].DN != a.Lines[0].DN {
		t.Fatalf("after the replacement: %+v, %v", d, err)
	}
	if err := s.DeleteDevice(ctx, a.Name, time.Now()); err != nil {
		t.Fatal(err)
	}
	if s.devices.exists(key) {
		t.Fatal("the cache still has the deleted device")
	}

	// The DN an auto-registered device had goes back to the range.
	b := autoReg("SEP0000000000E2")
	if err := s.ReplaceDevice(ctx, b.Name, provisioned(b.Name, "2002"), 0); err != nil {
		t.Fatal(err)
	}
	if c := autoReg("SEP0000000000E3"); c.Lines[0].DN != b.Lines[0].DN {
		t.Fatalf("next phone got %s, want the released %s", c.Lines[0].DN, b.Lines[0].DN)
	}

	// Not auto-registered and over the limit: the state is the answer.
	if err := s.ReplaceDevice(ctx, b.Name, provisioned(b.Name, "2003"), 1); !errors.Is(err, provision.ErrDeviceNotAutoReg) {
		t.Fatalf("a provisioned device over the limit: %v, want ErrDeviceNotAutoReg", err)
	}
	if err := s.ReplaceDevice(ctx, "SEP00000000FFFF", provisioned("SEP00000000FFFF", "2004"), 0); !errors.Is(err, provision.ErrDeviceNotFound) {
		t.Fatalf("no such device: %v, want ErrDeviceNotFound", err)
	}
	nobodys := provisioned(b.Name, "2003")
	nobodys.Owner = "nobody"
	if err := s.ReplaceDevice(ctx, b.Name, nobodys, 0); !errors.Is(err, provision.ErrDeviceNotAutoReg) {
		t.Fatalf("a provisioned device for an unknown owner: %v, want ErrDeviceNotAutoReg", err)
	}
	f := autoReg("SEP0000000000E5")
	nobodys.Name = f.Name
	if err := s.ReplaceDevice(ctx, f.Name, nobodys, 0); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("an unknown owner: %v, want ErrUserNotFound", err)
	}
	if d, err := s.Device(ctx, f.Name); err != nil || d.State != provision.StateAutoRegistered {
		t.Fatalf("after a refused replacement: %+v, %v; want still auto-registered", d, err)
	}

	// Under another name: the old one is gone, the new one is there.
	e := autoReg("SEP0000000000E4")
	if err := s.ReplaceDevice(ctx, e.Name, provisioned("CSFALICE", "2005"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Device(ctx, e.Name); !errors.Is(err, provision.ErrDeviceNotFound) {
		t.Fatalf("the old name after a renaming replacement: %v", err)
	}
	if d, err := s.Device(ctx, "CSFALICE"); err != nil || d.Lines[0].DN != "2005" {
		t.Fatalf("the new name: %+v, %v", d, err)
	}
}
