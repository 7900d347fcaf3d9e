package xmlsvc

import (
	"github.com/prometheus/client_golang/prometheus"

	"selfprov/telemetry"
)

const subsystem = "xmlsvc"

// metrics of the XML service. Labels are bounded: steps and screens are
// fixed sets, codes are the product's outcome codes, families two values.
type metrics struct {
	screens   *prometheus.CounterVec   // screen, family
	outcomes  *prometheus.CounterVec   // step, code
	logins    *prometheus.CounterVec   // result
	lockouts  prometheus.Counter       //
	duration  *prometheus.HistogramVec // step
	pending   prometheus.GaugeFunc     //
	authURL   *prometheus.CounterVec   // result
	resetsErr prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, pendingFn func() float64) (*metrics, error) {
	m := &metrics{
		screens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "screens_total",
			Help: "IP Phone XML screens served, by screen and soft-key layout family.",
		}, []string{"screen", "family"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "outcomes_total",
			Help: "Self-provisioning steps by outcome code (OK for success).",
		}, []string{"step", "code"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "logins_total",
			Help: "Self-provisioning login attempts by result: ok, refused (a later check failed), auth_failed, locked, invalid, error.",
		}, []string{"result"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "lockouts_total",
			Help: "Logins and push authentications refused with ACCOUNT_LOCKED, including the attempt that locked the account.",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "request_duration_seconds",
			Help: "Time to answer a self-provisioning request, by step.", Buckets: telemetry.DurationBuckets,
		}, []string{"step"}),
		authURL: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "authentications_total",
			Help: "authenticationURL requests by answer: AUTHORIZED, UNAUTHORIZED, ERROR.",
		}, []string{"result"}),
		resetsErr: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "reset_failures_total",
			Help: "Resets after self-provisioning that the notifier could not send.",
		}),
	}
	m.pending = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: telemetry.Namespace, Subsystem: subsystem, Name: "pending_confirmations",
		Help: "Confirm screens whose token is neither used nor swept yet.",
	}, pendingFn)
	if err := telemetry.Register(reg, m.screens, m.outcomes, m.logins, m.lockouts, m.duration, m.pending, m.authURL, m.resetsErr); err != nil {
		return nil, err
	}
	return m, nil
}
