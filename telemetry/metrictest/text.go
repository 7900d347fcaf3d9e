package metrictest

import (
	"io"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Text reads a scraped text exposition into a Gatherer, so a running
// daemon's /metrics can be audited as a whole.
func Text(r io.Reader) (prometheus.Gatherer, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	byName, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	mfs := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		mfs = append(mfs, mf)
	}
	sort.Slice(mfs, func(i, j int) bool { return mfs[i].GetName() < mfs[j].GetName() })
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return mfs, nil }), nil
}
