package stream

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// metrics are the flow's series, on the connector's registry.
type metrics struct {
	// records counts records by function and outcome: delivered (acked
	// after the function took it), failed (an attempt failed; retried or
	// dead-lettered), deferred (429/503, not an attempt), dead_lettered.
	records   *prometheus.CounterVec
	batchSize *prometheus.HistogramVec
	inflight  *prometheus.GaugeVec
	consumers prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "stream_records_total",
			Help: "Stream records by function and outcome (delivered, failed, deferred, dead_lettered); failed counts attempts.",
		}, []string{contract.MetricLabelFunction, "outcome"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "stream_batch_size",
			Help:    "Records per stream function invocation.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000},
		}, []string{contract.MetricLabelFunction}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "stream_inflight_batches",
			Help: "Stream batches being handled now, by function.",
		}, []string{contract.MetricLabelFunction}),
		consumers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "stream_consumers",
			Help: "Stream functions this connector pulls for.",
		}),
	}
	reg.MustRegister(m.records, m.batchSize, m.inflight, m.consumers)
	return m
}
