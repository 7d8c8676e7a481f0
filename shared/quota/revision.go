package quota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Current is tenant's decision with the KV revision it was read at (0 when
// there is none: the tenant is allowed), for a later Replace.
func Current(ctx context.Context, kv jetstream.KeyValue, tenant string) (Decision, uint64, error) {
	e, err := kv.Get(ctx, contract.QuotaKey(tenant))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Decision{Tenant: tenant, State: Allowed}, 0, nil
	}
	if err != nil {
		return Decision{}, 0, fmt.Errorf("read quota decision of %s: %w", tenant, err)
	}
	d, err := Decode(e.Value())
	if err != nil {
		// A garbled entry is replaced by the next decision.
		return Decision{Tenant: tenant, State: Allowed}, e.Revision(), nil
	}
	return d, e.Revision(), nil
}

// Replace stores d as its tenant's decision only if the entry is still at
// revision (0: still absent), so that two evaluators racing on one tenant
// write one decision, not two. It reports whether d was stored; false
// means another decision came first and d was dropped.
func Replace(ctx context.Context, kv jetstream.KeyValue, d Decision, revision uint64) (bool, error) {
	v, err := json.Marshal(d)
	if err != nil {
		return false, fmt.Errorf("quota decision for %s: %w", d.Tenant, err)
	}
	if revision == 0 {
		_, err = kv.Create(ctx, contract.QuotaKey(d.Tenant), v)
	} else {
		_, err = kv.Update(ctx, contract.QuotaKey(d.Tenant), v, revision)
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return false, nil
	}
	return false, fmt.Errorf("store quota decision for %s: %w", d.Tenant, err)
}
