package provider

import (
	"net/http"
	"strconv"
	"time"

	"github.com/openfaas/faas-provider/httputil"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics live in the provider's own registry. The gateway_* names are
// the OpenFaaS gateway's, so its dashboards and alerts work unchanged;
// provider_http_* are faas-provider's for the /system routes.
type metrics struct {
	reg          *prometheus.Registry
	invocations  *prometheus.CounterVec
	seconds      *prometheus.HistogramVec
	started      *prometheus.CounterVec
	serviceCount *prometheus.GaugeVec
	httpTotal    *prometheus.CounterVec
	httpSeconds  *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_function_invocation_total",
			Help: "Function invocations by function and status code.",
		}, []string{"function_name", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_functions_seconds",
			Help:    "Function invocation duration.",
			Buckets: prometheus.DefBuckets,
		}, []string{"function_name", "code"}),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_function_invocation_started",
			Help: "Function invocations started.",
		}, []string{"function_name"}),
		serviceCount: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_service_count",
			Help: "Desired replicas per function.",
		}, []string{"function_name"}),
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
	}
	m.reg.MustRegister(m.invocations, m.seconds, m.started, m.serviceCount, m.httpTotal, m.httpSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// forget drops a deleted function's series.
func (m *metrics) forget(metricName string) {
	m.serviceCount.DeleteLabelValues(metricName)
	m.started.DeleteLabelValues(metricName)
	m.invocations.DeletePartialMatch(prometheus.Labels{"function_name": metricName})
	m.seconds.DeletePartialMatch(prometheus.Labels{"function_name": metricName})
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
