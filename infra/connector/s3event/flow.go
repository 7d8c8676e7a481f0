// Package s3event is the connector's S3 events flow. MinIO publishes
// every bucket notification to contract.S3EventsSubject, kept by the
// stream contract.S3EventsStream. For an s3:ObjectCreated:* record under
// incoming/ in bucket B, the flow invokes every function that carries
// the label com.mysimbdp.tenant=B (a tenant's id is its bucket's name)
// and the annotation topic=s3:B or, more specific, s3:B/<prefix> with a
// prefix of the record's key (route.go), and settles the event by what
// they answered.
//
// An event's life, file by file:
//
//	pull.go     pulled from the shared durable consumer (or from the one
//	            of events back from waiting), read: where it comes from,
//	            which bucket and keys
//	route.go    routed: the functions of the most specific topic
//	deliver.go  handed to each subscribed function not done with it yet
//	            (core.Invoker, kept alive meanwhile); the answers decide:
//	            acked, retried, deferred, dead-lettered; a delayed event
//	            waits apart as a message schedule
//	core        settled (core.Settle)
//
// Deferred and retried events wait apart from the consumer every tenant
// shares. An event that a tenant's function defers (429/503,
// Retry-After), that the tenant's quota holds back, or that waits for its
// next attempt after a failure, would otherwise stay pending in the S3
// events consumer until its time comes; that consumer's MaxAckPending is
// every tenant's, so a tenant with a thousand files held back, or a broken
// function, would stop everybody's files. Instead the event waits as a
// JetStream message schedule in the waiting stream, on
// <WaitingSubjectPrefix>.at.<tenant>.<event id>, firing once onto
// <WaitingSubjectPrefix>.ready.<tenant>, and its delivery is acked. The
// ready subject has a consumer of its own, handled like the S3 events
// one; an event that comes back holds a place there only while it is
// being handled. It carries, in headers, its first id, the deliveries it
// had, its delivery state (attempts failed, deferrals, functions done) and
// where it first was (for its dead letter), so that to the functions, to
// MaxAttempts and in the dead-letter stream it is the same event.
// Scheduling it again under the same subject replaces the schedule, so a
// connector that dies between scheduling and acking does not make two.
//
// Schedules need NATS 2.12 or later, and a stream that discards old
// messages when full (the server refuses schedules on a DiscardNew
// stream). So that no waiting event is ever discarded, the waiting stream
// has no limit the server would enforce (see waiting.go): the connector
// bounds it itself (WaitingMaxEvents, StreamMaxBytes) and, when it is
// full or a schedule cannot be stored, leaves the event unacked in the
// stream it came from, delayed, with an error-level log and
// mysimbdp_connector_waiting_refused_total counting it.
//
// The sweep (sweep.go) is the backstop for an event MinIO never
// published: it lists each subscribed bucket's incoming/ folder and
// announces again, once, an object older than SweepAge that has no event
// pending in this connector.
package s3event

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mysimbdp/mysimbdp/infra/connector/control"
	"github.com/mysimbdp/mysimbdp/infra/connector/core"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// topicPrefix starts the topic of a bucket's events: s3:<bucket>.
const topicPrefix = "s3:"

// TopicOwner returns the tenant owning an S3 topic: s3:<bucket> and
// s3:<bucket>/<prefix> belong to tenant <bucket>. A prefixed topic with
// no bucket is owned by "(none)", so that it matches no tenant label and
// the function is reported, never routed.
func TopicOwner(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, topicPrefix)
	if !ok || rest == "" {
		return "", false
	}
	b, _, _ := strings.Cut(rest, "/")
	if b == "" {
		b = "(none)"
	}
	return b, true
}

// Config is the flow's part of the connector's configuration, defaults
// filled in (see connector.Config for each field).
type Config struct {
	Stream, Subject, Durable            string
	WaitingStream, WaitingSubjectPrefix string
	IncomingPrefix                      string
	EventsMaxAge                        time.Duration
	StreamMaxBytes                      int64
	// WaitingMaxEvents bounds the events parked in the waiting stream
	// (StreamMaxBytes bounds their bytes); past it, events wait in the
	// stream they came from.
	WaitingMaxEvents             int64
	Replicas                     int
	MaxConcurrent, MaxAckPending int
	FetchWait                    time.Duration
	// RefreshInterval is how long an event waits when the function list
	// was never read.
	RefreshInterval time.Duration
	// S3, SweepInterval, SweepAge and SweepBucket are the sweep's (see
	// sweep.go): S3 lists the buckets with the connector's credentials,
	// nil for no sweep.
	S3                      *minio.Client
	SweepInterval, SweepAge time.Duration
	SweepBucket             string
	// Ensure, unless nil, creates the connector's streams before each
	// consumer setup.
	Ensure func(context.Context, jetstream.JetStream) error
}

// Deps are the parts of the core the flow uses.
type Deps struct {
	Policy    core.Policy
	Invoker   *core.Invoker
	Directory *core.Directory
	Board     *control.Board
	Metrics   *core.Metrics
	Registry  prometheus.Registerer
	Log       *slog.Logger
}

// Flow delivers S3 events. Create it with New, run it with Run.
type Flow struct {
	cfg     Config
	pol     core.Policy
	inv     *core.Invoker
	dir     *core.Directory
	board   *control.Board
	cm      *core.Metrics
	m       *metrics
	log     *slog.Logger
	tracker *core.Tracker
	// inflight bounds the events each function is handed at once.
	inflight *inflight
	// set by Run
	js  jetstream.JetStream
	dls *core.DeadLetters
	// handlers counts the goroutines handling events.
	handlers sync.WaitGroup
	// wst is what the flow knows of the waiting stream (waiting.go).
	wst waiting
	// pending is the objects whose events the flow holds (sweep.go).
	pending pending
}

// New returns the flow; it connects to nothing until Run.
func New(cfg Config, d Deps) *Flow {
	return &Flow{
		cfg: cfg, pol: d.Policy, inv: d.Invoker, dir: d.Directory, board: d.Board,
		cm: d.Metrics, m: newMetrics(d.Registry), log: d.Log,
		// Twice MaxAckPending: states of messages settled by another
		// replica or expired are evicted before any live one.
		tracker:  core.NewTracker(2 * cfg.MaxAckPending),
		inflight: newInflight(),
	}
}

// StreamConfigs are the streams the flow reads: the S3 events, kept
// until delivered, and the one deferred events wait in.
func (f *Flow) StreamConfigs() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{{
		Name:        f.cfg.Stream,
		Description: "MinIO bucket notifications, kept until the connector delivered them",
		Subjects:    []string{f.cfg.Subject},
		Storage:     jetstream.FileStorage,
		// A full stream refuses new events (MinIO keeps them in its queue
		// folder and retries) rather than dropping old undelivered ones.
		Discard:  jetstream.DiscardNew,
		MaxAge:   f.cfg.EventsMaxAge,
		MaxBytes: f.cfg.StreamMaxBytes,
		Replicas: f.cfg.Replicas,
	}, f.waitingStreamConfig()}
}

// consumerConfig is the durable pull consumer on the S3 events stream;
// connector replicas sharing it share the work.
func (f *Flow) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       f.cfg.Durable,
		Description:   "mysimbdp connector: S3 events to tenants' batch functions",
		FilterSubject: f.cfg.Subject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       f.pol.AckWait,
		// The connector counts attempts itself (deferrals do not count),
		// so the server must never drop a message on its own.
		MaxDeliver:    -1,
		MaxAckPending: f.cfg.MaxAckPending,
	}
}

// readyConsumerConfig is the durable pull consumer of the events back
// from waiting, shared by connector replicas like the S3 events one.
func (f *Flow) readyConsumerConfig() jetstream.ConsumerConfig {
	cc := f.consumerConfig()
	cc.Durable = f.cfg.Durable + "-ready"
	cc.Description = "mysimbdp connector: deferred S3 events whose time has come"
	cc.FilterSubject = f.cfg.WaitingSubjectPrefix + ".ready.>"
	return cc
}

// Run delivers events until ctx is done, then returns once every event
// it was handling is settled. Handling runs on work, which the connector
// cancels only when its shutdown timeout has passed; dead letters go
// through dls.
func (f *Flow) Run(ctx, work context.Context, js jetstream.JetStream, dls *core.DeadLetters) {
	f.js, f.dls = js, dls
	// Events back from waiting have their own consumer and their own
	// bound, so that neither loop waits on the other's pull.
	var loops sync.WaitGroup
	loops.Go(func() { f.sweepLoop(ctx) })
	loops.Go(func() {
		f.consumeLoop(ctx, work, f.cfg.WaitingStream, f.readyConsumerConfig(), make(chan struct{}, f.cfg.MaxConcurrent))
	})
	f.consumeLoop(ctx, work, f.cfg.Stream, f.consumerConfig(), make(chan struct{}, f.cfg.MaxConcurrent))
	loops.Wait()
	f.handlers.Wait()
}

// Headers an event that waited carries (besides
// contract.DeadLetterHeaderSubject and DeadLetterHeaderStream: where it
// was first stored).
const (
	hdrEventID    = "Mysimbdp-Event-Id"
	hdrDeliveries = "Mysimbdp-Deliveries"
	hdrState      = "Mysimbdp-State"
)

// waitState is core.DeliveryState as an event that waits carries it.
type waitState struct {
	Failures         int       `json:"failures,omitempty"`
	Deferrals        int       `json:"deferrals,omitempty"`
	UnavailableSince time.Time `json:"unavailable_since,omitzero"`
	Done             []string  `json:"done,omitempty"`
}

// metrics are the flow's own series.
type metrics struct {
	retries     *prometheus.CounterVec
	events      *prometheus.CounterVec
	inflight    prometheus.Gauge
	swept       *prometheus.CounterVec
	sweepErrors prometheus.Counter
	sweeps      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "retries_total",
			Help: "Events scheduled for another attempt after a failure (function \"\": no subscribed function).",
		}, []string{contract.MetricLabelFunction}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "events_total",
			Help: "Events settled, by outcome (delivered, ignored, dead_lettered, waiting: deferred to the waiting stream).",
		}, []string{"outcome"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "inflight_events",
			Help: "Events being handled now.",
		}),
		swept: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "swept_total",
			Help: "Objects under incoming/ with no pending event that the sweep announced again (their notification was lost?).",
		}, []string{"tenant"}),
		sweeps: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "sweeps_total",
			Help: "Sweep passes over the subscribed buckets' incoming/ folders.",
		}),
		sweepErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "sweep_errors_total",
			Help: "Sweep steps that failed (listing a bucket, marking or announcing an object); the next sweep tries again.",
		}),
	}
	reg.MustRegister(m.retries, m.events, m.inflight, m.swept, m.sweepErrors, m.sweeps)
	return m
}
