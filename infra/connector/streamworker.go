package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"
)

// offerFunctions hands the latest function list to the stream manager and
// the scheduler. Each channel holds one list; an older one not yet taken
// is replaced, so refresh never blocks on them and they never act on a
// stale list.
func (c *Connector) offerFunctions(fns []types.FunctionStatus) {
	for _, ch := range []chan []types.FunctionStatus{c.streamFns, c.schedFns} {
		select {
		case <-ch:
		default:
		}
		select {
		case ch <- fns:
		default:
		}
	}
}

// runStreams delivers tenants' stream records to their functions until
// ctx is done: one worker (one durable pull consumer) per subscribed
// function, started, re-configured and stopped as the function list
// changes. It returns once every batch it started is settled; batches run
// on work, which Run cancels only when ShutdownTimeout has passed.
func (c *Connector) runStreams(ctx, work context.Context, js jetstream.JetStream) {
	var loops sync.WaitGroup   // the pause watcher and the workers' fetch loops
	var batches sync.WaitGroup // batches being delivered
	ready := make(chan struct{})
	var once sync.Once
	loops.Go(func() { c.watchPauses(ctx, js, func() { once.Do(func() { close(ready) }) }) })

	workers := map[string]*streamWorker{}
	defer func() {
		for _, w := range workers {
			w.cancel()
		}
		// Once the loops are gone nothing starts a batch any more, so the
		// wait below cannot miss one.
		loops.Wait()
		batches.Wait()
		c.smetrics.consumers.Set(0)
	}()

	select {
	case <-ready:
	case <-ctx.Done():
		return
	}
	warned := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case fns := <-c.streamFns:
			c.reconcileStreams(ctx, work, js, fns, workers, warned, &loops, &batches)
		}
	}
}

// reconcileStreams starts a worker for each new subscription, updates
// those whose function changed and stops those whose function is gone.
// Stopping never deletes the consumer: a redeployed function resumes
// where it stopped, with nothing lost or repeated.
func (c *Connector) reconcileStreams(ctx, work context.Context, js jetstream.JetStream, fns []types.FunctionStatus,
	workers map[string]*streamWorker, warned map[string]bool, loops, batches *sync.WaitGroup) {
	specs, problems := streamSpecs(fns, c.platformStreams())
	seen := map[string]bool{}
	warn := func(fn target, msg string) {
		k := fn.ID() + " " + msg
		seen[k] = true
		if !warned[k] {
			c.log.Warn("stream subscription: "+msg, "function", fn.ID(), "tenant", fn.Tenant)
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
		w := c.newStreamWorker(js, s, cancel)
		workers[name] = w
		w.log.Info("stream subscription started", "topics", s.topics, "batch_size", s.batchSize,
			"batch_window", s.batchWindow, "concurrency", w.lim.get())
		loops.Go(func() { w.run(wctx, work, batches) })
	}
	c.smetrics.consumers.Set(float64(len(workers)))
}

// streamWorker pulls batches for one function and hands each to its own
// goroutine, within the function's concurrency.
type streamWorker struct {
	c       *Connector
	js      jetstream.JetStream
	spec    atomic.Pointer[streamSpec]
	lim     *limiter
	tracker *tracker
	cancel  context.CancelFunc
	log     *slog.Logger
	// notBefore (Unix nanoseconds) holds pulls back after the function
	// deferred a batch (429/503): new records would be deferred too.
	notBefore atomic.Int64
}

func (c *Connector) newStreamWorker(js jetstream.JetStream, s *streamSpec, cancel context.CancelFunc) *streamWorker {
	w := &streamWorker{
		c:      c,
		js:     js,
		lim:    newLimiter(s.concurrency(c.cfg.StreamMaxConcurrent, c.cfg.StreamMaxAckPending)),
		cancel: cancel,
		log:    c.log.With("function", s.fn.ID(), "tenant", s.tenant, "stream", s.stream, "consumer", s.durable),
		// Twice the records JetStream may have out: states of records
		// settled elsewhere are evicted before any live one.
		tracker: newTracker(2 * c.cfg.StreamMaxAckPending),
	}
	w.spec.Store(s)
	return w
}

// update installs the function's latest subscription; the fetch loop
// picks it up at its next pull.
func (w *streamWorker) update(s *streamSpec) {
	old := w.spec.Swap(s)
	n := s.concurrency(w.c.cfg.StreamMaxConcurrent, w.c.cfg.StreamMaxAckPending)
	if w.lim.get() != n || old.batchSize != s.batchSize || old.batchWindow != s.batchWindow || !old.sameConsumer(s) {
		w.log.Info("stream subscription changed", "topics", s.topics, "batch_size", s.batchSize,
			"batch_window", s.batchWindow, "concurrency", n, "replicas", s.replicas)
	}
	w.lim.setLimit(n)
}

func (w *streamWorker) consumerConfig(s *streamSpec) jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:       s.durable,
		Description:   fmt.Sprintf("mysimbdp connector: %s records to function %s", s.stream, s.fn.ID()),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.c.cfg.AckWait,
		// The connector counts attempts itself (deferrals do not count)
		// and dead-letters; the server must never drop a record on its own.
		MaxDeliver: -1,
		// Records waiting for a retry count here too, so this bounds both
		// the work out and the delivery states kept in memory.
		MaxAckPending: w.c.cfg.StreamMaxAckPending,
		Metadata:      map[string]string{"mysimbdp.function": s.fn.ID(), "mysimbdp.tenant": s.tenant},
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
func (w *streamWorker) run(ctx, work context.Context, batches *sync.WaitGroup) {
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
func (w *streamWorker) setup(ctx context.Context, s *streamSpec) (jetstream.Consumer, error) {
	for attempt := 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cons, err := w.js.CreateOrUpdateConsumer(sctx, s.stream, w.consumerConfig(s))
		cancel()
		if err == nil {
			return cons, nil
		}
		delay := backoff(attempt, 200*time.Millisecond, 30*time.Second)
		if ctx.Err() == nil {
			msg := "set up stream consumer; retrying"
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				msg = "tenant stream missing (tenant not provisioned?); retrying"
			}
			w.log.Warn(msg, "err", err, "retry_in", delay)
		}
		if !sleep(ctx, delay) {
			return nil, ctx.Err()
		}
	}
}

// consume pulls batches while the tenant is not paused and the function
// has a free slot, until ctx is done, the consumer is gone or the
// function's topics changed.
func (w *streamWorker) consume(ctx, work context.Context, cons jetstream.Consumer, applied *streamSpec, batches *sync.WaitGroup) {
	fails := 0
	for ctx.Err() == nil {
		s := w.spec.Load()
		if !s.sameConsumer(applied) {
			return
		}
		paused, changed := w.c.pauses.state(s.tenant)
		if paused {
			select {
			case <-changed:
			case <-ctx.Done():
			}
			continue
		}
		if wait := time.Until(time.Unix(0, w.notBefore.Load())); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-changed:
			case <-ctx.Done():
			}
			t.Stop()
			continue
		}
		// The next batch is pulled while the function still works on the
		// last ones and waits here for a free slot: the pull's round trips
		// and batching window overlap the function's work. So at most one
		// batch more than the function's concurrency is out.
		msgs, err := w.fetch(ctx, cons, s, changed)
		if len(msgs) > 0 {
			if aerr := w.acquire(ctx, msgs); aerr != nil {
				w.handBack(msgs)
				return
			}
			w.c.smetrics.inflight.WithLabelValues(s.fn.ID()).Inc()
			batches.Go(func() {
				var once sync.Once
				release := func() {
					once.Do(func() {
						w.c.smetrics.inflight.WithLabelValues(s.fn.ID()).Dec()
						w.lim.release()
					})
				}
				defer release()
				w.deliverBatch(work, s, msgs, release)
			})
		}
		if err != nil && ctx.Err() == nil {
			fails++
			if w.c.pullFailed(ctx, fmt.Errorf("consumer %s on %s: %w", s.durable, s.stream, err), fails) {
				return
			}
			continue
		}
		fails = 0
	}
}

// acquire waits for a free slot of the function's concurrency for msgs,
// keeping them in progress meanwhile: the function may be slow.
func (w *streamWorker) acquire(ctx context.Context, msgs []jetstream.Msg) error {
	if w.lim.tryAcquire() {
		return nil // the usual case: no wait, nothing to keep alive
	}
	stopKA := keepAliveAll(msgs, w.c.cfg.AckWait/3, func(err error) { w.log.Debug("extend ack deadline", "err", err) })
	defer stopKA()
	return w.lim.acquire(ctx)
}

// handBack returns records that will not be delivered (the connector is
// stopping) for immediate redelivery, rather than after AckWait.
func (w *streamWorker) handBack(msgs []jetstream.Msg) {
	for _, m := range msgs {
		if err := m.Nak(); err != nil {
			w.log.Debug("hand back record", "err", err)
		}
	}
}

// fetch pulls one batch in the manner of Lambda's batching window: it
// waits up to FetchWait for a first record, then up to the window for the
// batch to fill, by count and by bytes. A pause (changed closing) or ctx
// ends the pull early; records already received are returned.
func (w *streamWorker) fetch(ctx context.Context, cons jetstream.Consumer, s *streamSpec, changed <-chan struct{}) ([]jetstream.Msg, error) {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-changed:
			cancel()
		case <-fctx.Done():
		}
	}()

	first, err := fetchFirst(fctx, cons, w.c.cfg.FetchWait)
	if len(first) == 0 || s.batchSize == 1 {
		return first, err
	}
	room := w.c.cfg.StreamMaxBatchBytes - msgSize(first[0])
	if room <= 0 {
		return first, nil
	}
	// The window may outlast AckWait: keep the first record alive.
	stopKA := keepAlive(first[0], w.c.cfg.AckWait/3, func(err error) { w.log.Debug("extend ack deadline", "err", err) })
	more, err := fetchMore(cons, s.batchSize-1, room, s.batchWindow)
	stopKA()
	if err != nil {
		// The batch in hand is delivered; a lasting problem shows again
		// on the next pull, which waits for nothing yet.
		w.log.Debug("fill batch", "err", err)
	}
	return append(first, more...), nil
}

// fetchFirst waits up to wait for one record. It ends early when ctx does
// (a pause), which is why it is a pull of one: a pull cut short by its
// context drops what the server had already sent (nats.go unsubscribes),
// and that record would then wait out AckWait before redelivery.
func fetchFirst(ctx context.Context, cons jetstream.Consumer, wait time.Duration) ([]jetstream.Msg, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	b, err := cons.Fetch(1, jetstream.FetchContext(wctx))
	if err != nil {
		if wctx.Err() != nil {
			return nil, nil
		}
		return nil, err
	}
	return drain(b)
}

// fetchMore fills a batch: up to n records and about maxBytes, within the
// batching window. The window is the pull's server-side expiry rather than
// a context, so that every record the server sends is kept; it is short, so
// a pause arriving meanwhile waits for it.
func fetchMore(cons jetstream.Consumer, n, maxBytes int, window time.Duration) ([]jetstream.Msg, error) {
	opts := []jetstream.FetchOpt{jetstream.FetchMaxWait(window)}
	if maxBytes > 0 {
		opts = append(opts, jetstream.FetchMaxBytes(maxBytes))
	}
	b, err := cons.Fetch(n, opts...)
	if err != nil {
		return nil, err
	}
	return drain(b)
}

// drain collects a pull's records; running out of time is not an error.
func drain(b jetstream.MessageBatch) ([]jetstream.Msg, error) {
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	err := b.Error()
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, nats.ErrTimeout) {
		err = nil
	}
	return out, err
}

// msgSize approximates what a message counts for against a pull's byte
// limit: subject, headers and payload.
func msgSize(m jetstream.Msg) int {
	n := len(m.Subject()) + len(m.Data())
	for k, vs := range m.Headers() {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// limiter is a counting semaphore whose bound can change while it is held:
// a function's concurrency follows its replicas.
type limiter struct {
	mu    sync.Mutex
	limit int
	used  int
	wake  chan struct{} // closed and replaced when a slot may have freed
}

func newLimiter(n int) *limiter { return &limiter{limit: n, wake: make(chan struct{})} }

func (l *limiter) acquire(ctx context.Context) error {
	for {
		l.mu.Lock()
		if l.used < l.limit {
			l.used++
			l.mu.Unlock()
			return nil
		}
		// Read under the same lock as the check, so no release between
		// the two can go unnoticed.
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tryAcquire takes a slot if one is free, without waiting.
func (l *limiter) tryAcquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used < l.limit {
		l.used++
		return true
	}
	return false
}

func (l *limiter) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.used--
	l.signal()
}

func (l *limiter) setLimit(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n != l.limit {
		l.limit = n
		l.signal()
	}
}

func (l *limiter) get() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}

func (l *limiter) signal() {
	close(l.wake)
	l.wake = make(chan struct{})
}

// keepAliveAll is keepAlive for a batch: one ticker for all its records.
// An error names how many records it hit and the first one.
func keepAliveAll(msgs []jetstream.Msg, interval time.Duration, onErr func(error)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				var errs []string
				for _, m := range msgs {
					if err := m.InProgress(); err != nil {
						errs = append(errs, err.Error())
					}
				}
				if len(errs) > 0 {
					onErr(fmt.Errorf("%d of %d records: %s", len(errs), len(msgs), strings.Join(errs[:1], "")))
				}
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
