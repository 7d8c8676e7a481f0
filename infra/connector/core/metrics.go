package core

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Metrics are the series every flow counts in, on the connector's own
// registry so that several connectors (or tests) in one process do not
// collide. Each flow registers its own beside them.
type Metrics struct {
	Invocations       *prometheus.CounterVec
	InvocationSeconds *prometheus.HistogramVec
	Deferrals         *prometheus.CounterVec
	DeadLetters       *prometheus.CounterVec
	Functions         prometheus.Gauge
	RefreshErrors     prometheus.Counter
	// WaitingRefused counts deferred S3 events that could not be parked
	// in the waiting stream (reason full: at its bound; error: the
	// schedule was not stored) and stayed unacked in their stream.
	WaitingRefused *prometheus.CounterVec
}

// NewMetrics registers the shared series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "invocations_total",
			Help: "Function invocations by function (name.namespace) and HTTP status (\"error\": no answer).",
		}, []string{contract.MetricLabelFunction, "code"}),
		InvocationSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "invocation_seconds",
			Help:    "Duration of function invocations.",
			Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 1800},
		}, []string{contract.MetricLabelFunction}),
		Deferrals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "deferrals_total",
			Help: "Events deferred because a function answered 429 or 503 (quota, cold start), or (function \"quota\") because the tenant's quota decision holds it back; they do not count as attempts.",
		}, []string{contract.MetricLabelFunction}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "dead_letters_total",
			Help: "Events published to the dead-letter stream.",
		}, []string{"tenant", contract.MetricLabelFunction}),
		Functions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "subscribed_functions",
			Help: "Functions with at least one routable topic in the last function list.",
		}),
		RefreshErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "refresh_errors_total",
			Help: "Failed reads of the function list from the gateway.",
		}),
		WaitingRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "waiting_refused_total",
			Help: "Deferred S3 events not parked in the waiting stream (reason full or error); each stays unacked in its stream and comes back after its delay.",
		}, []string{"tenant", "reason"}),
	}
	reg.MustRegister(m.Invocations, m.InvocationSeconds, m.Deferrals, m.DeadLetters, m.Functions, m.RefreshErrors, m.WaitingRefused)
	return m
}
