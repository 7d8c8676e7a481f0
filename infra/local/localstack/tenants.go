package localstack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/build/fnbuild"
	"github.com/mysimbdp/mysimbdp/infra/build/stack"
	"github.com/mysimbdp/mysimbdp/infra/minioadmin"
	"github.com/mysimbdp/mysimbdp/infra/natsauth"
	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/trust"
	"github.com/mysimbdp/mysimbdp/shared/trust/mongotrust"
)

// minioNotifyEnv configures MinIO's default NATS target with JetStream,
// as the platform NATS user. The queue folder keeps events on disk while
// NATS is unreachable, so an upload during a NATS restart still becomes an
// event.
func minioNotifyEnv(natsURL, natsPassword, queueDir, caFile string) ([]string, error) {
	addr, err := natsHostPort(natsURL)
	if err != nil {
		return nil, err
	}
	env := []string{
		"MINIO_NOTIFY_NATS_ENABLE=on",
		"MINIO_NOTIFY_NATS_ADDRESS=" + addr,
		"MINIO_NOTIFY_NATS_SUBJECT=" + contract.S3EventsSubject,
		"MINIO_NOTIFY_NATS_USERNAME=" + natsauth.PlatformUser,
		"MINIO_NOTIFY_NATS_PASSWORD=" + natsPassword,
		"MINIO_NOTIFY_NATS_JETSTREAM=on",
		"MINIO_NOTIFY_NATS_PING_INTERVAL=10",
		"MINIO_NOTIFY_NATS_QUEUE_DIR=" + queueDir,
	}
	if caFile != "" {
		// NATS serves TLS: MinIO verifies its certificate against the
		// platform's CA (also in its certs folder's CAs/).
		env = append(env, "MINIO_NOTIFY_NATS_TLS=on", "MINIO_NOTIFY_NATS_TLS_SKIP_VERIFY=off",
			"MINIO_NOTIFY_NATS_CERT_AUTHORITY="+caFile)
	}
	return env, nil
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

// buildPlatformApps builds the images of the platform's generic ingest
// apps (platform-apps.yml), which the tenants' functions run. A missing
// file means there is nothing to build.
func (s *Stack) buildPlatformApps(ctx context.Context) error {
	if _, err := os.Stat(s.cfg.PlatformAppsFile); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	st, err := stack.Load(s.cfg.PlatformAppsFile)
	if err != nil {
		return err
	}
	b := &fnbuild.Builder{Stack: st, ImagesDir: filepath.Join(s.cfg.DataDir, "images"), BuildDir: filepath.Join(s.cfg.DataDir, "build")}
	for _, name := range st.Names() {
		s.cfg.Progress("building platform app %s (%s)", name, st.Functions[name].Image)
		start := time.Now()
		if _, err := b.Build(ctx, name); err != nil {
			return fmt.Errorf("build platform app: %w", err)
		}
		s.cfg.Progress("built %s in %s", name, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

// Platform returns admin clients of the running stack's parts, for
// provisioning tenants; close the returned function when done.
func (s *Stack) Platform(ctx context.Context, gw *gateway.Client) (tenant.Platform, func(), error) {
	// Tenants' functions run the platform apps under the registry
	// platform-apps.yml's images were built with.
	registry := os.Getenv(contract.EnvRegistry)
	return PlatformFor(ctx, PlatformConfig{
		MinIOEndpoint: s.Endpoints.MinIO, MinIOUser: s.Creds.MinIOUser, MinIOPassword: s.Creds.MinIOPassword,
		MCBinary: s.cfg.MCBinary, NATSURL: s.Endpoints.NATS, MongoURI: s.Endpoints.MongoURI,
		MinIOSecure: s.Endpoints.MinIOSecure, CAFile: s.Endpoints.CAFile,
		DataDir:     s.cfg.DataDir,
		FunctionEnv: tenant.FunctionEnv{S3Endpoint: s.Endpoints.MinIO, S3Secure: s.Endpoints.MinIOSecure, MongoURI: s.Endpoints.MongoURI, NATSURL: s.Endpoints.NATS, Registry: registry, CASecret: caSecret(s.Endpoints.CAFile), GatewayURL: s.Endpoints.Gateway},
	}, gw)
}

// PlatformConfig says where a platform's parts are, with admin
// credentials: the local stack's, or production endpoints.
type PlatformConfig struct {
	MinIOEndpoint, MinIOUser, MinIOPassword string
	MinIOSecure                             bool
	MCBinary                                string
	NATSURL                                 string // with the platform user's credentials
	MongoURI                                string
	// CAFile is the CA the parts' certificates come from, trusted by
	// every client here (shared/trust); empty: the system's roots.
	CAFile string
	// DataDir keeps the tenants' generated credentials (<data>/tenants).
	DataDir     string
	FunctionEnv tenant.FunctionEnv
	// InvokeMasterKey derives the tenant's functions' invocation keys
	// (contract.EnvInvokeMasterKey on a cluster); empty: the one in
	// DataDir, if any.
	InvokeMasterKey string
	Log             *slog.Logger
}

// PlatformFor connects to every part. The returned function closes the
// connections.
func PlatformFor(ctx context.Context, c PlatformConfig, gw *gateway.Client) (tenant.Platform, func(), error) {
	pl := tenant.Platform{Gateway: gw, FunctionEnv: c.FunctionEnv, Store: tenant.Store{Dir: TenantsDir(c.DataDir)}, Log: c.Log}
	// The tenant's functions get their invocation keys from the master
	// key given, else the one the local platform keeps in its data folder.
	var err error
	pl.InvokeMasterKey = c.InvokeMasterKey
	if pl.InvokeMasterKey == "" {
		if pl.InvokeMasterKey, err = ReadInvokeMasterKey(c.DataDir); err != nil {
			return tenant.Platform{}, func() {}, err
		}
	}
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) (tenant.Platform, func(), error) {
		closeAll()
		return tenant.Platform{}, func() {}, err
	}
	tr, err := trust.S3Transport(c.MinIOSecure, c.CAFile)
	if err != nil {
		return fail(err)
	}
	pl.S3, err = minio.New(c.MinIOEndpoint, &minio.Options{Creds: credentials.NewStaticV4(c.MinIOUser, c.MinIOPassword, ""), Secure: c.MinIOSecure, Transport: tr})
	if err != nil {
		return fail(fmt.Errorf("MinIO client: %w", err))
	}
	pl.Admin, err = minioadmin.New(minioadmin.Config{Binary: c.MCBinary, Endpoint: c.MinIOEndpoint, Secure: c.MinIOSecure, CAFile: c.CAFile, AccessKey: c.MinIOUser, SecretKey: c.MinIOPassword})
	if err != nil {
		return fail(err)
	}
	pl.NATS, err = nats.Connect(c.NATSURL, append(trust.NATS(c.CAFile), nats.Name("mysimbdp tenant"))...)
	if err != nil {
		return fail(fmt.Errorf("connect to NATS: %w", err))
	}
	closers = append(closers, pl.NATS.Close)
	pl.JetStream, err = jetstream.New(pl.NATS)
	if err != nil {
		return fail(fmt.Errorf("JetStream: %w", err))
	}
	mopts, err := mongotrust.Options(options.Client().ApplyURI(c.MongoURI), c.CAFile)
	if err != nil {
		return fail(err)
	}
	pl.Mongo, err = mongo.Connect(mopts)
	if err != nil {
		return fail(fmt.Errorf("MongoDB client: %w", err))
	}
	db := pl.Mongo
	closers = append(closers, func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = db.Disconnect(dctx)
	})
	return pl, closeAll, nil
}

// caSecret is the secret functions trust the CA through, when there is
// one (contract.TLSCASecret).
func caSecret(caFile string) string {
	if caFile == "" {
		return ""
	}
	return contract.TLSCASecret
}

func (s *Stack) applyTenants(ctx context.Context, gw *gateway.Client, tenants []tenant.Loaded) error {
	if len(tenants) == 0 {
		return nil
	}
	pl, closePl, err := s.Platform(ctx, gw)
	if err != nil {
		return err
	}
	defer closePl()
	for _, t := range tenants {
		p := t.Profile
		s.cfg.Progress("onboarding tenant %s (bucket %s, users, stream %s on %s, database %s, functions)", p.Tenant, p.Bucket(), p.StreamName(), p.StreamSubject(), p.Sink.Database)
		if _, err := tenant.Apply(ctx, pl, t); err != nil {
			return err
		}
	}
	return nil
}
