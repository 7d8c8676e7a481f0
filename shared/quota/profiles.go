package quota

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/natskv"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// ProfilesKV returns contract.ProfileBucket, creating it if it is missing
// with replicas replicas (contract.EnvJSReplicas; 0: JetStream's 1):
// every onboarded tenant's profile (key: tenant, value: the profile's
// YAML), published by onboarding for the parts that judge all tenants at
// once, like the stats function. A tenant's own functions read their
// profile from their secret instead.
func ProfilesKV(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	return natskv.Open(ctx, js, jetstream.KeyValueConfig{
		Bucket:      contract.ProfileBucket,
		Description: "mysimbdp tenant profiles (YAML), as onboarded",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
}

// PublishProfile stores a tenant's profile YAML; it must already be valid.
// replicas is the bucket's replica count, as ProfilesKV's.
func PublishProfile(ctx context.Context, js jetstream.JetStream, replicas int, tenant string, yaml []byte) error {
	kv, err := ProfilesKV(ctx, js, replicas)
	if err != nil {
		return fmt.Errorf("publish profile of %s: %w", tenant, err)
	}
	if _, err := kv.Put(ctx, tenant, yaml); err != nil {
		return fmt.Errorf("publish profile of %s: %w", tenant, err)
	}
	return nil
}

// UnpublishProfile removes a tenant's profile; a missing one is no error.
func UnpublishProfile(ctx context.Context, js jetstream.JetStream, tenant string) error {
	kv, err := js.KeyValue(ctx, contract.ProfileBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err == nil {
		err = kv.Purge(ctx, tenant)
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("unpublish profile of %s: %w", tenant, err)
	}
	return nil
}

// Profiles reads every published profile. A profile that no longer parses
// is reported in the joined error and left out; the others are returned.
func Profiles(ctx context.Context, js jetstream.JetStream) (map[string]*profile.Profile, error) {
	kv, err := js.KeyValue(ctx, contract.ProfileBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return map[string]*profile.Profile{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	out := map[string]*profile.Profile{}
	var errs []error
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read profile %s: %w", k, err))
			continue
		}
		p, err := profile.Parse(e.Value(), contract.ProfileBucket+"/"+k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[p.Tenant] = p
	}
	return out, errors.Join(errs...)
}
