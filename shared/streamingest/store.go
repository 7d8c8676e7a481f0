package streamingest

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

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
	models := make([]mongo.WriteModel, len(dups))
	for i, idx := range dups {
		doc := docs[idx].(bson.Raw)
		models[i] = mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: doc.Lookup("_id")}}).SetReplacement(doc).SetUpsert(true)
	}
	// In order, so that two records with the same key in one batch end as
	// the later one.
	err = in.replacing.Run(ctx, in.sink, models, func(off, n int, err error) error {
		chunk := dups[off : off+n]
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
			return fmt.Errorf("replace %d documents already in %s: %w", n, coll, err)
		}
		// An ordered write stops at its first error: that document was
		// refused, the ones after it were not tried.
		first := bwe.WriteErrors[0]
		if first.Index < 0 || first.Index >= n {
			return fmt.Errorf("replace %d documents already in %s: error for unknown document %d: %w", n, coll, first.Index, err)
		}
		refused = append(refused, refusal{chunk[first.Index], fmt.Sprintf("replace in %s: %s (code %d)", coll, first.Message, first.Code)})
		for _, idx := range chunk[first.Index+1:] {
			refused = append(refused, refusal{idx, fmt.Sprintf("not replaced in %s: an earlier record of the batch was refused (%s)", coll, first.Message)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return refused, nil
}

// isDuplicateKey: 11000 is MongoDB's (and FerretDB's) duplicate key code,
// 11001 its legacy form.
func isDuplicateKey(we mongo.WriteError) bool {
	return we.Code == 11000 || we.Code == 11001
}
