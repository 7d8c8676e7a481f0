package scale

import (
	"context"
	"fmt"
	"io"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Inflight returns the invocations in flight per function, keyed
// "name.namespace". A function it does not name has none in flight; an
// error means none of them is known.
type Inflight func(ctx context.Context) (map[string]int64, error)

// MetricsInflight reads the invocations in flight from a Prometheus text
// endpoint (the local provider's /metrics, or the OpenFaaS gateway's):
// contract.MetricFunctionInflight where it is served, and otherwise the
// gateway's counters, invocations started minus invocations finished.
func MetricsInflight(url string, client *http.Client) Inflight {
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context) (map[string]int64, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, fmt.Errorf("invocations in flight from %s: %w", url, err)
		}
		req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("invocations in flight from %s: %w", url, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("invocations in flight from %s: answered %s", url, resp.Status)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return nil, fmt.Errorf("invocations in flight from %s: read metrics: %w", url, err)
		}
		return inflightOf(fams), nil
	}
}

// inflightOf reads the gauge, or derives it from the two counters for a
// function the gauge does not name.
func inflightOf(fams map[string]*dto.MetricFamily) map[string]int64 {
	out := map[string]int64{}
	gauge := sumByFunction(fams[contract.MetricFunctionInflight])
	started := sumByFunction(fams[contract.MetricFunctionStarted])
	finished := sumByFunction(fams[contract.MetricFunctionInvocations])
	for fn, n := range started {
		out[fn] = max(int64(n-finished[fn]), 0)
	}
	for fn, n := range gauge {
		out[fn] = max(int64(n), 0)
	}
	return out
}

// sumByFunction adds up a family's samples per function (the counters
// have one per status code).
func sumByFunction(f *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		var fn string
		for _, l := range m.GetLabel() {
			if l.GetName() == contract.MetricLabelFunction {
				fn = l.GetValue()
			}
		}
		if fn == "" {
			continue
		}
		switch {
		case m.GetGauge() != nil:
			out[fn] += m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			out[fn] += m.GetCounter().GetValue()
		case m.GetUntyped() != nil:
			out[fn] += m.GetUntyped().GetValue()
		}
	}
	return out
}
