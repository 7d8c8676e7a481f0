package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// finished returns the stored report of this object version if its
// ingestion is over (done or rejected).
func (b *Batch) finished(ctx context.Context, rep Report) (Report, bool, error) {
	var rec record
	err := b.ingestions.FindOne(ctx, bson.D{{Key: "_id", Value: ingestionID(rep.Tenant, rep.Bucket, rep.Key, rep.ETag)}}).Decode(&rec)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return Report{}, false, nil
	case err != nil:
		return Report{}, false, fmt.Errorf("look up the ingestion record: %w", err)
	}
	if !rec.Status.finished() {
		return Report{}, false, nil
	}
	return rec.Report, true, nil
}

// store upserts the ingestion record of rep.
func (b *Batch) store(ctx context.Context, rep Report, slot bool) error {
	b.indexOnce.Do(func() { b.ensureIndex(ctx) })
	id := ingestionID(rep.Tenant, rep.Bucket, rep.Key, rep.ETag)
	_, err := b.ingestions.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}},
		record{ID: id, Report: rep, Slot: slot}, options.Replace().SetUpsert(true))
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

// checkWindow applies batch.max_files_per_window over a sliding window of
// batch.window: the files that took a slot in the last window count,
// except this one (a retry of a failed or crashed attempt). When the window
// is full it stores and returns a deferred report whose RetryAfter is when
// the oldest slot ages out. Two invocations racing for the last slot may
// both take it; the quota is a rate limit, not a hard cap on correctness.
func (b *Batch) checkWindow(ctx context.Context, rep Report) (Report, bool, error) {
	limit, window := int64(b.prof.Batch.MaxFilesPerWindow), time.Duration(b.prof.Batch.Window)
	if limit <= 0 || window <= 0 {
		return Report{}, false, nil
	}
	now := b.clock()
	filter := bson.D{
		{Key: "tenant", Value: rep.Tenant},
		{Key: "slot", Value: true},
		{Key: "started_at", Value: bson.D{{Key: "$gt", Value: now.Add(-window)}}},
		{Key: "_id", Value: bson.D{{Key: "$ne", Value: ingestionID(rep.Tenant, rep.Bucket, rep.Key, rep.ETag)}}},
	}
	n, err := b.ingestions.CountDocuments(ctx, filter)
	if err != nil {
		return Report{}, false, fmt.Errorf("count the files of the current window: %w", err)
	}
	if n < limit {
		return Report{}, false, nil
	}
	// The window has room again when enough of its files age out: the
	// (n-limit+1)-th oldest.
	var oldest record
	err = b.ingestions.FindOne(ctx, filter, options.FindOne().
		SetSort(bson.D{{Key: "started_at", Value: 1}}).SetSkip(n-limit)).Decode(&oldest)
	retry := window
	if err == nil {
		retry = oldest.StartedAt.Add(window).Sub(now)
	} else if !errors.Is(err, mongo.ErrNoDocuments) {
		return Report{}, false, fmt.Errorf("find when the window reopens: %w", err)
	}
	rep.Status = StatusDeferred
	rep.Error = fmt.Sprintf("tenant %s has ingested %d files in the last %s (batch.max_files_per_window is %d); retry in %s",
		rep.Tenant, n, window, limit, retry.Round(time.Millisecond))
	rep.setRetryAfter(retry)
	rep.end(now)
	if err := b.store(ctx, rep, false); err != nil {
		return Report{}, false, err
	}
	b.reports.publish(ctx, rep)
	return rep, true, nil
}

// write stores a batch with an unordered InsertMany. Duplicate ids are not
// errors: the document is already there. When replace is set (documents
// identified by business key) the duplicates are replaced instead, so the
// last version of a row wins; replacing a document by itself, as a retried
// file does, changes nothing.
func (b *Batch) write(ctx context.Context, coll *mongo.Collection, docs []any, replace bool) error {
	if b.discard && coll == b.sink { // benchmarking aid: see Config.Sink
		return nil
	}
	_, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return fmt.Errorf("insert %d documents into %s: %w", len(docs), coll.Name(), err)
	}
	var dups []mongo.WriteModel
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 && we.Code != 11001 { // duplicate key
			return fmt.Errorf("insert %d documents into %s: document %d: %w", len(docs), coll.Name(), we.Index, err)
		}
		if replace && we.Index >= 0 && we.Index < len(docs) {
			doc := docs[we.Index]
			dups = append(dups, mongo.NewReplaceOneModel().
				SetFilter(bson.D{{Key: "_id", Value: idOf(doc)}}).SetReplacement(doc).SetUpsert(true))
		}
	}
	if len(dups) == 0 {
		return nil
	}
	// Ordered, so that two rows with the same key in one batch end as the
	// later one; in chunks, because FerretDB v1 on SQLite holds one pooled
	// connection per statement of an update command until the command ends
	// and hangs once its 100 are taken.
	for len(dups) > 0 {
		n := min(len(dups), maxUpdatesPerCommand)
		if _, err := coll.BulkWrite(ctx, dups[:n], options.BulkWrite().SetOrdered(true)); err != nil {
			return fmt.Errorf("replace %d documents already in %s: %w", n, coll.Name(), err)
		}
		dups = dups[n:]
	}
	return nil
}

// maxUpdatesPerCommand bounds the statements of one update command (see
// write). MongoDB takes 100 000; the cost of smaller commands only shows on
// the rare path of rows that are already stored.
const maxUpdatesPerCommand = 50

// idOf is the _id of a document this package built.
func idOf(doc any) any {
	if d, ok := doc.(bson.D); ok && len(d) > 0 && d[0].Key == "_id" {
		return d[0].Value
	}
	if q, ok := doc.(quarantinedRow); ok {
		return q.ID
	}
	return nil
}
