package phonesim

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Fleet is a run of many simulated phones.
type Fleet struct {
	N    int  // phones
	Mode Mode // what each phone does
	Mix  ModelMix
	// Seed goes into every generated MAC (0A:ss:ss:ii:ii:ii), so runs with
	// different seeds are different phones.
	Seed uint16
	// First is the index of the first phone, to continue a previous run.
	First int
	// Users are handed out in order: phone i gets Users[i % len(Users)].
	Users []User
	// Rate is phone arrivals per second; 0 starts them as fast as
	// Concurrency allows.
	Rate float64
	// Concurrency bounds phones in their flow at once (default 100).
	Concurrency int
	// StartDelay adds a random delay up to this before each phone boots.
	StartDelay time.Duration
	// RunTime bounds the whole run (default 10 min).
	RunTime time.Duration
	// Calls, if set, drives calls between the phones' lines once they
	// have finished their flow; the report's Calls tells how they went.
	Calls *CallLoad
	// Hold keeps finished phones registered, refreshing and answering
	// NOTIFYs, this long after the last one finishes (and its calls).
	Hold time.Duration
	// Unregister removes every binding at the end.
	Unregister bool
	// Expected lists outcome codes that are not failures (e.g. when the
	// DN range is meant to run out).
	Expected []string
	// OnResult, if set, receives each phone's result as it finishes.
	OnResult func(Result)
	// OnCall, if set, receives each call's result as it ends, from many
	// goroutines.
	OnCall func(CallResult)
	// Tick, if set, is called about five times a second while phones run.
	Tick func(p Progress)
}

// Progress is the live state of a run.
type Progress struct {
	Elapsed  time.Duration
	Started  int
	Finished int
	Failed   int
	States   map[string]int64
	// Calls placed so far, those answered, and those in progress, once
	// the fleet drives calls.
	Calls, Answered, InCall int64
}

// Run runs the fleet in env and reports. It wraps env.Observe for the
// run, so one env serves one fleet at a time.
func (f *Fleet) Run(ctx context.Context, env *Env) *Report {
	f.setDefaults()
	ctx, cancel := context.WithTimeout(ctx, f.RunTime)
	defer cancel()
	hold, stopHold := context.WithCancel(context.Background())
	defer stopHold()

	var steps stepLog
	defer observeHeldSteps(env, &steps)()

	env.states[StateWaiting].add(int64(f.N))
	r := &fleetRun{
		f: f, env: env, ctx: ctx, hold: hold,
		results: make([]Result, f.N),
		phones:  make([]*Phone, f.N),
		sem:     make(chan struct{}, f.Concurrency),
		begin:   time.Now(),
	}
	stopTick := r.startTicks()
	launched := r.launch()
	elapsed := time.Since(r.begin)
	r.notStarted(launched)
	var calls *CallReport
	if f.Calls != nil {
		calls = r.driveCalls(launched)
	}

	r.holdPhones()
	stopHold()
	stopTick()
	r.stopPhones(launched)
	rep := buildReport(f, r.results, &steps, elapsed)
	rep.Calls = calls
	return rep
}

// setDefaults fills in what the fleet left zero.
func (f *Fleet) setDefaults() {
	if f.Concurrency <= 0 {
		f.Concurrency = 100
	}
	if f.RunTime <= 0 {
		f.RunTime = 10 * time.Minute
	}
	if len(f.Mix) == 0 {
		f.Mix = ModelMix{{Models["8845"], 1}}
	}
}

// observeHeldSteps records refreshes and what held phones do in steps,
// besides env's own Observe, and returns what puts env's back.
func observeHeldSteps(env *Env, steps *stepLog) (restore func()) {
	userObserve := env.Observe
	env.Observe = func(step string, d time.Duration, err error) {
		if step == "refresh" || strings.HasPrefix(step, "held/") {
			steps.add(step, d, err)
		}
		if userObserve != nil {
			userObserve(step, d, err)
		}
	}
	return func() { env.Observe = userObserve }
}

// fleetRun is one run of a fleet: its phones, their results and counts.
type fleetRun struct {
	f         *Fleet
	env       *Env
	ctx, hold context.Context
	begin     time.Time
	sem       chan struct{} // bounds phones in their flow, then phones stopping
	results   []Result
	phones    []*Phone

	mu                        sync.Mutex
	started, finished, failed int

	calls, answered, inCall atomic.Int64
}

// startTicks calls the fleet's Tick about five times a second until the
// returned stop is called.
func (r *fleetRun) startTicks() (stop func()) {
	stopTick := make(chan struct{})
	var tickWG sync.WaitGroup
	if r.f.Tick != nil {
		tickWG.Add(1)
		go func() {
			defer tickWG.Done()
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stopTick:
					return
				case <-t.C:
					r.mu.Lock()
					p := Progress{Elapsed: time.Since(r.begin), Started: r.started, Finished: r.finished, Failed: r.failed, States: r.env.States(),
						Calls: r.calls.Load(), Answered: r.answered.Load(), InCall: r.inCall.Load()}
					r.mu.Unlock()
					r.f.Tick(p)
				}
			}
		}()
	}
	return func() {
		close(stopTick)
		tickWG.Wait()
	}
}

// launch starts the phones at the fleet's rate and concurrency until all
// have started or the run time ends, waits for those started to finish
// their flow, and returns how many started.
func (r *fleetRun) launch() int {
	f := r.f
	var lim *rate.Limiter
	if f.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(f.Rate), 1)
	}
	var wg sync.WaitGroup
	launched := 0
launch:
	for i := 0; i < f.N; i++ {
		if lim != nil {
			if err := lim.Wait(r.ctx); err != nil {
				break
			}
		}
		select {
		case r.sem <- struct{}{}:
		case <-r.ctx.Done():
			break launch
		}
		launched++
		n := f.First + i
		var user *User
		if len(f.Users) > 0 {
			u := f.Users[n%len(f.Users)]
			user = &u
		}
		ph := NewPhone(r.env, FleetMAC(f.Seed, n), f.Mix.Pick(n), f.Mode, user)
		ph.Index = n
		r.phones[i] = ph
		r.mu.Lock()
		r.started++
		r.mu.Unlock()
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-r.sem }()
			r.runPhone(i)
		}(i)
	}
	wg.Wait()
	return launched
}

// runPhone runs phone i's flow after the fleet's random start delay.
func (r *fleetRun) runPhone(i int) {
	f := r.f
	if f.StartDelay > 0 {
		t := time.NewTimer(rand.N(f.StartDelay))
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
		}
	}
	res := r.phones[i].Run(r.ctx, r.hold)
	r.results[i] = res
	if f.OnResult != nil {
		f.OnResult(res)
	}
	r.mu.Lock()
	r.finished++
	if res.Err != nil {
		r.failed++
	}
	r.mu.Unlock()
}

// notStarted fails the phones from launched on, which the run time left
// no room to start.
func (r *fleetRun) notStarted(launched int) {
	f := r.f
	for i := launched; i < f.N; i++ {
		r.env.states[StateWaiting].add(-1)
		r.env.states[StateFailed].add(1)
		r.results[i] = Result{Device: FleetMAC(f.Seed, f.First+i).DeviceName(), Outcome: "NOT_STARTED",
			Err: errors.New("the run time ended before this phone started")}
	}
}

// holdPhones keeps the phones registered for the fleet's Hold, or until
// the run time ends.
func (r *fleetRun) holdPhones() {
	if r.f.Hold > 0 {
		t := time.NewTimer(r.f.Hold)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
		}
	}
}

// stopPhones stops every phone that started; unregistering is bounded
// like the run itself.
func (r *fleetRun) stopPhones(launched int) {
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelStop()
	var swg sync.WaitGroup
	for _, ph := range r.phones[:launched] {
		r.sem <- struct{}{}
		swg.Add(1)
		go func() {
			defer swg.Done()
			defer func() { <-r.sem }()
			_ = ph.Stop(stopCtx, r.f.Unregister)
		}()
	}
	swg.Wait()
}

// stepLog collects step durations from several goroutines.
type stepLog struct {
	mu    sync.Mutex
	steps map[string]*stepSamples
}

type stepSamples struct {
	durs  []time.Duration
	fails int
}

func (l *stepLog) add(step string, d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.steps == nil {
		l.steps = map[string]*stepSamples{}
	}
	s := l.steps[step]
	if s == nil {
		s = &stepSamples{}
		l.steps[step] = s
	}
	if err != nil {
		s.fails++
		return
	}
	s.durs = append(s.durs, d)
}

// LoadUsers reads a users CSV: user ID, PIN, and optionally the expected
// extension and a Webex platform. A first line starting with "userid"
// names the columns: then userId, pin, extension (or primaryExtension)
// and platform are read by name and other columns are ignored, so the
// users file of "selfprovd import" (and of "phonesim users") serves as
// is. Blank lines and lines starting with # are skipped.
func LoadUsers(r io.Reader) ([]User, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	var users []User
	cols := []int{0, 1, 2, 3} // index of id, pin, extension, platform; -1 absent
	width := 4
	header := false
	for first := true; ; first = false {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("phonesim: users CSV: %w", err)
		}
		l, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if first && strings.EqualFold(strings.TrimSpace(rec[0]), "userid") {
			header, width, cols = true, len(rec), []int{0, -1, -1, -1}
			for i, h := range rec {
				switch strings.ToLower(strings.TrimSpace(h)) {
				case "pin":
					cols[1] = i
				case "extension", "primaryextension":
					cols[2] = i
				case "platform":
					cols[3] = i
				}
			}
			continue
		}
		if (!header && len(rec) < 2) || len(rec) > width {
			if header {
				return nil, fmt.Errorf("phonesim: users CSV line %d: %d fields, the header names %d", l, len(rec), width)
			}
			return nil, fmt.Errorf("phonesim: users CSV line %d: want userid,pin[,extension[,platform]], got %d fields", l, len(rec))
		}
		field := func(k int) string {
			if cols[k] < 0 || cols[k] >= len(rec) {
				return ""
			}
			return strings.TrimSpace(rec[cols[k]])
		}
		u := User{ID: field(0), PIN: field(1), Extension: field(2), Platform: strings.ToLower(field(3))}
		if u.ID == "" {
			return nil, fmt.Errorf("phonesim: users CSV line %d: empty user ID", l)
		}
		if _, ok := ClientModels[u.Platform]; !ok && u.Platform != "" {
			return nil, fmt.Errorf("phonesim: users CSV line %d: platform %q: want windows, mac, android, iphone or ipad", l, u.Platform)
		}
		users = append(users, u)
	}
	return users, nil
}

// UsersFile describes the users "phonesim users" writes.
type UsersFile struct {
	N         int    // users
	First     int    // index of the first user
	Prefix    string // user IDs are <Prefix><index, 5 digits>
	Extension int    // primary extension of the user of index 0
	PIN       string
	Profile   string // user profile; "" for the default system profile
}

// WriteUsers writes the users as a "selfprovd import -users" file, which
// "phonesim run -users" reads as well: user i has extension Extension+i.
func WriteUsers(w io.Writer, f UsersFile) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"userId", "lastName", "firstName", "primaryExtension", "userProfile", "pin"})
	for i := f.First; i < f.First+f.N; i++ {
		n := fmt.Sprintf("%05d", i)
		cw.Write([]string{f.Prefix + n, "User " + n, "Sim", strconv.Itoa(f.Extension + i), f.Profile, f.PIN})
	}
	cw.Flush()
	return cw.Error()
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func sortDurations(d []time.Duration) { slices.Sort(d) }
