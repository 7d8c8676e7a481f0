// Package tenant provisions what a tenant's profile asks of the platform's
// parts: its bucket with the notification that turns uploads under
// incoming/ into events for its batch function, its JetStream stream for
// the records it publishes, and its profile as an OpenFaaS secret that its
// functions read. `mysimbdp up` applies the demo
// tenants with it; `mysimbdp tenant apply` will build on it.
package tenant

import (
	"context"
	"fmt"
	"os"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/notification"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/quota"
)

// EventsARN is the ARN of MinIO's default NATS notification target (the
// target configured by MINIO_NOTIFY_NATS_* without an identifier suffix;
// named targets failed to start on the pinned MinIO).
const EventsARN = "arn:minio:sqs::_:nats"

// IncomingPrefix is the tenant's staging folder in its bucket.
const IncomingPrefix = "incoming/"

// ProfileSecret is the name of the OpenFaaS secret holding a tenant's
// profile YAML; the tenant's functions declare it in stack.yml.
func ProfileSecret(tenant string) string { return tenant + "-profile" }

// Platform is what Apply provisions against.
type Platform struct {
	S3        *minio.Client
	Gateway   *gateway.Client
	JetStream jetstream.JetStream
}

// Loaded is a profile together with its YAML text, which is what the
// functions receive (they parse and validate it themselves).
type Loaded struct {
	Profile *profile.Profile
	YAML    []byte
}

// Load reads and validates a profile file.
func Load(path string) (Loaded, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Loaded{}, fmt.Errorf("read tenant profile: %w", err)
	}
	p, err := profile.Parse(raw, path)
	if err != nil {
		return Loaded{}, err
	}
	return Loaded{Profile: p, YAML: raw}, nil
}

// Apply provisions the tenant idempotently: applying the same profile
// twice changes nothing, applying an edited one updates in place.
func Apply(ctx context.Context, pl Platform, t Loaded) error {
	p := t.Profile
	bucket := p.Bucket()
	exists, err := pl.S3.BucketExists(ctx, bucket)
	if err != nil {
		return fmt.Errorf("tenant %s: check bucket %s: %w", p.Tenant, bucket, err)
	}
	if !exists {
		if err := pl.S3.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
			return fmt.Errorf("tenant %s: create bucket %s: %w", p.Tenant, bucket, err)
		}
	}
	// Both plain PUTs and CompleteMultipartUpload are ObjectCreated events;
	// large uploads fire only the latter.
	arn, err := notification.NewArnFromString(EventsARN)
	if err != nil {
		return fmt.Errorf("tenant %s: %w", p.Tenant, err)
	}
	q := notification.NewConfig(arn)
	q.AddEvents(notification.ObjectCreatedAll)
	q.AddFilterPrefix(IncomingPrefix)
	cfg := notification.Configuration{}
	cfg.AddQueue(q)
	if err := pl.S3.SetBucketNotification(ctx, bucket, cfg); err != nil {
		return fmt.Errorf("tenant %s: set notification on bucket %s (is MinIO's NATS target configured?): %w", p.Tenant, bucket, err)
	}
	if err := ApplyStream(ctx, pl.JetStream, p); err != nil {
		return err
	}
	if err := pl.Gateway.SetSecret(ctx, types.Secret{Name: ProfileSecret(p.Tenant), RawValue: t.YAML}); err != nil {
		return fmt.Errorf("tenant %s: store profile secret: %w", p.Tenant, err)
	}
	// The stats function judges every tenant against its profile.
	if err := quota.PublishProfile(ctx, pl.JetStream, p.Tenant, t.YAML); err != nil {
		return fmt.Errorf("tenant %s: %w", p.Tenant, err)
	}
	return nil
}
