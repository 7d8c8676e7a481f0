package quota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/natskv"
)

// State is what a decision allows.
type State string

// The states. Throttled is temporary (until the tenant's window reopens);
// blocked lasts until the cause is gone (e.g. storage over its limit) and
// the stats function lifts it.
const (
	Allowed   State = "allowed"
	Throttled State = "throttled"
	Blocked   State = "blocked"
)

// Decision is the stats function's verdict on one tenant.
type Decision struct {
	Tenant string `json:"tenant"`
	State  State  `json:"state"`
	// Until is when a throttle ends by itself; zero for allowed, and for a
	// block that lasts until lifted.
	Until time.Time `json:"until,omitzero"`
	// Reason says why, with the figures: "620 messages in the 5s window
	// from 10:00:05, over the profile's 500".
	Reason    string    `json:"reason,omitempty"`
	DecidedAt time.Time `json:"decided_at"`
}

// Holds reports whether d stops tenant's work at now: throttled before
// Until, or blocked (until lifted, or before Until when one is set).
func (d Decision) Holds(now time.Time) bool {
	switch d.State {
	case Throttled:
		return now.Before(d.Until)
	case Blocked:
		return d.Until.IsZero() || now.Before(d.Until)
	}
	return false
}

// TenantOfKey is the tenant of a decision key, or "" when key is not one.
func TenantOfKey(key string) string {
	t, ok := strings.CutPrefix(key, contract.QuotaKeyPrefix)
	if !ok {
		return ""
	}
	return t
}

// Decode reads a decision as stored. A value that is not one holds
// nothing back: a garbled entry must not stop a tenant.
func Decode(v []byte) (Decision, error) {
	var d Decision
	if err := json.Unmarshal(v, &d); err != nil {
		return Decision{}, fmt.Errorf("quota decision: %w", err)
	}
	switch d.State {
	case Allowed, Throttled, Blocked:
	default:
		return Decision{}, fmt.Errorf("quota decision: state %q is not allowed, throttled or blocked", d.State)
	}
	return d, nil
}

// ControlKV returns the control bucket, creating it if it is missing, kept
// by replicas servers (contract.EnvJSReplicas; 0 is JetStream's 1).
func ControlKV(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	return natskv.Open(ctx, js, jetstream.KeyValueConfig{
		Bucket:      contract.ControlBucket,
		Description: "mysimbdp control: paused.<tenant> flags and quota.<tenant> decisions",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
}

// Put stores d as its tenant's decision.
func Put(ctx context.Context, kv jetstream.KeyValue, d Decision) error {
	v, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("quota decision for %s: %w", d.Tenant, err)
	}
	if _, err := kv.Put(ctx, contract.QuotaKey(d.Tenant), v); err != nil {
		return fmt.Errorf("store quota decision for %s: %w", d.Tenant, err)
	}
	return nil
}

// Get returns tenant's decision; a tenant with none is allowed.
func Get(ctx context.Context, kv jetstream.KeyValue, tenant string) (Decision, error) {
	e, err := kv.Get(ctx, contract.QuotaKey(tenant))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Decision{Tenant: tenant, State: Allowed}, nil
	}
	if err != nil {
		return Decision{}, fmt.Errorf("read quota decision of %s: %w", tenant, err)
	}
	d, err := Decode(e.Value())
	if err != nil {
		return Decision{}, fmt.Errorf("read quota decision of %s: %w", tenant, err)
	}
	return d, nil
}

// Forget deletes tenant's decision (when the tenant is removed); a missing
// bucket or decision is no error.
func Forget(ctx context.Context, js jetstream.JetStream, tenant string) error {
	kv, err := js.KeyValue(ctx, contract.ControlBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err == nil {
		err = kv.Purge(ctx, contract.QuotaKey(tenant))
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("forget quota decision of %s: %w", tenant, err)
	}
	return nil
}
