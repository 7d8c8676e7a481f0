package control

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/connector/core"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/quota"
)

// Pause stops stream delivery to tenant's functions: connectors stop
// pulling within a second or two, and records stay in the tenant's stream.
func Pause(ctx context.Context, js jetstream.JetStream, tenant string) error {
	key, err := pausedKey(tenant)
	if err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	kv, err := quota.ControlKV(ctx, js, 0)
	if err != nil {
		return fmt.Errorf("pause %s: %w", tenant, err)
	}
	if _, err := kv.PutString(ctx, key, "true"); err != nil {
		return fmt.Errorf("pause %s: %w", tenant, err)
	}
	return nil
}

// Resume restarts stream delivery to tenant's functions where it stopped.
// Resuming a tenant that is not paused does nothing.
func Resume(ctx context.Context, js jetstream.JetStream, tenant string) error {
	key, err := pausedKey(tenant)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	kv, err := js.KeyValue(ctx, contract.ControlBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("resume %s: control bucket %s: %w", tenant, contract.ControlBucket, err)
	}
	if err := kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("resume %s: %w", tenant, err)
	}
	return nil
}

// Paused reports whether tenant's stream delivery is paused.
func Paused(ctx context.Context, js jetstream.JetStream, tenant string) (bool, error) {
	key, err := pausedKey(tenant)
	if err != nil {
		return false, fmt.Errorf("paused: %w", err)
	}
	kv, err := js.KeyValue(ctx, contract.ControlBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("paused %s: control bucket %s: %w", tenant, contract.ControlBucket, err)
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("paused %s: %w", tenant, err)
	}
	return pausedValue(e.Value()), nil
}

func pausedKey(tenant string) (string, error) {
	if !core.ValidTenant(tenant) {
		return "", fmt.Errorf("tenant %q: want letters, digits, '-' and '_'", tenant)
	}
	return contract.PausedKey(tenant), nil
}

// pausedValue reads a paused.<tenant> value: only a true boolean pauses, so
// a mistyped value never silently stops a tenant.
func pausedValue(v []byte) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(string(v)))
	return err == nil && b
}
