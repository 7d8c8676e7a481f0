package tenant

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/notification"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/connector/control"
	"github.com/mysimbdp/mysimbdp/infra/natsauth"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/quota"
)

// RemoveResult is what Remove did.
type RemoveResult struct {
	Functions []string
	// NATSUsersManaged is false when the NATS server is not the local
	// stack's: the operator removes the user (natsauth.TenantUser) from its
	// configuration.
	NATSUsersManaged bool
}

// consumersIdleTimeout bounds the wait for the connector to stop pulling
// for a removed function.
const consumersIdleTimeout = 30 * time.Second

// RemoveOptions change what Remove does and accepts.
type RemoveOptions struct {
	// KeepData keeps the tenant's bucket, stream and database, recorded
	// as its own (Store.KeptData).
	KeepData bool
	// Force removes what the platform holds under a tenant id that this
	// store does not know (no stored profile, no kept data). Reserved
	// databases and other tenants' data are refused even so.
	Force bool
}

// Remove tears the tenant down: its functions, profile secret, stream
// consumers, NATS, MinIO and database users and its bucket notification,
// so that nothing of it runs and none of its credentials work. Without
// KeepData its bucket (with every object), stream and database are deleted
// too, and any data it kept before. Removing a tenant that is (partly)
// gone is not an error; removing a tenant the store does not know is,
// unless Force.
func Remove(ctx context.Context, pl Platform, tenant string, opts RemoveOptions) (RemoveResult, error) {
	var res RemoveResult
	wrap := func(err error) error { return fmt.Errorf("remove tenant %s: %w", tenant, err) }
	databases, kept, err := pl.removable(tenant, opts.Force)
	if err != nil {
		return res, wrap(err)
	}
	if err := pl.check(ctx); err != nil {
		return res, wrap(err)
	}
	log := pl.log().With("tenant", tenant)
	keepData := opts.KeepData

	fns, err := pl.Gateway.Functions(ctx, "")
	if err != nil {
		return res, wrap(err)
	}
	for _, fn := range fns {
		if fn.Labels == nil || (*fn.Labels)[contract.LabelTenant] != tenant {
			continue
		}
		log.Info("delete function", "function", fn.Name)
		if err := pl.Gateway.Delete(ctx, fn.Name, fn.Namespace); err != nil {
			return res, wrap(err)
		}
		res.Functions = append(res.Functions, fn.Name)
		if err := pl.Gateway.DeleteSecret(ctx, contract.InvokeKeySecret(fn.Name), fn.Namespace); err != nil {
			return res, wrap(err)
		}
	}
	// The platform apps' invocation keys go even when their functions
	// were deleted by other means.
	p := profile.Profile{Tenant: tenant}
	for _, s := range []string{contract.ProfileSecret(tenant), contract.CredentialsSecret(tenant),
		contract.InvokeKeySecret(p.BatchFunction()), contract.InvokeKeySecret(p.StreamFunction())} {
		if err := pl.Gateway.DeleteSecret(ctx, s, ""); err != nil {
			return res, wrap(err)
		}
	}

	log.Info("delete NATS user", "user", natsauth.TenantUser(tenant))
	_, err = natsauth.Delete(ctx, pl.NATS, tenant)
	switch {
	case errors.Is(err, natsauth.ErrNoService):
	case err != nil:
		return res, wrap(err)
	default:
		res.NATSUsersManaged = true
	}

	if err := removeConsumers(ctx, pl.JetStream, tenant); err != nil {
		return res, wrap(err)
	}
	if err := control.Resume(ctx, pl.JetStream, tenant); err != nil {
		return res, wrap(fmt.Errorf("clear pause flag: %w", err))
	}
	if err := quota.UnpublishProfile(ctx, pl.JetStream, tenant); err != nil {
		return res, wrap(err)
	}
	if err := quota.Forget(ctx, pl.JetStream, tenant); err != nil {
		return res, wrap(err)
	}
	if !keepData {
		log.Info("delete stream", "stream", contract.TenantStream(tenant))
		if err := pl.JetStream.DeleteStream(ctx, contract.TenantStream(tenant)); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return res, wrap(fmt.Errorf("delete stream: %w", err))
		}
	}

	log.Info("delete MinIO user and policy", "user", S3User(tenant))
	if err := removeS3User(ctx, pl.Admin, tenant); err != nil {
		return res, wrap(err)
	}
	if err := removeBucket(ctx, pl.S3, tenant, keepData); err != nil {
		return res, wrap(err)
	}
	for _, db := range databases {
		log.Info("database", "database", db, "keep_data", keepData)
		if err := removeDatabase(ctx, pl.Mongo, db, tenant, keepData); err != nil {
			return res, wrap(err)
		}
	}
	kept.Tenant = tenant
	if keepData {
		kept.Databases = databases
		kept.Bucket, kept.Stream = tenant, contract.TenantStream(tenant)
	} else {
		kept = Kept{Tenant: tenant} // nothing left: the record goes
	}
	if err := pl.Store.SaveKept(kept); err != nil {
		return res, wrap(err)
	}
	return res, pl.Store.Remove(tenant)
}

// removable checks that tenant may be removed and returns the databases
// that are its data: its stored profile's and any it kept when removed
// before, or with force (a tenant this store does not know) the one named
// after it. It refuses a name that is no tenant id, a tenant it does not
// know without force, and ever a database that is reserved or another
// tenant's.
func (pl Platform) removable(tenant string, force bool) ([]string, Kept, error) {
	var kept Kept
	if err := profile.CheckTenantID(tenant); err != nil {
		return nil, kept, err
	}
	var databases []string
	known := false
	raw, err := pl.Store.Profile(tenant)
	switch {
	case err == nil:
		p, err := profile.Parse(raw, "stored profile of "+tenant)
		if err != nil {
			return nil, kept, fmt.Errorf("its stored profile: %w", err)
		}
		databases, known = append(databases, p.Sink.Database), true
	case !errors.Is(err, fs.ErrNotExist):
		return nil, kept, fmt.Errorf("its stored profile: %w", err)
	}
	// The database an apply made the tenant's, even one that failed
	// before it stored the profile.
	switch db, err := pl.Store.Database(tenant); {
	case err == nil:
		known = true
		if !slices.Contains(databases, db) {
			databases = append(databases, db)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, kept, fmt.Errorf("its recorded database: %w", err)
	}
	kept, err = pl.Store.KeptData(tenant)
	switch {
	case err == nil:
		known = true
		for _, db := range kept.Databases {
			if !slices.Contains(databases, db) {
				databases = append(databases, db)
			}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, kept, err
	}
	if !known {
		if !force {
			return nil, kept, fmt.Errorf("no such tenant: %s holds no profile or kept data of it (it was not applied with this data folder); "+
				"use --force to remove what the platform holds under that name", pl.Store.Dir)
		}
		databases = []string{tenant}
	}
	h, err := pl.holders(tenant)
	if err != nil {
		return nil, kept, err
	}
	for _, db := range databases {
		if pl.reserved(db) {
			return nil, kept, fmt.Errorf("database %q is reserved for the platform: never removed, even with --force", db)
		}
		if o, ok := h.live[db]; ok {
			return nil, kept, fmt.Errorf("database %q is tenant %s's: remove that tenant instead", db, o)
		}
		if k, ok := h.keptDB[db]; ok {
			return nil, kept, fmt.Errorf("database %q is data that tenant %s kept when it was removed: remove that tenant instead", db, k.Tenant)
		}
	}
	return databases, kept, nil
}

// removeConsumers deletes the durable consumers on the tenant's stream
// (the connector's, one per stream function). The connector stops pulling
// once it sees the function gone; a consumer deleted before that could be
// created again by its last pull, so each is deleted once no pull request
// waits on it.
func removeConsumers(ctx context.Context, js jetstream.JetStream, tenant string) error {
	s, err := js.Stream(ctx, contract.TenantStream(tenant))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream of %s: %w", tenant, err)
	}
	wctx, cancel := context.WithTimeout(ctx, consumersIdleTimeout)
	defer cancel()
	for {
		var names []string
		idle := true
		infos := s.ListConsumers(wctx)
		for ci := range infos.Info() {
			names = append(names, ci.Name)
			if ci.NumWaiting > 0 {
				idle = false
			}
		}
		if err := infos.Err(); err != nil {
			return fmt.Errorf("consumers of %s: %w", contract.TenantStream(tenant), err)
		}
		if len(names) == 0 {
			return nil
		}
		if idle {
			for _, n := range names {
				if err := s.DeleteConsumer(ctx, n); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
					return fmt.Errorf("delete consumer %s: %w", n, err)
				}
			}
			continue // and check that none came back
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("consumers of %s %s still pulling after %s (is a connector still delivering to a function of the tenant?)",
				contract.TenantStream(tenant), strings.Join(names, ", "), consumersIdleTimeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// removeBucket removes the bucket's notification, so that no event of it
// is produced any more, and unless keepData the bucket with its objects.
func removeBucket(ctx context.Context, s3 *minio.Client, bucket string, keepData bool) error {
	exists, err := s3.BucketExists(ctx, bucket)
	if err != nil {
		return fmt.Errorf("check bucket %s: %w", bucket, err)
	}
	if !exists {
		return nil
	}
	if err := s3.SetBucketNotification(ctx, bucket, notification.Configuration{}); err != nil {
		return fmt.Errorf("remove notification of bucket %s: %w", bucket, err)
	}
	if keepData {
		return nil
	}
	if err := s3.RemoveBucketWithOptions(ctx, bucket, minio.RemoveBucketOptions{ForceDelete: true}); err != nil {
		return fmt.Errorf("delete bucket %s: %w", bucket, err)
	}
	return nil
}
