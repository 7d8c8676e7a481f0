// Package replace stores the documents that an insert found already
// there — rows of a re-uploaded or corrected file, records delivered
// again — for both ingestion paths, at a cost in proportion to what
// changed, on MongoDB and on FerretDB v1 alike.
//
// Each such document is compared with the stored one (a point read by
// _id); an unchanged one is left alone, so a re-upload costs reads, not
// writes. The changed ones are replaced in ordered commands of at most
// MaxPerCommand statements, one command at a time: FerretDB holds a
// pooled connection per statement of an update command until the command
// ends, and hangs once its 100 are taken (by one command of 100
// statements, or by several at once: four of 50, eight of 40 did). One
// Runner per process keeps a replica at 25, and three replicas replacing
// at the same moment stay clear of the limit. MongoDB takes 100 000 per
// command; the cost of small ones only shows on this rare path.
//
// Both reads and replaces by _id are index lookups on MongoDB, and on the
// local FerretDB once infra/local/ferret has added the _id index its
// queries can use (without it each is a scan of the collection).
package replace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"
)

// MaxPerCommand bounds the statements of one update command.
const MaxPerCommand = 25

// Readers bounds the reads of stored versions one Replace runs at once.
const Readers = 4

// Result counts what Replace did with the documents it was given.
type Result struct {
	// Unchanged documents were stored already, byte for byte.
	Unchanged int
	// Replaced documents had another version stored, now theirs.
	Replaced int
}

// Refused is a document the store would not take, by its index in the
// slice given to Replace.
type Refused struct {
	Index int
	Err   error
}

// Runner runs the replace commands of one process one at a time. The zero
// value is ready; it must not be copied. Keep one per process, in the
// value that lives as long as it (an Ingester, a Batch).
type Runner struct{ mu sync.Mutex }

// Replace makes each of docs (documents with their _id first, bson.D or
// bson.Raw, whose insert failed on a duplicate key) the stored version of
// its key. Of documents sharing an _id only the last counts, as if they
// had been written in order. Documents the store refuses come back in
// refused; an error means it is unknown what was stored.
func (r *Runner) Replace(ctx context.Context, coll *mongo.Collection, docs []any) (Result, []Refused, error) {
	var res Result
	idx := lastPerID(docs)
	same := make([]bool, len(idx))
	// Reads side by side: each is mostly the server's per-command work,
	// which a second core takes on.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(Readers)
	for k, i := range idx {
		g.Go(func() error {
			var err error
			same[k], err = storedAlready(gctx, coll, docs[i])
			if err != nil {
				return fmt.Errorf("read the stored version of a document of %s: %w", coll.Name(), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, nil, err
	}
	var changed []int
	for k, i := range idx {
		if same[k] {
			res.Unchanged++
		} else {
			changed = append(changed, i)
		}
	}
	refused, err := r.run(ctx, coll, docs, changed)
	res.Replaced = len(changed) - len(refused)
	return res, refused, err
}

// storedAlready tells whether the store holds doc byte for byte.
func storedAlready(ctx context.Context, coll *mongo.Collection, doc any) (bool, error) {
	want, err := marshal(doc)
	if err != nil {
		return false, err
	}
	stored, err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: want.Lookup("_id")}}).Raw()
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return false, nil // deleted meanwhile: the upsert stores it
	case err != nil:
		return false, err
	}
	return bytes.Equal(stored, want), nil
}

// run replaces the documents at idx, in order, in commands of at most
// MaxPerCommand. An ordered command stops at its first refused document;
// the ones after it are tried again in the next command.
func (r *Runner) run(ctx context.Context, coll *mongo.Collection, docs []any, idx []int) ([]Refused, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var refused []Refused
	ordered := options.BulkWrite().SetOrdered(true)
	for len(idx) > 0 {
		n := min(MaxPerCommand, len(idx))
		models := make([]mongo.WriteModel, n)
		for k, i := range idx[:n] {
			models[k] = mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: idOf(docs[i])}}).
				SetReplacement(docs[i]).SetUpsert(true)
		}
		_, err := coll.BulkWrite(ctx, models, ordered)
		if err == nil {
			idx = idx[n:]
			continue
		}
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
			return refused, fmt.Errorf("replace %d documents in %s: %w", n, coll.Name(), err)
		}
		first := bwe.WriteErrors[0]
		if first.Index < 0 || first.Index >= n {
			return refused, fmt.Errorf("replace %d documents in %s: error for unknown document %d: %w", n, coll.Name(), first.Index, err)
		}
		refused = append(refused, Refused{idx[first.Index], fmt.Errorf("replace in %s: %s (code %d)", coll.Name(), first.Message, first.Code)})
		idx = idx[first.Index+1:]
	}
	return refused, nil
}

// IsDuplicateKey: 11000 is MongoDB's (and FerretDB's) duplicate key code,
// 11001 its legacy form.
func IsDuplicateKey(we mongo.WriteError) bool {
	return we.Code == 11000 || we.Code == 11001
}

// LastPerID keeps, of documents sharing an _id, only the last, in order:
// what would be stored in the end.
func LastPerID(docs []any) []any {
	idx := lastPerID(docs)
	if len(idx) == len(docs) {
		return docs
	}
	kept := make([]any, len(idx))
	for k, i := range idx {
		kept[k] = docs[i]
	}
	return kept
}

// lastPerID is LastPerID by index.
func lastPerID(docs []any) []int {
	last := make(map[string]int, len(docs))
	for i, d := range docs {
		last[idKey(d)] = i
	}
	idx := make([]int, 0, len(last))
	for i, d := range docs {
		if last[idKey(d)] == i {
			idx = append(idx, i)
		}
	}
	return idx
}

// idOf is the _id of a document: the first element of a bson.D, or the
// _id of a bson.Raw.
func idOf(doc any) any {
	switch d := doc.(type) {
	case bson.D:
		if len(d) > 0 && d[0].Key == "_id" {
			return d[0].Value
		}
	case bson.Raw:
		return d.Lookup("_id")
	}
	return nil
}

// idKey is a comparable form of a document's _id: its BSON type and bytes.
func idKey(doc any) string {
	if raw, ok := doc.(bson.Raw); ok {
		v := raw.Lookup("_id")
		return string(rune(v.Type)) + string(v.Value)
	}
	t, v, err := bson.MarshalValue(idOf(doc))
	if err != nil {
		return fmt.Sprint(idOf(doc))
	}
	return string(rune(t)) + string(v)
}

// marshal returns a document's bytes, as the store gives a stored one
// back.
func marshal(doc any) (bson.Raw, error) {
	if raw, ok := doc.(bson.Raw); ok {
		return raw, nil
	}
	return bson.Marshal(doc)
}
