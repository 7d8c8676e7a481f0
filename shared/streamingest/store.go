package streamingest

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/replace"
)

// refusal is a document the database would not store, by its index in the
// slice given to write.
type refusal struct {
	index  int
	reason string
}

// write stores docs with one unordered InsertMany (the driver splits it
// into commands within the server's limits). Duplicate ids are success:
// the record is already stored. With a business key each duplicate is
// then compared with the stored version and replaced if it differs
// (package replace), so that the last version of a row wins and a
// redelivery costs only reads. Documents the server refuses one by one
// come back as refusals; an error means the write failed as a whole, or
// so that it is unknown what was stored.
func (in *Ingester) write(ctx context.Context, sink *mongo.Collection, docs []any, byKey bool) ([]refusal, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	coll := sink.Database().Name() + "." + sink.Name()
	_, err := sink.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
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
		case replace.IsDuplicateKey(we.WriteError):
			if byKey {
				dups = append(dups, we.Index)
			}
		default:
			refused = append(refused, refusal{we.Index, fmt.Sprintf("store in %s: %s (code %d)", coll, we.Message, we.Code)})
		}
	}
	if len(dups) == 0 {
		return refused, nil
	}
	stored := make([]any, len(dups))
	for i, idx := range dups {
		stored[i] = docs[idx]
	}
	_, notTaken, err := in.replacing.Replace(ctx, sink, stored)
	if err != nil {
		return nil, err
	}
	for _, r := range notTaken {
		refused = append(refused, refusal{dups[r.Index], fmt.Sprintf("replace in %s: %v", coll, r.Err)})
	}
	return refused, nil
}
