// Package async is the connector's asynchronous invocations flow, the
// counterpart of OpenFaaS's queue-worker. The gateway (infra/provider)
// answers POST /async-function/<name>[/path] with 202 and X-Call-Id once
// the request is kept in the stream contract.AsyncStream, on
// contract.AsyncSubject (a contract.AsyncCall); this flow consumes that
// stream with a durable consumer and, for each call:
//
//   - invokes the function through the gateway with the stored method,
//     path, query, headers and body, under the connector's retry policy
//     (core.Policy): 429/503 are deferrals after Retry-After that spend
//     no attempt (503s for at most UnavailableDeadline), other failures
//     are retried with back-off and, after MaxAttempts, dead-lettered
//     like the other flows' messages;
//   - when the call has X-Callback-Url, POSTs the function's answer
//     there with X-Call-Id, X-Function-Status (the function's status;
//     502 when it never answered) and X-Duration-Seconds, as the
//     queue-worker does, retrying the callback a few times with
//     back-off; a call given up on is reported there with its last
//     status and answer;
//   - acks the message only once the invocation and its callback are
//     settled, so a connector or platform restart anywhere before that
//     runs the call again rather than losing it (at least once: a
//     function invoked asynchronously must be idempotent per X-Call-Id).
//
// Publisher is the gateway's side: how the provider stores a call.
package async

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mysimbdp/mysimbdp/infra/connector/core"
)

// Config is the flow's part of the connector's configuration, defaults
// filled in (see connector.Config).
type Config struct {
	Stream, SubjectPrefix, Durable string
	MaxAge                         time.Duration
	MaxBytes                       int64
	Replicas                       int
	MaxConcurrent, MaxAckPending   int
	FetchWait                      time.Duration
	// CallbackAttempts is how many times a callback is tried (default
	// 3); CallbackTimeout bounds each try (default 30s).
	CallbackAttempts int
	CallbackTimeout  time.Duration
	// Ensure, unless nil, creates the connector's streams before each
	// consumer setup.
	Ensure func(context.Context, jetstream.JetStream) error
}

// Deps are the parts of the core the flow uses.
type Deps struct {
	Policy   core.Policy
	Invoker  *core.Invoker
	Metrics  *core.Metrics
	Registry prometheus.Registerer
	Log      *slog.Logger
}

// Flow runs asynchronous invocations. Create it with New, run it with Run.
type Flow struct {
	cfg     Config
	pol     core.Policy
	inv     *core.Invoker
	cm      *core.Metrics
	m       *metrics
	log     *slog.Logger
	tracker *core.Tracker
	client  *http.Client // callbacks
	// set by Run
	js       jetstream.JetStream
	dls      *core.DeadLetters
	handlers sync.WaitGroup
}

// New returns the flow; it connects to nothing until Run.
func New(cfg Config, d Deps) *Flow {
	if cfg.CallbackAttempts <= 0 {
		cfg.CallbackAttempts = 3
	}
	if cfg.CallbackTimeout <= 0 {
		cfg.CallbackTimeout = 30 * time.Second
	}
	return &Flow{
		cfg: cfg, pol: d.Policy, inv: d.Invoker, cm: d.Metrics, m: newMetrics(d.Registry), log: d.Log.With("flow", "async"),
		tracker: core.NewTracker(2 * cfg.MaxAckPending),
		client:  &http.Client{Timeout: cfg.CallbackTimeout},
	}
}

// StreamConfig is the stream the gateway stores calls in.
func (f *Flow) StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        f.cfg.Stream,
		Description: "Asynchronous invocations accepted by the gateway, kept until the connector ran them",
		Subjects:    []string{f.cfg.SubjectPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		// A full stream refuses new calls (the gateway answers 503)
		// rather than dropping accepted ones.
		Discard:  jetstream.DiscardNew,
		MaxAge:   f.cfg.MaxAge,
		MaxBytes: f.cfg.MaxBytes,
		Replicas: f.cfg.Replicas,
	}
}

func (f *Flow) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       f.cfg.Durable,
		Description:   "mysimbdp connector: asynchronous invocations",
		FilterSubject: f.cfg.SubjectPrefix + ".>",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       f.pol.AckWait,
		// The flow counts attempts itself (deferrals do not count).
		MaxDeliver:    -1,
		MaxAckPending: f.cfg.MaxAckPending,
	}
}

// Run runs calls until ctx is done, then returns once every call it was
// handling is settled. Handling runs on work, which the connector
// cancels only when its shutdown timeout has passed.
func (f *Flow) Run(ctx, work context.Context, js jetstream.JetStream, dls *core.DeadLetters) {
	f.js, f.dls = js, dls
	sem := make(chan struct{}, f.cfg.MaxConcurrent)
	cc := f.consumerConfig()
	for ctx.Err() == nil {
		cons, err := f.setup(ctx, cc)
		if err != nil {
			break // ctx is done
		}
		f.log.Info("connector consuming", "stream", f.cfg.Stream, "durable", cc.Durable, "max_concurrent", cap(sem))
		f.consume(ctx, work, cons, sem)
	}
	f.handlers.Wait()
}

// setup creates the streams (unless skipped) and the consumer, retrying
// with back-off until it works or ctx is done.
func (f *Flow) setup(ctx context.Context, cc jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	for attempt := 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var err error
		if f.cfg.Ensure != nil {
			err = f.cfg.Ensure(sctx, f.js)
		}
		var cons jetstream.Consumer
		if err == nil {
			cons, err = f.js.CreateOrUpdateConsumer(sctx, f.cfg.Stream, cc)
			if err != nil {
				err = fmt.Errorf("create consumer %s on stream %s: %w", cc.Durable, f.cfg.Stream, err)
			}
		}
		cancel()
		if err == nil {
			return cons, nil
		}
		delay := core.Backoff(attempt, 100*time.Millisecond, 10*time.Second)
		if ctx.Err() == nil {
			f.log.Warn("set up JetStream consumer; retrying", "err", err, "retry_in", delay)
		}
		if !core.Sleep(ctx, delay) {
			return nil, ctx.Err()
		}
	}
}

// consume pulls and handles messages until ctx is done or the consumer
// is gone (core.Consume); sem bounds the handlers and outlives one call.
func (f *Flow) consume(ctx, work context.Context, cons jetstream.Consumer, sem chan struct{}) {
	core.Consume(ctx, cons, sem, f.cfg.FetchWait, &f.handlers, f.log, func(msg jetstream.Msg) { f.handle(work, msg) })
}

type metrics struct {
	calls     *prometheus.CounterVec
	callbacks *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "async_calls_total",
			Help: "Asynchronous invocations by outcome (delivered: 2xx, retried, deferred, dead_lettered).",
		}, []string{"outcome"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "async_callbacks_total",
			Help: "Callbacks of asynchronous invocations by outcome (delivered, failed: given up after the retries).",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.calls, m.callbacks)
	return m
}
