// Package stream is the connector's stream flow. Tenant t publishes
// records to ingest.<t>.<dataset>, kept by the stream ingest-<t> (created
// by tenant provisioning). A function subscribes with the annotation
// topic=ingest.<t>.> (or a narrower subject under it) and the label
// com.mysimbdp.tenant=<t>; only t's functions may subscribe to t's
// subjects. Platform functions (no tenant label) may subscribe to a
// platform stream instead, as the stats function to the reports.
//
// For each subscribed function the flow keeps one durable pull consumer
// (ConsumerName) and, like a Lambda event source mapping, pulls batches
// (spec.go: size, window, in-flight) and POSTs each as a contract.Batch;
// the function answers a contract.Response naming the records that
// failed. A batch's life, file by file:
//
//	fetch.go  pulled for one function while its tenant is not held back
//	          (control.Board) and it has a free slot
//	batch.go  sent to the function (core.Invoker, kept alive meanwhile);
//	          its answer settles each record: acked, retried with
//	          back-off, deferred, dead-lettered after MaxAttempts
//	core      settled (core.SettleBatch)
//
// manager.go follows the function list: it starts, re-configures and
// stops one worker per subscribed function, and never deletes a consumer,
// so a restarted connector or a redeployed function resumes. Records are
// delivered at least once and, with concurrency above one, not in order.
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mysimbdp/mysimbdp/infra/connector/control"
	"github.com/mysimbdp/mysimbdp/infra/connector/core"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Config is the flow's part of the connector's configuration, defaults
// filled in (see connector.Config: StreamMaxAckPending,
// StreamMaxBatchBytes, StreamMaxConcurrent, FetchWait).
type Config struct {
	MaxAckPending, MaxBatchBytes, MaxConcurrent int
	FetchWait                                   time.Duration
	// ReportsStream and ReportsSubject are the platform stream that
	// functions without a tenant label may subscribe to.
	ReportsStream, ReportsSubject string
}

// Deps are the parts of the core the flow uses; Functions carries each
// new function list (core.Directory.Subscribe).
type Deps struct {
	Policy    core.Policy
	Invoker   *core.Invoker
	Board     *control.Board
	Metrics   *core.Metrics
	Registry  prometheus.Registerer
	Log       *slog.Logger
	Functions <-chan []types.FunctionStatus
}

// Manager runs the stream flow. Create it with New, run it with Run.
type Manager struct {
	cfg      Config
	pol      core.Policy
	inv      *core.Invoker
	board    *control.Board
	cm       *core.Metrics
	m        *metrics
	log      *slog.Logger
	fns      <-chan []types.FunctionStatus
	platform []platformStream
	// set by Run
	js  jetstream.JetStream
	dls *core.DeadLetters
}

// New returns the flow; it connects to nothing until Run.
func New(cfg Config, d Deps) *Manager {
	return &Manager{cfg: cfg, pol: d.Policy, inv: d.Invoker, board: d.Board, cm: d.Metrics,
		m: newMetrics(d.Registry), log: d.Log, fns: d.Functions,
		platform: []platformStream{{stream: cfg.ReportsStream, subject: cfg.ReportsSubject}}}
}

// Run delivers tenants' stream records to their functions until ctx is
// done: one worker (one durable pull consumer) per subscribed function,
// started, re-configured and stopped as the function list changes. It
// starts once the control board has the pause flags and quota decisions,
// so that no tenant is pulled for before they are known, and returns once
// every batch it started is settled; batches run on work, which the
// connector cancels only when its shutdown timeout has passed.
func (m *Manager) Run(ctx, work context.Context, js jetstream.JetStream, dls *core.DeadLetters) {
	m.js, m.dls = js, dls
	var loops sync.WaitGroup   // the workers' fetch loops
	var batches sync.WaitGroup // batches being delivered
	workers := map[string]*worker{}
	defer func() {
		for _, w := range workers {
			w.cancel()
		}
		// Once the loops are gone nothing starts a batch any more, so the
		// wait below cannot miss one.
		loops.Wait()
		batches.Wait()
		m.m.consumers.Set(0)
	}()

	select {
	case <-m.board.Ready():
	case <-ctx.Done():
		return
	}
	warned := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case fns := <-m.fns:
			m.reconcile(ctx, work, fns, workers, warned, &loops, &batches)
		}
	}
}

// reconcile starts a worker for each new subscription, updates
// those whose function changed and stops those whose function is gone.
// Stopping never deletes the consumer: a redeployed function resumes
// where it stopped, with nothing lost or repeated.
func (m *Manager) reconcile(ctx, work context.Context, fns []types.FunctionStatus,
	workers map[string]*worker, warned map[string]bool, loops, batches *sync.WaitGroup) {
	specs, problems := streamSpecs(fns, m.platform)
	seen := map[string]bool{}
	warn := func(fn core.Target, msg string) {
		k := fn.ID() + " " + msg
		seen[k] = true
		if !warned[k] {
			m.log.Warn("stream subscription: "+msg, "function", fn.ID(), "tenant", fn.Tenant)
		}
	}
	for _, p := range problems {
		warn(p.fn, p.err.Error())
	}
	for _, s := range specs {
		for _, p := range s.problems {
			warn(s.fn, p)
		}
	}
	clear(warned)
	for k := range seen {
		warned[k] = true
	}

	for name, w := range workers {
		if _, ok := specs[name]; !ok {
			w.log.Info("function no longer subscribed; its consumer is kept for a redeploy")
			w.cancel()
			delete(workers, name)
		}
	}
	for name, s := range specs {
		if w, ok := workers[name]; ok {
			w.update(s)
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		w := m.newWorker(s, cancel)
		workers[name] = w
		w.log.Info("stream subscription started", "topics", s.topics, "batch_size", s.batchSize,
			"batch_window", s.batchWindow, "concurrency", w.lim.get())
		loops.Go(func() { w.run(wctx, work, batches) })
	}
	m.m.consumers.Set(float64(len(workers)))
}

// worker pulls batches for one function and hands each to its own
// goroutine, within the function's concurrency.
type worker struct {
	m       *Manager
	spec    atomic.Pointer[streamSpec]
	lim     *limiter
	tracker *core.Tracker
	cancel  context.CancelFunc
	log     *slog.Logger
	// notBefore (Unix nanoseconds) holds pulls back after the function
	// deferred a batch (429/503): new records would be deferred too.
	notBefore atomic.Int64
}

func (m *Manager) newWorker(s *streamSpec, cancel context.CancelFunc) *worker {
	w := &worker{
		m:      m,
		lim:    newLimiter(s.concurrency(m.cfg.MaxConcurrent, m.cfg.MaxAckPending)),
		cancel: cancel,
		log:    m.log.With("function", s.fn.ID(), "tenant", s.tenant, "stream", s.stream, "consumer", s.durable),
		// Twice the records JetStream may have out: states of records
		// settled elsewhere are evicted before any live one.
		tracker: core.NewTracker(2 * m.cfg.MaxAckPending),
	}
	w.spec.Store(s)
	return w
}

// update installs the function's latest subscription; the fetch loop
// picks it up at its next pull.
func (w *worker) update(s *streamSpec) {
	old := w.spec.Swap(s)
	n := s.concurrency(w.m.cfg.MaxConcurrent, w.m.cfg.MaxAckPending)
	if w.lim.get() != n || old.batchSize != s.batchSize || old.batchWindow != s.batchWindow || !old.sameConsumer(s) {
		w.log.Info("stream subscription changed", "topics", s.topics, "batch_size", s.batchSize,
			"batch_window", s.batchWindow, "concurrency", n, "replicas", s.replicas)
	}
	w.lim.setLimit(n)
}

func (w *worker) consumerConfig(s *streamSpec) jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:       s.durable,
		Description:   fmt.Sprintf("mysimbdp connector: %s records to function %s", s.stream, s.fn.ID()),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.m.pol.AckWait,
		// The connector counts attempts itself (deferrals do not count)
		// and dead-letters; the server must never drop a record on its own.
		MaxDeliver: -1,
		// Records waiting for a retry count here too, so this bounds both
		// the work out and the delivery states kept in memory.
		MaxAckPending: w.m.cfg.MaxAckPending,
		Metadata:      map[string]string{contract.ConsumerFunctionKey: s.fn.ID(), contract.ConsumerTenantKey: s.tenant},
	}
	if len(s.topics) == 1 {
		cc.FilterSubject = s.topics[0]
	} else {
		cc.FilterSubjects = s.topics
	}
	return cc
}

// run sets the consumer up and consumes until ctx is done, setting it up
// again when it disappears or the function's topics change.
func (w *worker) run(ctx, work context.Context, batches *sync.WaitGroup) {
	for ctx.Err() == nil {
		s := w.spec.Load()
		cons, err := w.setup(ctx, s)
		if err != nil {
			return // ctx is done
		}
		w.consume(ctx, work, cons, s, batches)
	}
}

// setup creates or updates the durable consumer, retrying until it works:
// the tenant's stream may not be provisioned yet.
func (w *worker) setup(ctx context.Context, s *streamSpec) (jetstream.Consumer, error) {
	for attempt := 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cons, err := w.m.js.CreateOrUpdateConsumer(sctx, s.stream, w.consumerConfig(s))
		cancel()
		if err == nil {
			return cons, nil
		}
		delay := core.Backoff(attempt, 200*time.Millisecond, 30*time.Second)
		if ctx.Err() == nil {
			msg := "set up stream consumer; retrying"
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				msg = "tenant stream missing (tenant not provisioned?); retrying"
			}
			w.log.Warn(msg, "err", err, "retry_in", delay)
		}
		if !core.Sleep(ctx, delay) {
			return nil, ctx.Err()
		}
	}
}
