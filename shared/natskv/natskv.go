// Package natskv opens the NATS KV buckets the platform keeps its shared
// state in (quota decisions, profiles, the scaler's memory, schedule ticks).
package natskv

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Open returns the bucket cfg names, creating it if it is missing. A bucket
// that exists is used as it is, even if its settings differ: operators may
// have tuned it, and several parts open the same bucket.
func Open(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("KV bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}
