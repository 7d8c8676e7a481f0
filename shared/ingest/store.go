package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/replace"
)

// finished returns the stored report of this object version if its
// ingestion is over (done or rejected).
func (b *Batch) finished(ctx context.Context, rep contract.BatchReport) (contract.BatchReport, bool, error) {
	var rec record
	err := b.retrying(ctx, "look up the ingestion record", func() error {
		return b.ingestions.FindOne(ctx, bson.D{{Key: "_id", Value: ingestionID(rep.Tenant, rep.Bucket, rep.Key, rep.ETag)}}).Decode(&rec)
	})
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return contract.BatchReport{}, false, nil
	case err != nil:
		return contract.BatchReport{}, false, fmt.Errorf("look up the ingestion record: %w", err)
	}
	if !rec.Status.Finished() {
		return contract.BatchReport{}, false, nil
	}
	return rec.BatchReport, true, nil
}

// store upserts the ingestion record of rep.
func (b *Batch) store(ctx context.Context, rep contract.BatchReport, slot bool) error {
	b.indexOnce.Do(func() { b.ensureIndex(ctx) })
	id := ingestionID(rep.Tenant, rep.Bucket, rep.Key, rep.ETag)
	err := b.retrying(ctx, "store the ingestion record", func() error {
		_, err := b.ingestions.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}},
			record{ID: id, BatchReport: rep, Slot: slot}, options.Replace().SetUpsert(true))
		return err
	})
	if err != nil {
		return fmt.Errorf("store the ingestion record (%s): %w", rep.Status, err)
	}
	return nil
}

// ensureIndex makes the window count an index scan. Best effort: without
// it the count is slower, not wrong.
func (b *Batch) ensureIndex(ctx context.Context) {
	_, err := b.ingestions.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "tenant", Value: 1}, {Key: "slot", Value: 1}, {Key: "started_at", Value: 1}},
	})
	if err != nil {
		b.log.WarnContext(ctx, "could not index the ingestions collection", "err", err)
	}
}

// checkWindow applies batch.max_files_per_window to rep: in each window of
// batch.window (counted from the Unix epoch, so every replica agrees) at
// most that many files are read. A file claims one of the window's
// numbered slots, whose unique ids make the claim atomic: invocations
// racing for the last slot cannot both get it, on MongoDB as on FerretDB.
// A retry of a file that holds a slot keeps it (a failed attempt gives
// its slot back, see fail; one cut short by a crash keeps it until its
// retry). Without a free slot it
// stores and returns a deferred report whose RetryAfter is when the next
// window opens.
func (b *Batch) checkWindow(ctx context.Context, rep contract.BatchReport) (contract.BatchReport, bool, error) {
	limit, window := b.prof.Batch.MaxFilesPerWindow, time.Duration(b.prof.Batch.Window)
	if limit <= 0 || window <= 0 {
		return contract.BatchReport{}, false, nil
	}
	now := b.clock()
	start := now.Truncate(window)
	file := ingestionID(rep.Tenant, rep.Bucket, rep.Key, rep.ETag)
	for k := range limit {
		id := fmt.Sprintf("%s|%d|%d", rep.Tenant, start.UnixMilli(), k)
		err := b.retrying(ctx, "claim a files-per-window slot", func() error {
			_, err := b.slots.InsertOne(ctx, slot{ID: id, Tenant: rep.Tenant, File: file, At: now})
			return err
		})
		if err == nil {
			if k == 0 {
				// A new window: the slots of old ones are of no use.
				_, _ = b.slots.DeleteMany(ctx, bson.D{{Key: "tenant", Value: rep.Tenant}, {Key: "at", Value: bson.D{{Key: "$lt", Value: start}}}})
			}
			return contract.BatchReport{}, false, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return contract.BatchReport{}, false, fmt.Errorf("claim a files-per-window slot: %w", err)
		}
		var held slot
		if err := b.slots.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&held); err == nil && held.File == file {
			return contract.BatchReport{}, false, nil // a retry keeps its slot
		}
	}
	retry := start.Add(window).Sub(now)
	rep.Status = contract.StatusDeferred
	rep.Error = fmt.Sprintf("tenant %s has had its %d files of the %s window from %s (batch.max_files_per_window); retry in %s",
		rep.Tenant, limit, window, start.UTC().Format(time.TimeOnly), retry.Round(time.Millisecond))
	setRetryAfter(&rep, retry)
	end(&rep, now)
	if err := b.store(ctx, rep, false); err != nil {
		return contract.BatchReport{}, false, err
	}
	b.reports.publish(ctx, rep)
	return rep, true, nil
}

// releaseSlot gives back the files-per-window slots rep's file holds.
func (b *Batch) releaseSlot(ctx context.Context, rep contract.BatchReport) error {
	file := ingestionID(rep.Tenant, rep.Bucket, rep.Key, rep.ETag)
	err := b.retrying(ctx, "give back a files-per-window slot", func() error {
		_, err := b.slots.DeleteMany(ctx, bson.D{{Key: "tenant", Value: rep.Tenant}, {Key: "file", Value: file}})
		return err
	})
	if err != nil {
		return fmt.Errorf("give back the files-per-window slot: %w", err)
	}
	return nil
}

// slot is one of a window's files-per-window slots, held by a file.
type slot struct {
	ID     string    `bson:"_id"` // <tenant>|<window start, Unix ms>|<k>
	Tenant string    `bson:"tenant"`
	File   string    `bson:"file"` // the ingestion id
	At     time.Time `bson:"at"`
}

// refusal is a document the store would not take (not a duplicate of
// its _id: e.g. a unique index of the tenant's), by its index in the
// slice given to write.
type refusal struct {
	index  int
	reason string
}

// write stores a batch with an unordered InsertMany. Duplicate ids are not
// errors: the document is already there. When byKey is set (documents
// identified by business key) each duplicate is compared with the stored
// version and, if it differs, replaced (package replace), so the last
// version of a row wins and a re-uploaded row that did not change costs
// only a read. Documents the store refuses one by one come back as
// refusals; an error is transient and the whole file is tried again.
// docs must hold each _id once.
func (b *Batch) write(ctx context.Context, coll *mongo.Collection, docs []any, byKey bool) (replace.Result, []refusal, error) {
	// Tried again as a whole on transient trouble: documents the failed
	// call did store are duplicates the second time, which is harmless.
	var res replace.Result
	var refused []refusal
	err := b.retrying(ctx, "write to "+coll.Name(), func() (err error) {
		res, refused, err = b.insert(ctx, coll, docs, byKey)
		return err
	})
	return res, refused, err
}

// insert is one try of write.
func (b *Batch) insert(ctx context.Context, coll *mongo.Collection, docs []any, byKey bool) (replace.Result, []refusal, error) {
	_, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return replace.Result{}, nil, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return replace.Result{}, nil, fmt.Errorf("insert %d documents into %s: %w", len(docs), coll.Name(), err)
	}
	var refused []refusal
	var dups []int
	for _, we := range bwe.WriteErrors {
		switch {
		case we.Index < 0 || we.Index >= len(docs):
			return replace.Result{}, nil, fmt.Errorf("insert %d documents into %s: error for unknown document %d: %w", len(docs), coll.Name(), we.Index, err)
		case replace.IsDuplicateKey(we.WriteError):
			if byKey {
				dups = append(dups, we.Index)
			}
		case transient(we.WriteError): // the store was busy: try the batch again
			return replace.Result{}, nil, fmt.Errorf("insert %d documents into %s: document %d: %w", len(docs), coll.Name(), we.Index, err)
		default:
			refused = append(refused, refusal{we.Index, fmt.Sprintf("%s (code %d)", we.Message, we.Code)})
		}
	}
	if len(dups) == 0 {
		return replace.Result{}, refused, nil
	}
	stored := make([]any, len(dups))
	for i, idx := range dups {
		stored[i] = docs[idx]
	}
	res, notTaken, err := b.replacing.Replace(ctx, coll, stored)
	if err != nil {
		return res, nil, err
	}
	for _, r := range notTaken {
		if transient(r.Err) {
			return res, nil, fmt.Errorf("replace %d documents already in %s: %w", len(dups), coll.Name(), r.Err)
		}
		refused = append(refused, refusal{dups[r.Index], r.Err.Error()})
	}
	return res, refused, nil
}
