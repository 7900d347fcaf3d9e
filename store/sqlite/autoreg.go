package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"runtime"
	"slices"
	"strings"

	"selfprov/provision"
)

// Auto-registrations arrive in storms: thousands of phones booting at once.
// Each one is a short write transaction, and with one writer the commit
// (writing the WAL frames of the touched pages) is a third of its cost. So
// concurrent AutoRegister calls are grouped: every request waiting, up to
// maxAutoRegBatch, runs in one transaction, so that one failing request
// leaves the others whole (see autoRegisterBatch). A lone request pays
// nothing extra. Self-provisioning's device replacements (ReplaceDevice)
// come in storms too, a little later, and ride in the same batches.
const maxAutoRegBatch = 64

var (
	qSavepoint         = writeStatement(`SAVEPOINT autoreg`)
	qReleaseSavepoint  = writeStatement(`RELEASE autoreg`)
	qRollbackSavepoint = writeStatement(`ROLLBACK TO autoreg`)
)

// testHookAutoRegBatch, when set by a test, sees the size of every batch;
// testHookSavepointRun sees every batch run again with savepoints; and
// testHookRunnerStart runs when a batch runner starts, before it yields.
var (
	testHookAutoRegBatch func(n int)
	testHookSavepointRun func()
	testHookRunnerStart  func()
)

var errStoreClosed = errors.New("sqlite: store is closed")

type autoRegRequest struct {
	ctx       context.Context
	name      string
	hintKey   string
	partition string
	start     int64
	end       int64
	width     int
	build     func(dn string) provision.Device
	finish    func(autoRegResult) // called once, by whoever runs the batch
	replace   *replacement        // set: replace device name instead
}

// replacement is a ReplaceDevice request: dev takes the place of the
// auto-registered device, within the owner's device limit.
type replacement struct {
	dev   provision.Device
	limit int
}

type autoRegResult struct {
	dev     provision.Device
	created bool
	err     error
	wrote   bool // err came after a statement that changed the database
}

// AutoRegister creates an auto-registered device on the lowest free DN of
// the range, or returns the existing device.
func (s *Store) AutoRegister(ctx context.Context, name string, r provision.DNRange, partition string, build func(dn string) provision.Device) (provision.Device, bool, error) {
	done := make(chan autoRegResult, 1) // buffered: whoever runs the batch never waits on a caller
	if !s.queueAutoRegister(ctx, name, r, partition, build, func(res autoRegResult) { done <- res }, true) {
		res := <-done
		return res.dev, res.created, res.err
	}
	select {
	case res := <-done:
		return res.dev, res.created, res.err
	case <-ctx.Done():
		return provision.Device{}, false, ctx.Err()
	}
}

// AutoRegisterAsync is AutoRegister without waiting: done gets the result,
// on the calling goroutine when the device exists or the request fails at
// once, otherwise on the goroutine that ran the batch, which done must not
// hold up. A caller with many phones to answer (the registrar's readers)
// thus hands the batch's answers on in one go, not one goroutine each.
func (s *Store) AutoRegisterAsync(ctx context.Context, name string, r provision.DNRange, partition string, build func(dn string) provision.Device, done func(provision.Device, bool, error)) {
	s.queueAutoRegister(ctx, name, r, partition, build, func(res autoRegResult) { done(res.dev, res.created, res.err) }, false)
}

// queueAutoRegister answers at once when it can (finish is then called
// before it returns false) or queues the request for a batch (enqueue).
func (s *Store) queueAutoRegister(ctx context.Context, name string, r provision.DNRange, partition string, build func(dn string) provision.Device, finish func(autoRegResult), wait bool) (queued bool) {
	start, end, width, err := r.Bounds()
	if err != nil {
		finish(autoRegResult{err: err})
		return false
	}
	select {
	case <-s.closing:
		finish(autoRegResult{err: errStoreClosed})
		return false
	default:
	}
	// Most retries find the device without queueing for the writer.
	if d, err := s.Device(ctx, name); err == nil {
		finish(autoRegResult{dev: d})
		return false
	} else if !errors.Is(err, provision.ErrDeviceNotFound) {
		finish(autoRegResult{err: err})
		return false
	}
	return s.enqueue(&autoRegRequest{
		ctx: ctx, name: name, hintKey: hintKey(partition, r), partition: partition,
		start: start, end: end, width: width, build: build, finish: finish,
	}, wait)
}

// enqueue adds req to the next batch, or answers it errStoreClosed (and
// returns false). A waiting caller (wait) that finds no batch running
// runs it itself; otherwise a goroutine is started for it.
func (s *Store) enqueue(req *autoRegRequest, wait bool) (queued bool) {
	s.autoRegMu.Lock()
	if s.autoRegClosed {
		s.autoRegMu.Unlock()
		req.finish(autoRegResult{err: errStoreClosed})
		return false
	}
	s.autoRegPending = append(s.autoRegPending, req)
	run := !s.autoRegRunning
	if run {
		s.autoRegRunning = true
		s.autoRegRunners.Add(1)
	}
	s.autoRegMu.Unlock()
	switch {
	case run && wait:
		s.runAutoRegBatches(true)
	case run:
		go s.runAutoRegBatches(false)
	}
	return true
}

// runAutoRegBatches runs the waiting requests in batches until none is
// left. The caller that finds no batch running does it itself (lead), so
// a phone that comes alone waits for no other goroutine: on two busy cores
// every hand-off between goroutines was a scheduling delay in each
// REGISTER. A caller runs only the batch holding its own request; if more
// wait by then, a new goroutine goes on, so its answer is not held up.
//
// Before its first batch a runner yields once: the goroutines already
// runnable (phones whose REGISTERs came in the same burst) join the batch
// first. In a storm that made batches three times larger and the bytes
// written per device a third smaller (+9% auto-registrations/s); a phone
// that comes alone loses nothing, since Gosched returns at once when no
// other goroutine is runnable.
func (s *Store) runAutoRegBatches(lead bool) {
	if testHookRunnerStart != nil {
		testHookRunnerStart()
	}
	runtime.Gosched()
	for first := true; ; first = false {
		s.autoRegMu.Lock()
		n := min(len(s.autoRegPending), maxAutoRegBatch)
		if n == 0 || s.autoRegClosed {
			s.autoRegRunning = false
			s.autoRegMu.Unlock()
			s.autoRegRunners.Done()
			return
		}
		if lead && !first {
			s.autoRegMu.Unlock()
			go s.runAutoRegBatches(false) // still running: the count passes on
			return
		}
		batch := slices.Clone(s.autoRegPending[:n])
		s.autoRegPending = append(s.autoRegPending[:0], s.autoRegPending[n:]...)
		s.autoRegMu.Unlock()
		s.autoRegisterBatch(batch)
	}
}

// closeAutoRegister refuses new requests, waits for the batch running and
// answers the requests still waiting with errStoreClosed.
func (s *Store) closeAutoRegister() {
	s.autoRegMu.Lock()
	s.autoRegClosed = true
	s.autoRegMu.Unlock()
	s.autoRegRunners.Wait()
	s.autoRegMu.Lock()
	defer s.autoRegMu.Unlock()
	for _, req := range s.autoRegPending {
		req.finish(autoRegResult{err: errStoreClosed})
	}
	s.autoRegPending = nil
}

// errPartialWrite aborts a batch run without savepoints in which a request
// failed after writing: the batch is run again with savepoints.
var errPartialWrite = errors.New("sqlite: a request failed after writing")

// autoRegisterBatch runs the requests in one transaction and answers each.
// Savepoints cost two statements a request, and a request almost never
// fails after writing (a full range or a known device fails before), so
// the batch first runs without them and only a partial write makes it run
// again with one savepoint per request.
func (s *Store) autoRegisterBatch(batch []*autoRegRequest) {
	if testHookAutoRegBatch != nil {
		testHookAutoRegBatch(len(batch))
	}
	if n := int64(len(batch)); n > s.largestAutoRegBatch.Load() {
		s.largestAutoRegBatch.Store(n) // only this goroutine writes it
	}
	results, err := s.runAutoRegBatch(batch, false)
	if errors.Is(err, errPartialWrite) {
		if testHookSavepointRun != nil {
			testHookSavepointRun()
		}
		s.dropHints(batch)
		results, err = s.runAutoRegBatch(batch, true)
	}
	if err != nil {
		// The transaction is gone: no device of the batch was created.
		s.dropHints(batch)
		for i := range results {
			if results[i].err == nil {
				results[i] = autoRegResult{err: err}
			}
		}
	}
	for i, req := range batch {
		if results[i].err != nil && !errors.Is(results[i].err, provision.ErrAutoRegExhausted) {
			results[i].err = mapErr(results[i].err)
		}
		req.finish(results[i])
	}
}

func (s *Store) runAutoRegBatch(batch []*autoRegRequest, savepoints bool) ([]autoRegResult, error) {
	results := make([]autoRegResult, len(batch))
	// The batch's own context: one caller giving up must not abort the
	// others' transaction.
	ctx := context.Background()
	// Without savepoints the new devices' rows wait in rows and go in a few
	// multi-row statements; with them each request writes its own, so that
	// an error is its alone.
	var rows *newRows
	if !savepoints {
		// What a failed run left must not be written by this one.
		rows = &s.autoRegRows
		rows.reset()
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for i, req := range batch {
			if err := req.ctx.Err(); err != nil {
				results[i].err = err
				continue
			}
			if req.replace != nil {
				// A replacement reads the devices and lines tables.
				if err := s.flushRows(ctx, tx, rows); err != nil {
					return errPartialWrite
				}
			}
			if savepoints {
				if _, err := s.exec(ctx, tx, qSavepoint); err != nil {
					return err
				}
			}
			logged := len(s.devLog)
			if req.replace != nil {
				results[i] = s.replaceOne(ctx, tx, req)
			} else {
				results[i] = s.autoRegisterOne(ctx, tx, req, rows)
			}
			if results[i].err != nil && results[i].wrote {
				if !savepoints {
					return errPartialWrite
				}
				if _, err := s.exec(ctx, tx, qRollbackSavepoint); err != nil {
					return err
				}
				// The device cache must not learn what was rolled back
				// (a replacement's deletion, say).
				s.devLog = s.devLog[:logged]
			}
			if savepoints {
				if _, err := s.exec(ctx, tx, qReleaseSavepoint); err != nil {
					return err
				}
			}
		}
		if err := s.flushRows(ctx, tx, rows); err != nil {
			// Which request it was is for the run with savepoints to tell.
			return errPartialWrite
		}
		return nil
	})
	return results, err
}

// flushRows writes the rows waiting in rows, if any (rows may be nil).
func (s *Store) flushRows(ctx context.Context, tx *sql.Tx, rows *newRows) error {
	if rows == nil || rows.empty() {
		return nil
	}
	return s.writeRows(ctx, tx, rows)
}

// dropHints forgets the batch's hints: after a rollback they may stand past
// DNs that are still free.
func (s *Store) dropHints(batch []*autoRegRequest) {
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	for _, req := range batch {
		delete(s.hints, req.hintKey)
	}
}

// autoRegisterOne creates one device inside tx, or finds it. With rows set
// the new device's rows are added to rows rather than written.
func (s *Store) autoRegisterOne(ctx context.Context, tx *sql.Tx, req *autoRegRequest, rows *newRows) autoRegResult {
	key := strings.ToUpper(req.name)
	// The cache knows every committed name, and the log what this
	// transaction wrote: a new device costs no lookup.
	exists := s.devices.exists(key)
	if written, after := s.loggedDevice(key); written {
		exists = after
	}
	if exists {
		// The same phone twice in one batch: its rows may be waiting.
		if err := s.flushRows(ctx, tx, rows); err != nil {
			return autoRegResult{err: err, wrote: true}
		}
		var data []byte
		err := s.queryRow(ctx, tx, qDeviceData, key).Scan(&data)
		switch {
		case err == nil:
			var dev provision.Device
			if err := json.Unmarshal(data, &dev); err != nil {
				return autoRegResult{err: err}
			}
			return autoRegResult{dev: dev}
		case !errors.Is(err, sql.ErrNoRows): // else another name's hash
			return autoRegResult{err: err}
		}
	}
	// The write connection is the only writer, so the hint read here cannot
	// move under us until commit.
	s.hintMu.Lock()
	from, ok := s.hints[req.hintKey]
	s.hintMu.Unlock()
	if !ok || from < req.start {
		from = req.start
	}
	n, err := s.lowestFree(ctx, tx, req.partition, from, req.end, req.width)
	if err != nil {
		return autoRegResult{err: err}
	}
	if n > req.end {
		s.setHint(req.hintKey, n)
		return autoRegResult{err: provision.ErrAutoRegExhausted}
	}
	dev := req.build(provision.FormatDN(n, req.width))
	if rows != nil {
		if err := s.addDevice(rows, dev, true); err != nil {
			return autoRegResult{err: err}
		}
	} else if err := s.insertDevice(ctx, tx, dev, true); err != nil {
		return autoRegResult{err: err, wrote: true}
	}
	s.setHint(req.hintKey, n+1)
	return autoRegResult{dev: dev, created: true}
}
