package localstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
)

// Where MinIO publishes bucket notifications, and the JetStream stream
// that keeps them until the connector has delivered them.
const (
	S3EventsSubject = "mysimbdp.s3.events"
	S3EventsStream  = "S3EVENTS"
)

// minioNotifyEnv configures MinIO's default NATS target with JetStream.
// The queue folder keeps events on disk while NATS is unreachable, so an
// upload during a NATS restart still becomes an event.
func minioNotifyEnv(natsURL, queueDir string) []string {
	return []string{
		"MINIO_NOTIFY_NATS_ENABLE=on",
		"MINIO_NOTIFY_NATS_ADDRESS=" + strings.TrimPrefix(natsURL, "nats://"),
		"MINIO_NOTIFY_NATS_SUBJECT=" + S3EventsSubject,
		"MINIO_NOTIFY_NATS_JETSTREAM=on",
		"MINIO_NOTIFY_NATS_PING_INTERVAL=10",
		"MINIO_NOTIFY_NATS_QUEUE_DIR=" + queueDir,
	}
}

// ensureStreams creates the platform's JetStream streams if missing.
func ensureStreams(ctx context.Context, natsURL string) error {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return fmt.Errorf("connect to NATS %s: %w", natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        S3EventsStream,
		Description: "MinIO bucket notifications, kept until the connector delivered them",
		Subjects:    []string{S3EventsSubject},
		Storage:     jetstream.FileStorage,
		// A full stream refuses new events (MinIO keeps them in its queue
		// folder and retries) rather than dropping old undelivered ones.
		Discard: jetstream.DiscardNew,
		MaxAge:  7 * 24 * time.Hour,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", S3EventsStream, err)
	}
	return nil
}

// loadTenants reads every *.yaml profile in dir; all problems are reported
// together.
func loadTenants(dir string) ([]tenant.Loaded, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("tenants in %s: %w", dir, err)
	}
	if _, err := os.Stat(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tenants folder: %w", err)
	}
	sort.Strings(paths)
	var out []tenant.Loaded
	var errs []error
	for _, p := range paths {
		t, err := tenant.Load(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, t)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("tenant profiles: %w", err)
	}
	return out, nil
}

func (s *Stack) applyTenants(ctx context.Context, gw *gateway.Client, tenants []tenant.Loaded) error {
	if len(tenants) == 0 {
		return nil
	}
	mc, err := minio.New(s.Endpoints.MinIO, &minio.Options{Creds: credentials.NewStaticV4(s.Creds.MinIOUser, s.Creds.MinIOPassword, "")})
	if err != nil {
		return fmt.Errorf("MinIO client: %w", err)
	}
	for _, t := range tenants {
		s.cfg.Progress("onboarding tenant %s (bucket %s, profile secret %s)", t.Profile.Tenant, t.Profile.Bucket(), tenant.ProfileSecret(t.Profile.Tenant))
		if err := tenant.Apply(ctx, tenant.Platform{S3: mc, Gateway: gw}, t); err != nil {
			return err
		}
	}
	return nil
}
