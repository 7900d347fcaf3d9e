// Package metrictest audits metric names and labels in tests: promlint's
// rules plus the project's own (selfprov_<subsystem>_<name>_<unit>, and no
// label that could carry a MAC, DN, user or address).
package metrictest

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"selfprov/telemetry"
)

// forbiddenLabels would make a series per phone, user or peer.
var forbiddenLabels = []string{
	"mac", "dn", "device", "device_name", "user", "user_id", "email", "ip", "addr", "address",
	"remote_addr", "source", "contact", "call_id", "callid", "extension", "filename",
}

// name is namespace_subsystem_name: at least three parts.
var name = regexp.MustCompile(`^` + telemetry.Namespace + `_[a-z][a-z0-9]*_[a-z][a-z0-9_]*[a-z0-9]$`)

// Audit fails t for every problem promlint or the project's rules find in
// what g gathers. Metrics outside the namespace (go_, process_) get only
// promlint's rules.
func Audit(t testing.TB, g prometheus.Gatherer) {
	t.Helper()
	for _, p := range Problems(g) {
		t.Error(p)
	}
}

// Problems lists what Audit would report.
func Problems(g prometheus.Gatherer) []string {
	var out []string
	lint, err := testutil.GatherAndLint(g)
	if err != nil {
		return []string{fmt.Sprintf("gathering: %v", err)}
	}
	for _, p := range lint {
		out = append(out, fmt.Sprintf("%s: %s", p.Metric, p.Text))
	}
	mfs, err := g.Gather()
	if err != nil {
		return append(out, fmt.Sprintf("gathering: %v", err))
	}
	for _, mf := range mfs {
		n := mf.GetName()
		if !strings.HasPrefix(n, telemetry.Namespace+"_") {
			continue
		}
		if !name.MatchString(n) {
			out = append(out, fmt.Sprintf("%s: name must be %s_<subsystem>_<name>_<unit> in lower case", n, telemetry.Namespace))
		}
		if mf.GetType().String() == "COUNTER" && !strings.HasSuffix(n, "_total") {
			out = append(out, fmt.Sprintf("%s: a counter's name ends in _total", n))
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				for _, bad := range forbiddenLabels {
					if lp.GetName() == bad {
						out = append(out, fmt.Sprintf("%s: label %q is unbounded (one series per phone, user or peer)", n, bad))
					}
				}
			}
		}
	}
	return out
}
