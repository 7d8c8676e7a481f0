package localstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/connector"
	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
)

// minioNotifyEnv configures MinIO's default NATS target with JetStream.
// The queue folder keeps events on disk while NATS is unreachable, so an
// upload during a NATS restart still becomes an event.
func minioNotifyEnv(natsURL, queueDir string) []string {
	return []string{
		"MINIO_NOTIFY_NATS_ENABLE=on",
		"MINIO_NOTIFY_NATS_ADDRESS=" + strings.TrimPrefix(natsURL, "nats://"),
		"MINIO_NOTIFY_NATS_SUBJECT=" + connector.DefaultS3EventsSubject,
		"MINIO_NOTIFY_NATS_JETSTREAM=on",
		"MINIO_NOTIFY_NATS_PING_INTERVAL=10",
		"MINIO_NOTIFY_NATS_QUEUE_DIR=" + queueDir,
	}
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
	nc, err := nats.Connect(s.Endpoints.NATS)
	if err != nil {
		return fmt.Errorf("connect to NATS %s: %w", s.Endpoints.NATS, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	for _, t := range tenants {
		p := t.Profile
		s.cfg.Progress("onboarding tenant %s (bucket %s, stream %s on %s, profile secret %s)", p.Tenant, p.Bucket(), p.StreamName(), p.StreamSubject(), tenant.ProfileSecret(p.Tenant))
		if err := tenant.Apply(ctx, tenant.Platform{S3: mc, Gateway: gw, JetStream: js}, t); err != nil {
			return err
		}
	}
	return nil
}
