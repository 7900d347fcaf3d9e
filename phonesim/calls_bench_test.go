//go:build unix

package phonesim_test

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"selfprov/phonesim"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCalls measures the simulator's own cost of a call, both ends
// in this process: one op is INVITE, 100, 180, 200, ACK, BYE, 200 between
// two lines of two UAs over UDP on loopback, 50 calls at once. It reports
// the process's CPU per call, calls/s and the setup time (INVITE to 200)
// at p50 and p99.
func BenchmarkCalls(b *testing.B) {
	a, c := linePair(b, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const conc = 50
	var (
		next  atomic.Int64
		mu    sync.Mutex
		setup []time.Duration
		fails atomic.Int64
		wg    sync.WaitGroup
	)
	b.ResetTimer()
	cpu0, t0 := cpuNow(), time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				r := a.ua.Call(ctx, a.ep, "2002", phonesim.CallOptions{})
				if !r.Answered() {
					fails.Add(1)
					continue
				}
				mu.Lock()
				setup = append(setup, r.Setup)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	cpu, wall := cpuNow()-cpu0, time.Since(t0)
	b.StopTimer()
	if n := fails.Load(); n > 0 {
		b.Fatalf("%d of %d calls failed", n, b.N)
	}
	waitIdle(b, a.ua)
	waitIdle(b, c.ua)
	slices.Sort(setup)
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/call")
	b.ReportMetric(float64(b.N)/wall.Seconds(), "calls/s")
	b.ReportMetric(float64(setup[len(setup)/2].Microseconds()), "setup-p50-µs")
	b.ReportMetric(float64(setup[len(setup)*99/100].Microseconds()), "setup-p99-µs")
}

// BenchmarkActiveCallMemory reports what the simulator holds per call
// up, both ends in this process: b.N calls are set up between two lines
// over UDP (200 at a time) and held while the heap and the goroutine
// stacks are read, then hung up. The stacks are the callers' goroutines,
// one per call in progress as "run -mode calls" has.
func BenchmarkActiveCallMemory(b *testing.B) {
	a, c := linePair(b, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	hold, hangUp := context.WithCancel(ctx)
	var before, during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	var wg sync.WaitGroup
	var failed atomic.Int64
	waitAnswered := func(n int) {
		for deadline := time.Now().Add(time.Minute); c.ua.CallCounts().Answered < int64(n); {
			if time.Now().After(deadline) {
				b.Fatalf("calls answered: %+v, want %d", c.ua.CallCounts(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for i := range b.N {
		if i%200 == 0 {
			waitAnswered(i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a.ua.Call(hold, a.ep, "2002", phonesim.CallOptions{Hold: time.Hour, NoAnswer: time.Minute})
			if !r.Answered() {
				failed.Add(1)
			}
		}()
	}
	waitAnswered(b.N)
	// Every call acknowledged: both ends hold it as a dialog and nothing else.
	for deadline := time.Now().Add(time.Minute); a.ua.CallCounts().Active != b.N || c.ua.CallCounts().Active != b.N; {
		if time.Now().After(deadline) {
			b.Fatalf("calls up: caller %+v callee %+v, want %d", a.ua.CallCounts(), c.ua.CallCounts(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&during)
	hangUp()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d calls failed", n, b.N)
	}
	waitIdle(b, a.ua)
	waitIdle(b, c.ua)
	b.ReportMetric(float64(int64(during.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-B/call")
	b.ReportMetric(float64(int64(during.StackInuse)-int64(before.StackInuse))/float64(b.N), "stack-B/call")
}
