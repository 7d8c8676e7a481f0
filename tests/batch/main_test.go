// Package batch tests batch ingestion against the real parts: a MinIO
// server process, an embedded FerretDB and an embedded NATS, started once
// for the package with their own temporary folders and free ports. The
// tests call shared/ingest directly and through the functions' HTTP
// handlers (httptest); the connector path is covered by the end-to-end
// suite.
package batch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/local/ferret"
	"github.com/mysimbdp/mysimbdp/infra/local/minioserver"
	"github.com/mysimbdp/mysimbdp/infra/local/natsd"
	"github.com/mysimbdp/mysimbdp/shared/ingest"
)

// platform is what TestMain started; read-only once tests run.
type platform struct {
	s3Endpoint, s3User, s3Pass string
	mongoURI, natsURL          string
	s3                         *minio.Client
	db                         *mongo.Client
}

// env is set by TestMain before any test runs and never changed after.
var env platform

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "mysimbdp-batch-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	bin, err := repoFile("bin", "minio")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ms, err := minioserver.Start(ctx, minioserver.Config{Binary: bin, DataDir: filepath.Join(dir, "minio")}, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start MinIO:", err)
		return 1
	}
	defer ms.Stop(context.Background())
	fs, err := ferret.Start(ctx, ferret.Config{DataDir: filepath.Join(dir, "ferret")}, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start FerretDB:", err)
		return 1
	}
	defer fs.Stop()
	ns, err := natsd.Start(ctx, natsd.Config{StoreDir: filepath.Join(dir, "nats")}, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start NATS:", err)
		return 1
	}
	defer ns.Shutdown()

	env = platform{
		s3Endpoint: ms.Endpoint(), s3User: ms.RootUser(), s3Pass: ms.RootPassword(),
		mongoURI: fs.URI(), natsURL: ns.ClientURL(),
	}
	env.s3, err = minio.New(env.s3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(env.s3User, env.s3Pass, "")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.db, err = mongo.Connect(options.Client().ApplyURI(env.mongoURI))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Disconnect before FerretDB stops, so its Stop need not wait for us.
	defer env.db.Disconnect(context.Background())
	return m.Run()
}

// repoFile is a path under the module root (the nearest parent with go.mod).
func repoFile(elem ...string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(append([]string{dir}, elem...)...), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		dir = parent
	}
}

// getenv is the environment a deployed batch function would get.
func getenv(profileYAML string) func(string) string {
	vars := map[string]string{
		"MYSIMBDP_PROFILE":       profileYAML,
		"MYSIMBDP_S3_ENDPOINT":   env.s3Endpoint,
		"MYSIMBDP_S3_ACCESS_KEY": env.s3User,
		"MYSIMBDP_S3_SECRET_KEY": env.s3Pass,
		"MYSIMBDP_MONGO_URI":     env.mongoURI,
		"MYSIMBDP_NATS_URL":      env.natsURL,
	}
	return func(k string) string { return vars[k] }
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newBatch builds a Batch for the profile and makes the tenant's bucket.
func newBatch(t testing.TB, profileYAML string) *ingest.Batch {
	t.Helper()
	return newBatchFrom(t, getenv(profileYAML))
}

// newBatchFrom builds a Batch from an environment and makes its bucket.
func newBatchFrom(t testing.TB, getenv func(string) string) *ingest.Batch {
	t.Helper()
	cfg, err := ingest.ConfigFromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ingest.New(cfg, ingest.Options{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	makeBucket(t, b.Profile().Bucket())
	return b
}

func makeBucket(t testing.TB, name string) {
	t.Helper()
	ctx := context.Background()
	ok, err := env.s3.BucketExists(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		if err := env.s3.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
			t.Fatalf("make bucket %s: %v", name, err)
		}
	}
}

// put uploads data and returns the S3 event MinIO would publish for it.
func put(t testing.TB, bucket, key string, data []byte) events.S3Event {
	t.Helper()
	info, err := env.s3.PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return event(bucket, key, info.ETag, info.Size)
}

// event is an S3 event as MinIO sends it: the key URL-encoded.
func event(bucket, key, etag string, size int64) events.S3Event {
	return events.S3Event{Records: []events.S3EventRecord{{
		EventVersion: "2.0", EventSource: "minio:s3", EventName: "s3:ObjectCreated:Put",
		EventTime: time.Now().UTC(),
		S3: events.S3Entity{
			Bucket: events.S3Bucket{Name: bucket},
			Object: events.S3Object{Key: url.QueryEscape(key), Size: size, ETag: etag},
		},
	}}}
}

// exists reports whether the object is in the bucket.
func exists(t testing.TB, bucket, key string) bool {
	t.Helper()
	_, err := env.s3.StatObject(context.Background(), bucket, key, minio.StatObjectOptions{})
	if err == nil {
		return true
	}
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		return false
	}
	t.Fatalf("stat %s/%s: %v", bucket, key, err)
	return false
}

func count(t testing.TB, db, coll string, filter bson.D) int64 {
	t.Helper()
	if filter == nil {
		filter = bson.D{}
	}
	n, err := env.db.Database(db).Collection(coll).CountDocuments(context.Background(), filter)
	if err != nil {
		t.Fatalf("count %s.%s: %v", db, coll, err)
	}
	return n
}

func readAll(t testing.TB, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
