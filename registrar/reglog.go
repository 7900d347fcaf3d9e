package registrar

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// refusalLog logs the REGISTER answers other than 200 at info level, so a
// lab engineer sees why a phone is refused, without letting a phone that
// retries (or a flood) fill the log: at most one line per source address
// and status code per interval. The lines held back are counted and the
// count is given on the next line for that source and code, or by the
// sweep once the interval is over.
type refusalLog struct {
	log      *slog.Logger
	interval time.Duration

	mu       sync.Mutex
	seen     map[refusalKey]*refusalEntry
	overflow int // refusals not logged because seen was full
}

type refusalKey struct {
	source netip.Addr
	status int
}

type refusalEntry struct {
	last       time.Time // of the last line written
	suppressed int       // refusals since then, not logged
	reason     string    // of the last one suppressed
}

// maxRefusalKeys bounds the sources and codes remembered; a flood from
// more addresses than this is counted, not logged per address.
const maxRefusalKeys = 4096

func newRefusalLog(log *slog.Logger, interval time.Duration) *refusalLog {
	return &refusalLog{log: log, interval: interval, seen: map[refusalKey]*refusalEntry{}}
}

// record notes a refused REGISTER from source and logs it unless a line
// for the same source and code was written less than an interval ago.
func (l *refusalLog) record(now time.Time, source netip.Addr, status int, reason string, hdrs []sip.Header) {
	k := refusalKey{source, status}
	l.mu.Lock()
	e, ok := l.seen[k]
	if !ok && len(l.seen) >= maxRefusalKeys {
		l.overflow++
		l.mu.Unlock()
		return
	}
	if ok && now.Sub(e.last) < l.interval {
		e.suppressed++
		e.reason = reason
		l.mu.Unlock()
		return
	}
	suppressed := 0
	if ok {
		suppressed = e.suppressed
		e.last, e.suppressed = now, 0
	} else {
		l.seen[k] = &refusalEntry{last: now}
	}
	l.mu.Unlock()
	warning := ""
	for _, h := range hdrs {
		if h.Name() == "Warning" {
			warning = h.Value()
		}
	}
	l.log.Info("register refused", "source", source.String(), "code", status, "reason", reason,
		"warning", warning, "suppressed", suppressed)
}

// sweep forgets the sources whose interval is over, first logging how
// many of their refusals were held back.
func (l *refusalLog) sweep(now time.Time) {
	type held struct {
		k refusalKey
		e refusalEntry
	}
	var report []held
	l.mu.Lock()
	for k, e := range l.seen {
		if now.Sub(e.last) < l.interval {
			continue
		}
		if e.suppressed > 0 {
			report = append(report, held{k, *e})
		}
		delete(l.seen, k)
	}
	overflow := l.overflow
	l.overflow = 0
	l.mu.Unlock()
	for _, h := range report {
		l.log.Info("register refused", "source", h.k.source.String(), "code", h.k.status, "reason", h.e.reason,
			"suppressed", h.e.suppressed)
	}
	if overflow > 0 {
		l.log.Info("register refused", "sources", "too many to log each", "suppressed", overflow)
	}
}
