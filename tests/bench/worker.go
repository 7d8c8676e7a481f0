package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/records"
)

// The hand-built baseline's stream, apart from the tenant's so that the
// connector does not take its records.
const (
	workerStream  = "BENCHWORKER"
	workerSubject = "benchworker.covid"
)

// Worker is the hand-built queue-and-workers baseline: what a data team
// would write instead of the platform, at its most favourable. Goroutines
// of this process pull batches from a JetStream stream, parse and check
// each record with the tenant's plan exactly as the stream-ingest function
// does, insert the batch with one unordered InsertMany and ack it. No HTTP
// hop, no separate function process, no retries, dead letters, pausing,
// quotas or reports.
type Worker struct {
	Records, BatchSize, Workers int
	// Elapsed runs from the first publish to the last record inserted and
	// acked.
	Elapsed time.Duration
	CPU     CPU
}

// Rate is records/s.
func (w Worker) Rate() float64 { return streamRate(float64(w.Records), w.Elapsed) }

// RunWorker publishes n records at once, as RunE2E does, to a stream of its
// own (deleted afterwards) while workers goroutines consume them into a
// fresh collection of the tenant's database.
func (r *StreamRig) RunWorker(ctx context.Context, n, batchSize, workers int) (Worker, error) {
	res := Worker{Records: n, BatchSize: batchSize, Workers: workers}
	cons, drop, err := r.scratchStream(ctx, workerStream, workerSubject)
	if err != nil {
		return res, err
	}
	defer drop()
	coll, err := r.freshCollection(ctx, "_worker")
	if err != nil {
		return res, err
	}
	defer func() { _ = coll.Drop(context.WithoutCancel(ctx)) }()
	warm, err := r.streamDocs(0, streamWarmup)
	if err != nil {
		return res, err
	}
	if _, err := coll.InsertMany(ctx, warm, options.InsertMany().SetOrdered(false)); err != nil {
		return res, fmt.Errorf("warm %s: %w", coll.Name(), err)
	}

	var stored atomic.Int64
	// store is one batch's work: what the function does with it.
	store := func(msgs []jetstream.Msg) error {
		docs := make([]any, 0, len(msgs))
		for i, m := range msgs {
			rec := r.plan.Message(i+1, m.Data())
			if rec.Err != nil {
				return fmt.Errorf("record %s rejected: %w", m.Headers().Get(jetstream.MsgIDHeader), rec.Err)
			}
			raw, err := bson.Marshal(append(bson.D{{Key: "_id", Value: records.KeyID(r.Profile.Tenant, rec.Key...)}}, rec.Doc...))
			if err != nil {
				return fmt.Errorf("encode: %w", err)
			}
			docs = append(docs, bson.Raw(raw))
		}
		if _, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
			return fmt.Errorf("InsertMany of %d into %s: %w", len(docs), coll.Name(), err)
		}
		for _, m := range msgs {
			if err := m.Ack(); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
		}
		stored.Add(int64(len(msgs)))
		return nil
	}

	cpu := markCPU()
	start := time.Now()
	pubErr := make(chan error, 1)
	go func() { pubErr <- r.publishAll(ctx, workerSubject, "worker-", streamWarmup, streamWarmup+n) }()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for k := range workers {
		wg.Go(func() {
			last, progressed := int64(-1), time.Now()
			for wctx.Err() == nil && stored.Load() < int64(n) {
				b, err := cons.Fetch(batchSize, jetstream.FetchMaxWait(streamBatchWindow))
				if err != nil {
					errs[k] = fmt.Errorf("fetch from %s: %w", workerStream, err)
					break
				}
				msgs, err := drainBatch(b)
				if err == nil && len(msgs) > 0 {
					err = store(msgs)
				}
				if err != nil {
					errs[k] = err
					break
				}
				if now := stored.Load(); now != last {
					last, progressed = now, time.Now()
				} else if time.Since(progressed) > streamStall {
					errs[k] = fmt.Errorf("hand-built worker: stored %d of %d, then nothing for %s", now, n, streamStall)
					break
				}
			}
			if errs[k] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	if err := r.nc.FlushTimeout(10 * time.Second); err != nil {
		return res, fmt.Errorf("flush acks: %w", err)
	}
	res.Elapsed, res.CPU = time.Since(start), cpu.since()
	if err := errors.Join(append(errs, <-pubErr)...); err != nil {
		return res, err
	}
	got, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		return res, fmt.Errorf("count %s: %w", coll.Name(), err)
	}
	if want := int64(streamWarmup + n); got != want {
		return res, fmt.Errorf("hand-built worker: %s holds %d documents, want %d", coll.Name(), got, want)
	}
	return res, nil
}

// drainBatch collects a pull's records; running out of time is not an
// error.
func drainBatch(b jetstream.MessageBatch) ([]jetstream.Msg, error) {
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	if err := b.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		return out, err
	}
	return out, nil
}
