package phonesim

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// Report is the outcome of a fleet run.
type Report struct {
	Mode         Mode           `json:"mode"`
	Phones       int            `json:"phones"`
	OK           int            `json:"ok"`
	Failed       int            `json:"failed"`
	Unexpected   int            `json:"unexpected"` // failures whose code is not expected
	Seconds      float64        `json:"seconds"`
	PhonesPerSec float64        `json:"phonesPerSecond"` // phones that finished OK per second of run
	Outcomes     map[string]int `json:"outcomes"`
	Steps        []StepStats    `json:"steps"`
	Failures     []FailureLine  `json:"failures,omitempty"` // the first few
	Calls        *CallReport    `json:"calls,omitempty"`    // when the run placed calls
}

// StepStats are the latencies of one step over the fleet.
type StepStats struct {
	Step  string  `json:"step"`
	Count int     `json:"count"`
	Fails int     `json:"fails"`
	P50   float64 `json:"p50Seconds"`
	P95   float64 `json:"p95Seconds"`
	P99   float64 `json:"p99Seconds"`
	Max   float64 `json:"maxSeconds"`
}

// FailureLine is one failed phone.
type FailureLine struct {
	Device  string `json:"device"`
	Outcome string `json:"outcome"`
	Error   string `json:"error"`
}

const maxFailureLines = 20

func buildReport(f *Fleet, results []Result, extra *stepLog, elapsed time.Duration) *Report {
	r := &Report{Mode: f.Mode, Phones: len(results), Seconds: elapsed.Seconds(), Outcomes: map[string]int{}}
	expected := map[string]bool{}
	for _, c := range f.Expected {
		expected[c] = true
	}
	log := &stepLog{}
	var totals []time.Duration
	for _, res := range results {
		r.Outcomes[res.Outcome]++
		for _, s := range res.Steps {
			log.add(s.Step, s.Dur, nil)
		}
		if res.Err == nil {
			r.OK++
			totals = append(totals, res.Total)
			continue
		}
		r.Failed++
		var fl *Failure
		if asFailure(res.Err, &fl) {
			log.add(fl.Step, 0, res.Err)
		}
		if !expected[res.Outcome] {
			r.Unexpected++
		}
		if len(r.Failures) < maxFailureLines {
			r.Failures = append(r.Failures, FailureLine{res.Device, res.Outcome, printable(res.Err.Error())})
		}
	}
	extra.mu.Lock()
	for name, s := range extra.steps {
		for _, d := range s.durs {
			log.add(name, d, nil)
		}
		for range s.fails {
			log.add(name, 0, errFailed)
		}
	}
	extra.mu.Unlock()
	for name, s := range log.steps {
		r.Steps = append(r.Steps, stats(name, s.durs, s.fails))
	}
	slices.SortFunc(r.Steps, func(a, b StepStats) int { return stepOrder(a.Step) - stepOrder(b.Step) })
	r.Steps = append(r.Steps, stats("total", totals, 0))
	if elapsed > 0 {
		r.PhonesPerSec = float64(r.OK) / elapsed.Seconds()
	}
	return r
}

var errFailed = fmt.Errorf("failed")

func asFailure(err error, f **Failure) bool {
	x, ok := err.(*Failure)
	if ok {
		*f = x
	}
	return ok
}

func stats(name string, d []time.Duration, fails int) StepStats {
	sortDurations(d)
	s := StepStats{Step: name, Count: len(d), Fails: fails}
	if len(d) > 0 {
		s.P50 = percentile(d, 0.50).Seconds()
		s.P95 = percentile(d, 0.95).Seconds()
		s.P99 = percentile(d, 0.99).Seconds()
		s.Max = d[len(d)-1].Seconds()
	}
	return s
}

// stepOrder sorts steps in flow order.
var phaseOrder = []string{"boot/", "autoreg/", "selfprov/", "user/", "webex/", "register", "refresh", "held/"}
var actionOrder = []string{"signin", "notify", "unregister", "ctl", "itl", "config", "register", "idle", "login", "confirm"}

func stepOrder(step string) int {
	o := 0
	for i, p := range phaseOrder {
		if strings.HasPrefix(step, p) {
			o = (i + 1) * 100
			break
		}
	}
	_, action, _ := strings.Cut(step, "/")
	for i, a := range actionOrder {
		if action == a {
			return o + i
		}
	}
	return o + 99
}

// WriteTable writes the human summary: per-step percentiles and outcomes.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "step\tcount\tfails\tp50\tp95\tp99\tmax\t\n")
	for _, s := range r.Steps {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", s.Step, s.Count, s.Fails, ms(s.P50), ms(s.P95), ms(s.P99), ms(s.Max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	codes := make([]string, 0, len(r.Outcomes))
	for c := range r.Outcomes {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "outcome\tphones\t\n")
	for _, c := range codes {
		fmt.Fprintf(tw, "%s\t%d\t\n", c, r.Outcomes[c])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d phones, %d ok, %d failed (%d unexpected) in %.1fs: %.0f phones/s\n",
		r.Phones, r.OK, r.Failed, r.Unexpected, r.Seconds, r.PhonesPerSec)
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  %s %s: %s\n", f.Device, f.Outcome, f.Error)
	}
	if r.Calls != nil {
		fmt.Fprintln(w)
		return r.Calls.WriteTable(w)
	}
	return nil
}

// printable keeps peer-supplied error text (a TFTP error message, a SIP
// reason) from writing control bytes to a terminal.
func printable(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func ms(s float64) string { return fmt.Sprintf("%.1fms", s*1000) }

// WriteJSON writes the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// StatusLine is the one-line live progress shown on a terminal.
func (p Progress) StatusLine() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%6.1fs started %d finished %d failed %d |", p.Elapsed.Seconds(), p.Started, p.Finished, p.Failed)
	for s := State(0); s < numStates; s++ {
		if n := p.States[s.String()]; n != 0 {
			fmt.Fprintf(&b, " %s %d", s, n)
		}
	}
	if p.Calls > 0 || p.InCall > 0 {
		fmt.Fprintf(&b, " | calls %d answered %d in progress %d", p.Calls, p.Answered, p.InCall)
	}
	return b.String()
}
