// Package replace replaces documents that are already stored — rows of a
// corrected file, records delivered again — for both ingestion paths, on
// terms FerretDB v1 on SQLite survives.
//
// FerretDB holds a pooled connection per statement of an update command
// until the command ends, and hangs once its 100 are taken: by one command
// of 100 statements, or by several commands at once (four of 50, eight of
// 40 did). So a Runner sends commands of at most MaxPerCommand statements,
// one at a time; one Runner per process keeps a replica at 25, and three
// replicas replacing at the same moment stay clear of the limit. MongoDB
// takes 100 000 per command; the cost of small ones only shows on this
// rare path.
package replace

import (
	"context"
	"sync"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// MaxPerCommand bounds the statements of one update command.
const MaxPerCommand = 25

// Runner runs replace commands one at a time. The zero value is ready; it
// must not be copied. Keep one per process, in the value that lives as
// long as it (an Ingester, a Batch).
type Runner struct{ mu sync.Mutex }

// Run writes models in ordered commands of at most MaxPerCommand, so that
// of two models for one document the later wins. When a command fails,
// failed gets the offset and length of its models and the error; Run goes
// on with the next command if failed returns nil and stops with its error
// otherwise.
func (r *Runner) Run(ctx context.Context, coll *mongo.Collection, models []mongo.WriteModel, failed func(offset, n int, err error) error) error {
	if len(models) == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ordered := options.BulkWrite().SetOrdered(true)
	for off := 0; off < len(models); off += MaxPerCommand {
		n := min(MaxPerCommand, len(models)-off)
		if _, err := coll.BulkWrite(ctx, models[off:off+n], ordered); err != nil {
			if err := failed(off, n, err); err != nil {
				return err
			}
		}
	}
	return nil
}
