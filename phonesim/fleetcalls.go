package phonesim

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// CallLoad drives calls between a fleet's lines once its phones have
// finished their flow (registered, self-provisioned): each call takes two
// idle lines, so no line is in two calls at once.
type CallLoad struct {
	// Concurrency is the calls in progress at once (default 10, at most
	// half the lines).
	Concurrency int
	// Total is how many calls to place; 0 places calls for Duration.
	Total int
	// Duration bounds the call phase (default 1 min); the fleet's
	// RunTime bounds it too.
	Duration time.Duration
	// Hold is how long an answered call lasts before the caller hangs up.
	Hold time.Duration
	// NoAnswer cancels a call not answered by then (default 32 s).
	NoAnswer time.Duration
}

// CallReport is the outcome of a fleet's calls.
type CallReport struct {
	Lines       int            `json:"lines"` // lines that took part
	Calls       int            `json:"calls"`
	Answered    int            `json:"answered"` // answered and hung up cleanly
	Unexpected  int            `json:"unexpected"`
	Seconds     float64        `json:"seconds"`
	CallsPerSec float64        `json:"callsPerSecond"` // answered calls per second of the call phase
	Outcomes    map[string]int `json:"outcomes"`       // by final status of the INVITE
	ByeFailed   int            `json:"byeFailed"`      // answered calls whose BYE failed
	// CPUPerCall is the simulator's own CPU time (both ends of every
	// call, and whatever else the process did meanwhile) per call placed,
	// in microseconds; 0 where the process's CPU time cannot be read.
	CPUPerCall     float64  `json:"cpuMicrosecondsPerCall"`
	HungUpByCallee int      `json:"hungUpByCallee"`
	CutShort       int      `json:"cutShort"`           // calls still ringing when the call phase ended, cancelled
	Setup          Latency  `json:"setup"`              // INVITE to the 2xx
	Ringing        Latency  `json:"ringing"`            // INVITE to the first 180/183
	Failures       []string `json:"failures,omitempty"` // the first few
}

// Latency are percentiles of one measure over the calls.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50Seconds"`
	P90   float64 `json:"p90Seconds"`
	P99   float64 `json:"p99Seconds"`
	Max   float64 `json:"maxSeconds"`
}

func latency(d []time.Duration) Latency {
	slices.Sort(d)
	l := Latency{Count: len(d)}
	if len(d) > 0 {
		l.P50 = percentile(d, 0.50).Seconds()
		l.P90 = percentile(d, 0.90).Seconds()
		l.P99 = percentile(d, 0.99).Seconds()
		l.Max = d[len(d)-1].Seconds()
	}
	return l
}

func (l *CallLoad) setDefaults() {
	if l.Concurrency <= 0 {
		l.Concurrency = 10
	}
	if l.Duration <= 0 {
		l.Duration = time.Minute
	}
}

// driveCalls places the fleet's calls between the phones that finished
// their flow and reports them.
func (r *fleetRun) driveCalls(launched int) *CallReport {
	load := *r.f.Calls
	load.setDefaults()
	var lines []*Phone
	for i, ph := range r.phones[:launched] {
		if r.results[i].Err == nil && ph.DN() != "" {
			lines = append(lines, ph)
		}
	}
	rep := &CallReport{Lines: len(lines), Outcomes: map[string]int{}}
	if len(lines) < 2 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d lines registered: calls need two", len(lines)))
		rep.Unexpected = 1
		return rep
	}
	conc := min(load.Concurrency, len(lines)/2)
	if load.Total > 0 {
		conc = min(conc, load.Total)
	}
	idle := make(chan *Phone, len(lines))
	for _, i := range rand.Perm(len(lines)) {
		idle <- lines[i]
	}
	ctx, cancel := context.WithTimeout(r.ctx, load.Duration)
	defer cancel()
	expected := map[string]bool{}
	for _, c := range r.f.Expected {
		expected[c] = true
	}

	var (
		mu             sync.Mutex
		setup, ringing []time.Duration
		placed         atomic.Int64
		wg             sync.WaitGroup
	)
	record := func(from, to *Phone, res CallResult) {
		if r.env.Observe != nil {
			r.env.Observe("call/setup", res.Setup, callErr(res))
		}
		if r.f.OnCall != nil {
			r.f.OnCall(res)
		}
		r.calls.Add(1)
		if res.Answered() {
			r.answered.Add(1)
		}
		mu.Lock()
		defer mu.Unlock()
		rep.Calls++
		rep.Outcomes[res.Outcome]++
		if res.Ringing > 0 {
			ringing = append(ringing, res.Ringing)
		}
		if res.Status/100 == 2 {
			setup = append(setup, res.Setup)
			if res.RemoteHangup {
				rep.HungUpByCallee++
			}
		}
		switch {
		case res.Answered():
			rep.Answered++
			return
		case res.Status/100 == 2:
			rep.ByeFailed++
			rep.Unexpected++
		case !expected[res.Outcome]:
			rep.Unexpected++
		}
		if len(rep.Failures) < maxFailureLines {
			msg := res.Outcome
			if res.Err != nil {
				msg += ": " + res.Err.Error()
			}
			rep.Failures = append(rep.Failures, fmt.Sprintf("%s (%s) -> %s: %s", from.Name(), from.DN(), to.DN(), printable(msg)))
		}
	}
	take := func() *Phone {
		select {
		case p := <-idle:
			return p
		case <-ctx.Done():
			return nil
		}
	}
	begin := time.Now()
	cpu0, cpuOK := processCPU()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if load.Total > 0 && placed.Add(1) > int64(load.Total) {
					return
				}
				from := take()
				if from == nil {
					return
				}
				to := take()
				if to == nil {
					idle <- from
					return
				}
				r.inCall.Add(1)
				res := from.Call(ctx, to.DN(), CallOptions{Hold: load.Hold, NoAnswer: load.NoAnswer})
				r.inCall.Add(-1)
				idle <- from
				idle <- to
				if ctx.Err() != nil && !res.Answered() {
					// The call phase ended while this call rang (it was
					// cancelled): neither a failure nor a call.
					mu.Lock()
					rep.CutShort++
					mu.Unlock()
					return
				}
				record(from, to, res)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	if cpu1, ok := processCPU(); ok && cpuOK && rep.Calls > 0 {
		rep.CPUPerCall = float64((cpu1 - cpu0).Microseconds()) / float64(rep.Calls)
	}
	rep.Seconds = elapsed.Seconds()
	if elapsed > 0 {
		rep.CallsPerSec = float64(rep.Answered) / elapsed.Seconds()
	}
	rep.Setup, rep.Ringing = latency(setup), latency(ringing)
	return rep
}

func callErr(res CallResult) error {
	if res.Answered() {
		return nil
	}
	if res.Err != nil {
		return res.Err
	}
	return fmt.Errorf("final status %d", res.Status)
}

// WriteTable writes the calls' setup percentiles and outcomes.
func (c *CallReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "call\tcount\tp50\tp90\tp99\tmax\t\n")
	for _, l := range []struct {
		name string
		l    Latency
	}{{"setup (INVITE->200)", c.Setup}, {"ringing (INVITE->180)", c.Ringing}} {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", l.name, l.l.Count, ms(l.l.P50), ms(l.l.P90), ms(l.l.P99), ms(l.l.Max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	codes := make([]string, 0, len(c.Outcomes))
	for k := range c.Outcomes {
		codes = append(codes, k)
	}
	slices.SortFunc(codes, func(a, b string) int { return statusOrder(a) - statusOrder(b) })
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "final status\tcalls\t\n")
	for _, k := range codes {
		fmt.Fprintf(tw, "%s\t%d\t\n", k, c.Outcomes[k])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d calls between %d lines, %d answered and hung up (%d by the callee), %d BYEs failed, %d unexpected, in %.1fs: %.1f calls/s",
		c.Calls, c.Lines, c.Answered, c.HungUpByCallee, c.ByeFailed, c.Unexpected, c.Seconds, c.CallsPerSec)
	if c.CutShort > 0 {
		fmt.Fprintf(w, ", %d ringing at the end cancelled", c.CutShort)
	}
	if c.CPUPerCall > 0 {
		fmt.Fprintf(w, ", simulator CPU %.0fµs per call", c.CPUPerCall)
	}
	fmt.Fprintln(w)
	for _, f := range c.Failures {
		fmt.Fprintf(w, "  %s\n", f)
	}
	return nil
}

// statusOrder sorts status codes numerically, words after them.
func statusOrder(s string) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return 1000 + int(s[0])
}
