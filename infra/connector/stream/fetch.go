package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/connector/core"
)

// consume pulls batches while the tenant is not paused and the function
// has a free slot, until ctx is done, the consumer is gone or the
// function's topics changed.
func (w *worker) consume(ctx, work context.Context, cons jetstream.Consumer, applied *streamSpec, batches *sync.WaitGroup) {
	fails := 0
	for ctx.Err() == nil {
		s := w.spec.Load()
		if !s.sameConsumer(applied) {
			return
		}
		paused, changed := w.m.board.State(s.tenant)
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
			w.m.m.inflight.WithLabelValues(s.fn.ID()).Inc()
			batches.Go(func() {
				var once sync.Once
				release := func() {
					once.Do(func() {
						w.m.m.inflight.WithLabelValues(s.fn.ID()).Dec()
						w.lim.release()
					})
				}
				defer release()
				w.deliverBatch(work, s, msgs, release)
			})
		}
		if err != nil && ctx.Err() == nil {
			fails++
			if core.PullFailed(ctx, w.log, fmt.Errorf("consumer %s on %s: %w", s.durable, s.stream, err), fails) {
				return
			}
			continue
		}
		fails = 0
	}
}

// acquire waits for a free slot of the function's concurrency for msgs,
// keeping them in progress meanwhile: the function may be slow.
func (w *worker) acquire(ctx context.Context, msgs []jetstream.Msg) error {
	if w.lim.tryAcquire() {
		return nil // the usual case: no wait, nothing to keep alive
	}
	stopKA := core.KeepAlive(msgs, w.m.pol.KeepAliveEvery(), func(err error) { w.log.Debug("extend ack deadline", "err", err) })
	defer stopKA()
	return w.lim.acquire(ctx)
}

// handBack returns records that will not be delivered (the connector is
// stopping) for immediate redelivery, rather than after AckWait.
func (w *worker) handBack(msgs []jetstream.Msg) {
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
func (w *worker) fetch(ctx context.Context, cons jetstream.Consumer, s *streamSpec, changed <-chan struct{}) ([]jetstream.Msg, error) {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-changed:
			cancel()
		case <-fctx.Done():
		}
	}()

	first, err := fetchFirst(fctx, cons, w.m.cfg.FetchWait)
	if len(first) == 0 || s.batchSize == 1 {
		return first, err
	}
	room := w.m.cfg.MaxBatchBytes - msgSize(first[0])
	if room <= 0 {
		return first, nil
	}
	// The window may outlast AckWait: keep the first record alive.
	stopKA := core.KeepAlive(first[:1], w.m.pol.KeepAliveEvery(), func(err error) { w.log.Debug("extend ack deadline", "err", err) })
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
