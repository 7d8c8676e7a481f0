package connector

import "github.com/prometheus/client_golang/prometheus"

// streamMetrics are the stream flow's series, on the connector's registry.
type streamMetrics struct {
	// records counts records by function and outcome: delivered (acked
	// after the function took it), failed (an attempt failed; retried or
	// dead-lettered), deferred (429/503, not an attempt), dead_lettered.
	records       *prometheus.CounterVec
	batchSize     *prometheus.HistogramVec
	inflight      *prometheus.GaugeVec
	consumers     prometheus.Gauge
	pausedTenants prometheus.Gauge
	tenantPaused  *prometheus.GaugeVec
	// tenantThrottled is 1 while a quota decision holds the tenant back.
	tenantThrottled *prometheus.GaugeVec
}

func newStreamMetrics(reg prometheus.Registerer) *streamMetrics {
	m := &streamMetrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "stream_records_total",
			Help: "Stream records by function and outcome (delivered, failed, deferred, dead_lettered); failed counts attempts.",
		}, []string{"function", "outcome"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "stream_batch_size",
			Help:    "Records per stream function invocation.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000},
		}, []string{"function"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "stream_inflight_batches",
			Help: "Stream batches being handled now, by function.",
		}, []string{"function"}),
		consumers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "stream_consumers",
			Help: "Stream functions this connector pulls for.",
		}),
		pausedTenants: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "paused_tenants",
			Help: "Tenants whose stream delivery is paused (control bucket key paused.<tenant>).",
		}),
		tenantPaused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "tenant_paused",
			Help: "1 while the tenant's stream delivery is paused, 0 once resumed.",
		}, []string{"tenant"}),
		tenantThrottled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "tenant_quota_held",
			Help: "1 while a quota decision (control bucket key quota.<tenant>) throttles or blocks the tenant, 0 once allowed.",
		}, []string{"tenant"}),
	}
	reg.MustRegister(m.records, m.batchSize, m.inflight, m.consumers, m.pausedTenants, m.tenantPaused, m.tenantThrottled)
	return m
}
