package phonesim

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
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
	// Hold keeps finished phones registered, refreshing and answering
	// NOTIFYs, this long after the last one finishes.
	Hold time.Duration
	// Unregister removes every binding at the end.
	Unregister bool
	// Expected lists outcome codes that are not failures (e.g. when the
	// DN range is meant to run out).
	Expected []string
	// OnResult, if set, receives each phone's result as it finishes.
	OnResult func(Result)
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
}

// Run runs the fleet in env and reports. It wraps env.Observe for the
// run, so one env serves one fleet at a time.
func (f *Fleet) Run(ctx context.Context, env *Env) *Report {
	if f.Concurrency <= 0 {
		f.Concurrency = 100
	}
	if f.RunTime <= 0 {
		f.RunTime = 10 * time.Minute
	}
	if len(f.Mix) == 0 {
		f.Mix = ModelMix{{Models["8845"], 1}}
	}
	ctx, cancel := context.WithTimeout(ctx, f.RunTime)
	defer cancel()
	hold, stopHold := context.WithCancel(context.Background())
	defer stopHold()

	var steps stepLog
	userObserve := env.Observe
	env.Observe = func(step string, d time.Duration, err error) {
		if step == "refresh" || strings.HasPrefix(step, "held/") {
			steps.add(step, d, err)
		}
		if userObserve != nil {
			userObserve(step, d, err)
		}
	}
	defer func() { env.Observe = userObserve }()

	env.states[StateWaiting].add(int64(f.N))
	results := make([]Result, f.N)
	phones := make([]*Phone, f.N)
	var mu sync.Mutex
	started, finished, failed := 0, 0, 0

	stopTick := make(chan struct{})
	var tickWG sync.WaitGroup
	begin := time.Now()
	if f.Tick != nil {
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
					mu.Lock()
					p := Progress{Elapsed: time.Since(begin), Started: started, Finished: finished, Failed: failed, States: env.States()}
					mu.Unlock()
					f.Tick(p)
				}
			}
		}()
	}

	var lim *rate.Limiter
	if f.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(f.Rate), 1)
	}
	sem := make(chan struct{}, f.Concurrency)
	var wg sync.WaitGroup
	launched := 0
launch:
	for i := 0; i < f.N; i++ {
		if lim != nil {
			if err := lim.Wait(ctx); err != nil {
				break
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break launch
		}
		launched++
		n := f.First + i
		var user *User
		if len(f.Users) > 0 {
			u := f.Users[n%len(f.Users)]
			user = &u
		}
		ph := NewPhone(env, FleetMAC(f.Seed, n), f.Mix.Pick(n), f.Mode, user)
		ph.Index = n
		phones[i] = ph
		mu.Lock()
		started++
		mu.Unlock()
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if f.StartDelay > 0 {
				t := time.NewTimer(rand.N(f.StartDelay))
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
			}
			res := phones[i].Run(ctx, hold)
			results[i] = res
			if f.OnResult != nil {
				f.OnResult(res)
			}
			mu.Lock()
			finished++
			if res.Err != nil {
				failed++
			}
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(begin)
	for i := launched; i < f.N; i++ {
		env.states[StateWaiting].add(-1)
		env.states[StateFailed].add(1)
		results[i] = Result{Device: FleetMAC(f.Seed, f.First+i).DeviceName(), Outcome: "NOT_STARTED",
			Err: errors.New("the run time ended before this phone started")}
	}

	if f.Hold > 0 {
		t := time.NewTimer(f.Hold)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	stopHold()
	close(stopTick)
	tickWG.Wait()

	// Stop every phone; unregistering is bounded like the run itself.
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelStop()
	var swg sync.WaitGroup
	for _, ph := range phones[:launched] {
		sem <- struct{}{}
		swg.Add(1)
		go func() {
			defer swg.Done()
			defer func() { <-sem }()
			_ = ph.Stop(stopCtx, f.Unregister)
		}()
	}
	swg.Wait()
	return buildReport(f, results, &steps, elapsed)
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
// extension and a Webex platform. A first line starting with "userid" is a
// header; blank lines and lines starting with # are skipped.
func LoadUsers(r io.Reader) ([]User, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	var users []User
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("phonesim: users CSV: %w", err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(users) == 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "userid") {
			continue
		}
		if len(rec) < 2 || len(rec) > 4 {
			l, _ := cr.FieldPos(0)
			return nil, fmt.Errorf("phonesim: users CSV line %d: want userid,pin[,extension[,platform]], got %d fields", l, len(rec))
		}
		u := User{ID: strings.TrimSpace(rec[0]), PIN: strings.TrimSpace(rec[1])}
		if u.ID == "" {
			l, _ := cr.FieldPos(0)
			return nil, fmt.Errorf("phonesim: users CSV line %d: empty user ID", l)
		}
		if len(rec) > 2 {
			u.Extension = strings.TrimSpace(rec[2])
		}
		if len(rec) > 3 {
			u.Platform = strings.ToLower(strings.TrimSpace(rec[3]))
			if _, ok := ClientModels[u.Platform]; !ok && u.Platform != "" {
				l, _ := cr.FieldPos(0)
				return nil, fmt.Errorf("phonesim: users CSV line %d: platform %q: want windows, mac, android, iphone or ipad", l, u.Platform)
			}
		}
		users = append(users, u)
	}
	return users, nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func sortDurations(d []time.Duration) { slices.Sort(d) }
