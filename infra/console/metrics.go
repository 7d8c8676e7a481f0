package console

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/stats"
)

// rateSpan is what the rate gauges average over: long enough to hold
// several stats windows, short enough to follow a change.
const rateSpan = 5 * time.Minute

// rateDefs are the per-tenant rate gauges, per second over rateSpan.
var rateDefs = []struct {
	name, help string
	get        func(stats.Figures) float64
}{
	{"mysimbdp_tenant_files_per_second", "Files finished (done or rejected) per second, over the last 5 minutes of the stats function's windows.",
		func(f stats.Figures) float64 { return float64(f.Files) }},
	{"mysimbdp_tenant_rows_ok_per_second", "Rows stored from files per second, over the last 5 minutes.",
		func(f stats.Figures) float64 { return float64(f.RowsOK) }},
	{"mysimbdp_tenant_rows_rejected_per_second", "Rows of files quarantined per second, over the last 5 minutes.",
		func(f stats.Figures) float64 { return float64(f.RowsRejected) }},
	{"mysimbdp_tenant_messages_per_second", "Stream records received per second, over the last 5 minutes.",
		func(f stats.Figures) float64 { return float64(f.Messages) }},
	{"mysimbdp_tenant_bytes_per_second", "Bytes read from files and stream records per second, over the last 5 minutes.",
		func(f stats.Figures) float64 { return float64(f.FileBytes + f.StreamBytes) }},
	{"mysimbdp_tenant_failures_per_second", "Failed file attempts and failed stream records per second, over the last 5 minutes.",
		func(f stats.Figures) float64 { return float64(f.FileFailures + f.StreamFailures) }},
}

// Collector exports per-tenant backlog and rate gauges, read from
// JetStream and the stats function's windows at each scrape (as the
// dashboard reads them). Register it beside the connector's metrics.
type Collector struct {
	d              Deps
	tenantBacklog  *prometheus.Desc
	functionBacklg *prometheus.Desc
	p95            *prometheus.Desc
	rates          []*prometheus.Desc
	scrapeErrors   *prometheus.Desc
}

// NewCollector returns a collector over d (the console's Deps).
func NewCollector(d Deps) (*Collector, error) {
	d, err := d.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Collector{d: d,
		tenantBacklog: prometheus.NewDesc("mysimbdp_tenant_backlog",
			"Records waiting or in flight in the tenant's stream, summed over the consumers the connector made for its functions.", []string{"tenant"}, nil),
		functionBacklg: prometheus.NewDesc("mysimbdp_function_backlog",
			"Records waiting or in flight for the function (its JetStream consumers), as the scaler reads it.", []string{contract.MetricLabelFunction}, nil),
		p95: prometheus.NewDesc("mysimbdp_tenant_ingest_p95_seconds",
			"Highest 95th percentile of ingestion time in the last 5 minutes' windows, per file (kind file) or per stream batch (kind batch).", []string{"tenant", "kind"}, nil),
		scrapeErrors: prometheus.NewDesc("mysimbdp_console_source_up",
			"1 when the source (backlog, rates) was read at this scrape, 0 when it failed.", []string{"source"}, nil),
	}
	for _, r := range rateDefs {
		c.rates = append(c.rates, prometheus.NewDesc(r.name, r.help, []string{"tenant"}, nil))
	}
	return c, nil
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.tenantBacklog
	ch <- c.functionBacklg
	ch <- c.p95
	ch <- c.scrapeErrors
	for _, d := range c.rates {
		ch <- d
	}
}

// Collect reads the sources; one that fails reports source_up 0 and
// no gauges, rather than stale ones.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.d.SourceTimeout)
	defer cancel()
	up := func(source string, err error) {
		v := 1.0
		if err != nil {
			v = 0
			c.d.Log.Warn("console metrics: a source could not be read", "source", source, "err", err)
		}
		ch <- prometheus.MustNewConstMetric(c.scrapeErrors, prometheus.GaugeValue, v, source)
	}
	b, err := readBacklogs(ctx, c.d.JetStream)
	up("backlog", err)
	sums := map[string][]float64{}
	p95 := map[string][2]float64{}
	// Every tenant with a stream has its rates, zero when idle.
	for t := range b.streams {
		sums[t] = make([]float64, len(rateDefs))
	}
	if err == nil {
		for t, n := range b.byTenant {
			ch <- prometheus.MustNewConstMetric(c.tenantBacklog, prometheus.GaugeValue, float64(n), t)
		}
		for t := range b.streams {
			if _, ok := b.byTenant[t]; !ok {
				ch <- prometheus.MustNewConstMetric(c.tenantBacklog, prometheus.GaugeValue, 0, t)
			}
		}
		for fn, n := range b.byFunction {
			ch <- prometheus.MustNewConstMetric(c.functionBacklg, prometheus.GaugeValue, float64(n), fn)
		}
	}
	now := c.d.Now()
	ws, err := readWindows(ctx, c.d.Mongo.Database(c.d.PlatformDB), now.Add(-rateSpan))
	up("rates", err)
	if err != nil {
		return
	}
	for _, w := range ws {
		if w.Tenant == stats.AllTenants {
			continue
		}
		s := sums[w.Tenant]
		if s == nil {
			s = make([]float64, len(rateDefs))
			sums[w.Tenant] = s
		}
		for i, r := range rateDefs {
			s[i] += r.get(w.Figures)
		}
		p := p95[w.Tenant]
		p95[w.Tenant] = [2]float64{max(p[0], w.FileP95MS), max(p[1], w.BatchP95MS)}
	}
	for t, s := range sums {
		for i, v := range s {
			ch <- prometheus.MustNewConstMetric(c.rates[i], prometheus.GaugeValue, v/rateSpan.Seconds(), t)
		}
		ch <- prometheus.MustNewConstMetric(c.p95, prometheus.GaugeValue, p95[t][0]/1000, t, "file")
		ch <- prometheus.MustNewConstMetric(c.p95, prometheus.GaugeValue, p95[t][1]/1000, t, "batch")
	}
}
