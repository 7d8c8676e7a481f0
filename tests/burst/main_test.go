// Package burst tests batch ingestion under a burst of files and a store
// outage through the connector and the batch-ingest function as a process
// run by the provider, with real MinIO, NATS and FerretDB (each test its
// own, with its own folders and ports). S3 events are published to the
// S3 events stream by the test, as MinIO would publish them.
package burst

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/minio/minio-go/v7"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/connector"
	"github.com/mysimbdp/mysimbdp/infra/local/ferret"
	"github.com/mysimbdp/mysimbdp/infra/local/freeport"
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
	dir, err := os.MkdirTemp("", "mysimbdp-burst-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	repo, err := harness.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	shared.images, err = harness.BuildPlatformApps(ctx, repo, dir, batchApp)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ms, s3, err := harness.StartMinIO(ctx, repo, dir, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer ms.Stop(context.Background())
	shared.s3 = s3
	shared.s3Endpoint, shared.s3User, shared.s3Pass = ms.Endpoint(), ms.RootUser(), ms.RootPassword()
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

// rig is one test's platform: FerretDB on a fixed address (so it can be
// stopped and started again), NATS, the provider running the tenant's
// batch-ingest function, and a connector that sweeps with its list-only
// MinIO user.
type rig struct {
	t       *testing.T
	tenant  string
	ferret  *ferret.Server
	fcfg    ferret.Config
	db      *mongo.Client
	js      jetstream.JetStream
	conn    *connector.Connector
	fnID    string
	stopped bool
}

// connectorConfig: attempts few and quick, so that a spent attempt shows
// as a dead letter within the test.
func connectorConfig(natsURL string) connector.Config {
	return connector.Config{
		NATSURL: natsURL, MaxAttempts: 3, BackoffInitial: 200 * time.Millisecond, BackoffMax: time.Second,
		MaxRetryAfter: 2 * time.Second, AckWait: 5 * time.Second, RefreshInterval: 300 * time.Millisecond,
		InvokeTimeout: 5 * time.Minute, MaxConcurrent: 16, MaxAckPending: 256, FetchWait: 300 * time.Millisecond,
		ShutdownTimeout: 10 * time.Second,
		S3Endpoint:      shared.s3Endpoint, S3AccessKey: sweepUser, S3SecretKey: sweepPass,
	}
}

// newRig starts a rig; mutate, if not nil, changes the connector's
// configuration first.
func newRig(t *testing.T, tenant, profileYAML string, mutate func(*connector.Config)) *rig {
	t.Helper()
	log := harness.Logger(t, slog.LevelWarn)
	r := &rig{t: t, tenant: tenant}
	r.fcfg = ferret.Config{Listen: "127.0.0.1:" + strconv.Itoa(freeport.MustGet()), DataDir: t.TempDir()}
	r.startStore()
	t.Cleanup(func() {
		if !r.stopped {
			r.ferret.Stop()
		}
	})
	var err error
	r.db, err = mongo.Connect(options.Client().ApplyURI("mongodb://" + r.fcfg.Listen + "/"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.db.Disconnect(context.Background()) })
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
		contract.EnvMongoURI: "mongodb://" + r.fcfg.Listen + "/", contract.EnvNATSURL: ns.ClientURL(),
		"exec_timeout": "5m", "write_timeout": "5m", "read_timeout": "30s",
	}
	labels := map[string]string{contract.LabelTenant: tenant, contract.LabelScaleMin: "1"}
	ann := map[string]string{contract.AnnotationTopic: "s3:" + tenant}
	fn := tenant + "-batch-ingest"
	if err := gw.Deploy(ctx, types.FunctionDeployment{Service: fn, Image: batchImage, EnvVars: envVars, Labels: &labels, Annotations: &ann}); err != nil {
		t.Fatalf("deploy %s: %v", fn, err)
	}
	r.fnID = fn + ".openfaas-fn"

	cfg := connectorConfig(ns.ClientURL())
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
	harness.Run(t, "connector", r.conn.Run)
	return r
}

func (r *rig) startStore() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs, err := ferret.Start(ctx, r.fcfg, harness.Logger(r.t, slog.LevelError))
	if err != nil {
		r.t.Fatalf("start FerretDB: %v", err)
	}
	r.ferret, r.stopped = fs, false
}

func (r *rig) stopStore() {
	r.ferret.Stop()
	r.stopped = true
}

// upload puts a file into the tenant's incoming/ and publishes its event
// to the S3 events stream, as MinIO does.
func (r *rig) upload(key string, data []byte) {
	r.t.Helper()
	info := r.put(key, data)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev := events.S3Event{Records: []events.S3EventRecord{{
		EventVersion: "2.0", EventSource: "minio:s3", EventName: "s3:ObjectCreated:Put", EventTime: time.Now().UTC(),
		S3: events.S3Entity{Bucket: events.S3Bucket{Name: r.tenant},
			Object: events.S3Object{Key: url.QueryEscape(key), Size: info.Size, ETag: info.ETag}},
	}}}
	body, err := json.Marshal(ev)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.js.Publish(ctx, contract.S3EventsSubject, body); err != nil {
		r.t.Fatalf("publish the event of %s: %v", key, err)
	}
}

// put puts a file into the tenant's incoming/ with no event: as if MinIO's
// notification were lost.
func (r *rig) put(key string, data []byte) minio.UploadInfo {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := shared.s3.PutObject(ctx, r.tenant, key, strings.NewReader(string(data)), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		r.t.Fatalf("put %s: %v", key, err)
	}
	return info
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

// reports reads the report beside each key in processed/ or rejected/;
// missing ones are left out.
func (r *rig) reports(keys []string) map[string]contract.BatchReport {
	r.t.Helper()
	out := map[string]contract.BatchReport{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, k := range keys {
		for _, st := range []contract.Status{contract.StatusDone, contract.StatusRejected} {
			dst := strings.Replace(k, "incoming/", map[contract.Status]string{contract.StatusDone: "processed/", contract.StatusRejected: "rejected/"}[st], 1)
			obj, err := shared.s3.GetObject(ctx, r.tenant, dst+".report.json", minio.GetObjectOptions{})
			if err != nil {
				continue
			}
			var rep contract.BatchReport
			if err := json.NewDecoder(obj).Decode(&rep); err == nil {
				out[k] = rep
			}
			obj.Close()
		}
	}
	return out
}

// awaitAll waits until every key has its report, and checks that each
// left incoming/.
func (r *rig) awaitAll(keys []string, within time.Duration) map[string]contract.BatchReport {
	r.t.Helper()
	var reps map[string]contract.BatchReport
	harness.Until(r.t, within, "every file to reach processed/ or rejected/", func() (bool, string) {
		reps = r.reports(keys)
		return len(reps) == len(keys), fmt.Sprintf("%d of %d files have their report", len(reps), len(keys))
	})
	return reps
}

// deadLetters counts the tenant's dead letters.
func (r *rig) deadLetters() uint64 {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := r.js.Stream(ctx, contract.DeadLetterStream)
	if err != nil {
		r.t.Fatalf("dead-letter stream: %v", err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(contract.DeadLetterSubject(contract.DeadLetterSubjectPrefix, r.tenant)))
	if err != nil {
		r.t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}
