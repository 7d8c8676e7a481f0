package streamingest

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// DefaultGroupDocs bounds the documents of one coalesced insert.
const DefaultGroupDocs = 1000

// groupWriteTimeout bounds one coalesced insert. Its context is not any
// one batch's: a batch whose invocation is cut short must not fail the
// others written with it (it is simply redelivered, and its documents
// found already stored).
const groupWriteTimeout = 60 * time.Second

// inserter coalesces the inserts of batches handled at the same time by one
// replica (max-inflight > 1) into one unordered InsertMany, in the manner
// of a database's group commit: the batch at the head of the queue writes
// every batch queued behind it, up to maxDocs documents, while new ones
// queue for the next write. Each command costs the store a round trip and,
// on FerretDB's SQLite, a transaction and its sync, so under load fewer,
// larger commands store more records per second; with a single batch in
// flight nothing waits and nothing changes.
//
// One write is out at a time per replica: a store that wants more
// concurrency gets it from more replicas.
type inserter struct {
	maxDocs int
	// insert writes docs with one unordered InsertMany.
	insert func(ctx context.Context, docs []any) error

	mu    sync.Mutex
	cond  *sync.Cond
	queue []*insertCall
}

// insertCall is one batch's documents and, once written, its outcome.
type insertCall struct {
	docs []any
	done bool
	// writeErrs are the documents refused one by one, indexed into docs;
	// err is set instead when the write failed as a whole.
	writeErrs []mongo.BulkWriteError
	err       error
}

func newInserter(coll *mongo.Collection, maxDocs int) *inserter {
	unordered := options.InsertMany().SetOrdered(false)
	return newInserterFunc(maxDocs, func(ctx context.Context, docs []any) error {
		_, err := coll.InsertMany(ctx, docs, unordered)
		return err
	})
}

func newInserterFunc(maxDocs int, insert func(ctx context.Context, docs []any) error) *inserter {
	if maxDocs <= 0 {
		maxDocs = DefaultGroupDocs
	}
	g := &inserter{maxDocs: maxDocs, insert: insert}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// write stores docs, possibly in one command with other batches', and
// returns what InsertMany would have for docs alone: the documents refused
// one by one (indexes into docs), or an error when the write failed as a
// whole or so that it is unknown what was stored.
func (g *inserter) write(ctx context.Context, docs []any) ([]mongo.BulkWriteError, error) {
	c := &insertCall{docs: docs}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	for !c.done && g.queue[0] != c {
		g.cond.Wait()
	}
	if c.done { // written by the batch ahead of it
		g.mu.Unlock()
		return c.writeErrs, c.err
	}
	// At the head: write it with those queued behind it.
	group, n := 1, len(docs)
	for group < len(g.queue) && n+len(g.queue[group].docs) <= g.maxDocs {
		n += len(g.queue[group].docs)
		group++
	}
	calls := g.queue[:group]
	g.mu.Unlock()

	g.run(ctx, calls, n)

	g.mu.Lock()
	for _, c := range calls {
		c.done = true
	}
	g.queue = g.queue[group:]
	g.cond.Broadcast()
	g.mu.Unlock()
	return c.writeErrs, c.err
}

// run writes calls' documents, n in all, with one InsertMany and gives
// each call its share of the outcome.
func (g *inserter) run(ctx context.Context, calls []*insertCall, n int) {
	all := calls[0].docs
	if len(calls) > 1 {
		all = make([]any, 0, n)
		for _, c := range calls {
			all = append(all, c.docs...)
		}
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupWriteTimeout)
	defer cancel()
	err := g.insert(wctx, all)
	if err == nil {
		return
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		for _, c := range calls {
			c.err = err
		}
		return
	}
	for _, we := range bwe.WriteErrors {
		if we.Index < 0 || we.Index >= n {
			for _, c := range calls {
				c.err = err // cannot tell whose: nobody's write is known
			}
			return
		}
	}
	// Write errors come in index order for an unordered write on MongoDB,
	// but nothing promises it: place each by its index.
	start := 0
	for _, c := range calls {
		end := start + len(c.docs)
		for _, we := range bwe.WriteErrors {
			if we.Index >= start && we.Index < end {
				we.Index -= start
				c.writeErrs = append(c.writeErrs, we)
			}
		}
		start = end
	}
}
