package connector

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the connector's Prometheus series, on its own registry so
// that several connectors (or tests) in one process do not collide.
type metrics struct {
	invocations       *prometheus.CounterVec
	invocationSeconds *prometheus.HistogramVec
	deferrals         *prometheus.CounterVec
	retries           *prometheus.CounterVec
	deadLetters       *prometheus.CounterVec
	events            *prometheus.CounterVec
	inflight          prometheus.Gauge
	functions         prometheus.Gauge
	refreshErrors     prometheus.Counter
	scheduled         *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &metrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "invocations_total",
			Help: "Function invocations by function (name.namespace) and HTTP status (\"error\": no answer).",
		}, []string{"function", "code"}),
		invocationSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "invocation_seconds",
			Help:    "Duration of function invocations.",
			Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 1800},
		}, []string{"function"}),
		deferrals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "deferrals_total",
			Help: "Events deferred because a function answered 429 or 503 (quota, cold start), or (function \"quota\") because the tenant's quota decision holds it back; they do not count as attempts.",
		}, []string{"function"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "retries_total",
			Help: "Events scheduled for another attempt after a failure (function \"\": no subscribed function).",
		}, []string{"function"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "dead_letters_total",
			Help: "Events published to the dead-letter stream.",
		}, []string{"tenant", "function"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "events_total",
			Help: "Events settled, by outcome (delivered, ignored, dead_lettered, waiting: deferred to the waiting stream).",
		}, []string{"outcome"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "inflight_events",
			Help: "Events being handled now.",
		}),
		functions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "subscribed_functions",
			Help: "Functions with at least one routable topic in the last function list.",
		}),
		refreshErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "refresh_errors_total",
			Help: "Failed reads of the function list from the gateway.",
		}),
		scheduled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "scheduled_invocations_total",
			Help: "Scheduled invocations (topic cron-function) fired by this connector, by function and outcome (ok, failed).",
		}, []string{"function", "outcome"}),
	}
	f(m.scheduled)
	f(m.invocations)
	f(m.invocationSeconds)
	f(m.deferrals)
	f(m.retries)
	f(m.deadLetters)
	f(m.events)
	f(m.inflight)
	f(m.functions)
	f(m.refreshErrors)
	return m
}

// Registry is the connector's own registry, for a caller that serves
// several components' metrics together or adds process collectors.
func (c *Connector) Registry() *prometheus.Registry { return c.reg }

// MetricsHandler serves the connector's metrics in the Prometheus format.
func (c *Connector) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{Registry: c.reg})
}
