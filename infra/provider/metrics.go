package provider

import (
	"net/http"
	"strconv"
	"time"

	"github.com/openfaas/faas-provider/httputil"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// metrics live in the provider's own registry. The gateway_* names are
// the OpenFaaS gateway's, so its dashboards and alerts work unchanged;
// provider_http_* are faas-provider's for the /system routes.
type metrics struct {
	reg          *prometheus.Registry
	invocations  *prometheus.CounterVec
	seconds      *prometheus.HistogramVec
	started      *prometheus.CounterVec
	inflight     *prometheus.GaugeVec
	serviceCount *prometheus.GaugeVec
	httpTotal    *prometheus.CounterVec
	httpSeconds  *prometheus.HistogramVec
	// asyncAccepted counts asynchronous invocations stored for the
	// connector (answered 202).
	asyncAccepted *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: contract.MetricFunctionInvocations,
			Help: "Function invocations by function and status code.",
		}, []string{contract.MetricLabelFunction, "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_functions_seconds",
			Help:    "Function invocation duration.",
			Buckets: prometheus.DefBuckets,
		}, []string{contract.MetricLabelFunction, "code"}),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: contract.MetricFunctionStarted,
			Help: "Function invocations started.",
		}, []string{contract.MetricLabelFunction}),
		// The scaler reads it: a function with an invocation in flight
		// is not idle, however long since one finished.
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: contract.MetricFunctionInflight,
			Help: "Function invocations in flight (waiting for a replica or running).",
		}, []string{contract.MetricLabelFunction}),
		serviceCount: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_service_count",
			Help: "Desired replicas per function.",
		}, []string{contract.MetricLabelFunction}),
		httpTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Subsystem: "provider",
			Name:      "http_requests_total",
			Help:      "Total number of HTTP requests.",
		}, []string{"code", "method", "path"}),
		httpSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Subsystem: "provider",
			Name:      "http_request_duration_seconds",
			Help:      "Seconds spent serving HTTP requests.",
			Buckets:   prometheus.DefBuckets,
		}, []string{"code", "method", "path"}),
		asyncAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Subsystem: "provider",
			Name:      "async_accepted_total",
			Help:      "Asynchronous invocations stored for the connector to run (answered 202).",
		}, []string{contract.MetricLabelFunction}),
	}
	m.reg.MustRegister(m.invocations, m.seconds, m.started, m.inflight, m.serviceCount, m.httpTotal, m.httpSeconds, m.asyncAccepted,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// forget drops a deleted function's series.
func (m *metrics) forget(metricName string) {
	m.serviceCount.DeleteLabelValues(metricName)
	m.started.DeleteLabelValues(metricName)
	m.inflight.DeleteLabelValues(metricName)
	m.asyncAccepted.DeleteLabelValues(metricName)
	m.invocations.DeletePartialMatch(prometheus.Labels{contract.MetricLabelFunction: metricName})
	m.seconds.DeletePartialMatch(prometheus.Labels{contract.MetricLabelFunction: metricName})
}

// instrument records R.E.D. metrics of a /system route, as faas-provider's
// bootstrap does; pathOverride keeps per-function paths to one series.
func (m *metrics) instrument(next http.HandlerFunc, pathOverride string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// faas-provider's interceptor keeps Flush and CloseNotify, which
		// the logs handler needs for streaming.
		ww := httputil.NewHttpWriteInterceptor(w)
		next.ServeHTTP(ww, r)
		path := r.URL.Path
		if pathOverride != "" {
			path = pathOverride
		}
		code := strconv.Itoa(ww.Status())
		m.httpTotal.WithLabelValues(code, r.Method, path).Inc()
		m.httpSeconds.WithLabelValues(code, r.Method, path).Observe(time.Since(start).Seconds())
	}
}

// MakeMetricsHandler serves the provider's own registry on /metrics.
func MakeMetricsHandler(p *Provider) http.HandlerFunc {
	m := p.metrics
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}).ServeHTTP
}
