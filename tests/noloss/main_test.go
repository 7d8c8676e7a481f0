// Package noloss tests the connector's backstop for lost MinIO
// notifications (the sweep) through the connector and the batch-ingest
// function as a process run by the provider, with real MinIO, NATS and
// FerretDB. The connector lists the buckets with a MinIO user of its own
// that may only list, as it would in a cluster.
package noloss

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mysimbdp/mysimbdp/infra/build/fnbuild"
	"github.com/mysimbdp/mysimbdp/infra/build/stack"
	"github.com/mysimbdp/mysimbdp/infra/connector"
	"github.com/mysimbdp/mysimbdp/infra/local/minioserver"
	"github.com/mysimbdp/mysimbdp/infra/minioadmin"
	"github.com/mysimbdp/mysimbdp/infra/provider"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

const (
	batchApp   = "batch-ingest"
	batchImage = "mysimbdp/batch-ingest:latest"
	// The connector's MinIO user: it may list buckets, nothing more.
	sweepUser   = "connector-sweep"
	sweepPass   = "connector-sweep-secret"
	sweepPolicy = "connector-sweep"
)

// shared is what TestMain made: the built function, a MinIO server, and
// the connector's MinIO user on it.
var shared struct {
	images                     string
	s3Endpoint, s3User, s3Pass string
	s3                         *minio.Client
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	dir, err := os.MkdirTemp("", "mysimbdp-noloss-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	repo, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st, err := stack.Load(filepath.Join(repo, "platform-apps.yml"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	shared.images = filepath.Join(dir, "images")
	b := &fnbuild.Builder{Stack: st, ImagesDir: shared.images, BuildDir: filepath.Join(dir, "build")}
	if _, err := b.Build(ctx, batchApp); err != nil {
		fmt.Fprintln(os.Stderr, "build", batchApp+":", err)
		return 1
	}
	ms, err := minioserver.Start(ctx, minioserver.Config{Binary: filepath.Join(repo, "bin", "minio"), DataDir: filepath.Join(dir, "minio")}, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start MinIO (built by scripts/setup):", err)
		return 1
	}
	defer ms.Stop(context.Background())
	shared.s3Endpoint, shared.s3User, shared.s3Pass = ms.Endpoint(), ms.RootUser(), ms.RootPassword()
	shared.s3, err = minio.New(shared.s3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(shared.s3User, shared.s3Pass, "")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	admin, err := minioadmin.New(minioadmin.Config{Binary: filepath.Join(repo, "bin", "mc"), Endpoint: shared.s3Endpoint, AccessKey: shared.s3User, SecretKey: shared.s3Pass})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, step := range []func() error{
		func() error { return admin.PutUser(ctx, sweepUser, sweepPass) },
		func() error { return admin.PutPolicy(ctx, sweepPolicy, []byte(minioadmin.ListOnlyPolicy)) },
		func() error { return admin.AttachPolicy(ctx, sweepPolicy, sweepUser) },
	} {
		if err := step(); err != nil {
			fmt.Fprintln(os.Stderr, "the connector's MinIO user:", err)
			return 1
		}
	}
	return m.Run()
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the test")
		}
		dir = parent
	}
}

// rig is one test's platform: FerretDB, NATS, the provider running the
// tenant's batch-ingest function, and a connector that sweeps quickly.
type rig struct {
	t      *testing.T
	tenant string
	db     *mongo.Client
	js     jetstream.JetStream
	conn   *connector.Connector
	fnID   string
}

func newRig(t *testing.T, tenant, profileYAML string, mutate func(*connector.Config)) *rig {
	t.Helper()
	log := harness.Logger(t, slog.LevelInfo)
	r := &rig{t: t, tenant: tenant}
	fs, db := harness.FerretDB(t)
	r.db = db
	ns := harness.NATS(t)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if r.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}

	secrets := t.TempDir()
	for f, v := range map[string]string{contract.SecretGatewayUser: "admin", contract.SecretGatewayPassword: "s3cret"} {
		if err := os.WriteFile(filepath.Join(secrets, f), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := provider.New(ctx, provider.Config{DataDir: t.TempDir(), ImagesDir: shared.images, SecretMountPath: secrets,
		ColdStartTimeout: 30 * time.Second, DrainTimeout: 10 * time.Second, StopTimeout: 5 * time.Second,
		ProbeInterval: 200 * time.Millisecond}, log.With("part", "provider"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(func() {
		srv.Close()
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		_ = p.Close(cctx)
	})
	gw, err := gateway.NewFromSecrets(srv.URL, secrets)
	if err != nil {
		t.Fatal(err)
	}
	if err := shared.s3.MakeBucket(ctx, tenant, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	envVars := map[string]string{
		contract.EnvProfile: profileYAML, contract.EnvS3Endpoint: shared.s3Endpoint,
		contract.EnvS3AccessKey: shared.s3User, contract.EnvS3SecretKey: shared.s3Pass,
		contract.EnvMongoURI: fs.URI(), contract.EnvNATSURL: ns.ClientURL(),
		"exec_timeout": "2m", "write_timeout": "2m", "read_timeout": "30s",
	}
	labels := map[string]string{contract.LabelTenant: tenant, contract.LabelScaleMin: "1"}
	ann := map[string]string{contract.AnnotationTopic: "s3:" + tenant}
	fn := tenant + "-batch-ingest"
	if err := gw.Deploy(ctx, types.FunctionDeployment{Service: fn, Image: batchImage, EnvVars: envVars, Labels: &labels, Annotations: &ann}); err != nil {
		t.Fatalf("deploy %s: %v", fn, err)
	}
	r.fnID = fn + ".openfaas-fn"

	cfg := connector.Config{
		NATSURL: ns.ClientURL(), MaxAttempts: 3, BackoffInitial: 200 * time.Millisecond, BackoffMax: time.Second,
		MaxRetryAfter: 2 * time.Second, AckWait: 5 * time.Second, RefreshInterval: 300 * time.Millisecond,
		InvokeTimeout: 2 * time.Minute, MaxConcurrent: 8, MaxAckPending: 64, FetchWait: 300 * time.Millisecond,
		ShutdownTimeout: 10 * time.Second,
		S3Endpoint:      shared.s3Endpoint, S3AccessKey: sweepUser, S3SecretKey: sweepPass,
		SweepInterval: time.Second, SweepAge: 3 * time.Second,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	r.conn, err = connector.New(cfg, gw, log.With("part", "connector"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.conn.EnsureStreams(ctx, r.js); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.conn.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("connector: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("connector did not stop 30s after cancel")
		}
	})
	return r
}

// metric is the value of one series in the connector's metrics, 0 when
// absent.
func (r *rig) metric(series string) float64 {
	r.t.Helper()
	rec := httptest.NewRecorder()
	r.conn.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
