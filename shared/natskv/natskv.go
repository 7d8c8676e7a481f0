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
// have tuned it, and several parts open the same bucket. Its replicas are
// the exception: a bucket kept by fewer servers than cfg.Replicas is given
// more (the platform's replicas setting, contract.EnvJSReplicas, raised
// on a cluster), never fewer, so that a part left at the default of 1
// never undoes what another was told.
func Open(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, cfg.Bucket)
		if err == nil {
			err = raiseReplicas(ctx, js, kv, cfg.Replicas)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("KV bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// raiseReplicas updates the bucket's stream to want replicas if it has
// fewer, leaving the rest of its configuration as it is.
func raiseReplicas(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, want int) error {
	if want <= 1 {
		return nil
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo() == nil {
		return nil // not a JetStream-backed status: nothing to raise
	}
	sc := bs.StreamInfo().Config
	if sc.Replicas >= want {
		return nil
	}
	sc.Replicas = want
	if _, err := js.UpdateStream(ctx, sc); err != nil {
		return fmt.Errorf("raise replicas to %d: %w", want, err)
	}
	return nil
}
