package streamingest

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// maxUpdatesPerCommand bounds the statements of one update command, and an
// Ingester runs one such command at a time: FerretDB v1 on SQLite holds a
// pooled connection per statement of an update command until the command
// ends, and hangs once its 100 are taken — by one command of 100, or by the
// commands of batches handled at the same time (tests/stream
// TestConcurrentBatches hung with eight of 40). shared/ingest bounds its
// replaces the same way. MongoDB would take 100 000.
const maxUpdatesPerCommand = 25

// refusal is a document the database would not store, by its index in the
// slice given to write.
type refusal struct {
	index  int
	reason string
}

// write stores docs with one unordered InsertMany (the driver splits it
// into commands within the server's limits). Duplicate ids are success:
// the record is already stored. With a business key the duplicates are
// then replaced, so that the last version of a row wins; replacing a
// document by itself, as a redelivery does, changes nothing. Documents the
// server refuses one by one come back as refusals; an error means the
// write failed as a whole, or so that it is unknown what was stored.
func (in *Ingester) write(ctx context.Context, docs []any) ([]refusal, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	coll := in.sink.Database().Name() + "." + in.sink.Name()
	_, err := in.sink.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return nil, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return nil, fmt.Errorf("insert %d documents into %s: %w", len(docs), coll, err)
	}
	var refused []refusal
	var dups []int
	for _, we := range bwe.WriteErrors {
		if we.Index < 0 || we.Index >= len(docs) {
			return nil, fmt.Errorf("insert %d documents into %s: error for unknown document %d: %w", len(docs), coll, we.Index, err)
		}
		switch {
		case isDuplicateKey(we.WriteError):
			if in.byKey {
				dups = append(dups, we.Index)
			}
		default:
			refused = append(refused, refusal{we.Index, fmt.Sprintf("store in %s: %s (code %d)", coll, we.Message, we.Code)})
		}
	}
	if len(dups) > 0 {
		in.replacing.Lock()
		defer in.replacing.Unlock()
	}
	for len(dups) > 0 {
		chunk := dups[:min(len(dups), maxUpdatesPerCommand)]
		dups = dups[len(chunk):]
		models := make([]mongo.WriteModel, len(chunk))
		for i, idx := range chunk {
			doc := docs[idx].(bson.Raw)
			models[i] = mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: doc.Lookup("_id")}}).SetReplacement(doc).SetUpsert(true)
		}
		// Ordered, so that two records with the same key in one batch end
		// as the later one.
		_, err := in.sink.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(true))
		if err == nil {
			continue
		}
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
			return nil, fmt.Errorf("replace %d documents already in %s: %w", len(chunk), coll, err)
		}
		// An ordered write stops at its first error: that document was
		// refused, the ones after it were not tried.
		first := bwe.WriteErrors[0]
		if first.Index < 0 || first.Index >= len(chunk) {
			return nil, fmt.Errorf("replace %d documents already in %s: error for unknown document %d: %w", len(chunk), coll, first.Index, err)
		}
		refused = append(refused, refusal{chunk[first.Index], fmt.Sprintf("replace in %s: %s (code %d)", coll, first.Message, first.Code)})
		for _, idx := range chunk[first.Index+1:] {
			refused = append(refused, refusal{idx, fmt.Sprintf("not replaced in %s: an earlier record of the batch was refused (%s)", coll, first.Message)})
		}
	}
	return refused, nil
}

// isDuplicateKey: 11000 is MongoDB's (and FerretDB's) duplicate key code,
// 11001 its legacy form.
func isDuplicateKey(we mongo.WriteError) bool {
	return we.Code == 11000 || we.Code == 11001
}
