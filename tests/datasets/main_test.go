// Package datasets tests issue 16 end to end, as a tenant sees it, on a
// whole local platform (real MinIO, NATS with authentication, FerretDB,
// the provider, the connector) started with no tenants: a tenant applied
// with `mysimbdp tenant apply -f` and several datasets puts files into
// incoming/<dataset>/ with its own S3 keys and publishes records to
// ingest.<tenant>.<dataset> with its own NATS user; each lands in its
// dataset's collections, with the dataset's quality rules applied and its
// quality metadata in the file reports and GET /function/stats; what
// belongs to no dataset is rejected or dead-lettered with the datasets
// named; and a tenant's own app takes the dataset it declares while the
// platform's app takes the others.
//
// The package shares one platform (starting one takes most of a minute
// on two cores); each test has its own tenant.
package datasets

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/tests/harness"
	"github.com/mysimbdp/mysimbdp/tests/harness/localrig"
)

// env is the platform every test of the package shares.
type env struct {
	st   *localstack.Stack
	data string
	tmp  string // the package's scratch folder (build contexts)
	gw   *gateway.Client
	pl   tenant.Platform
	cli  string // the mysimbdp binary
	repo string
}

var shared struct {
	once sync.Once
	env  *env
	err  error
	stop func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	os.Exit(code)
}

// platform returns the shared platform, starting it on first use. A part
// that cannot start (e.g. no bin/minio or bin/mc) fails the test.
func platform(t *testing.T) *env {
	t.Helper()
	shared.once.Do(func() { shared.env, shared.stop, shared.err = startPlatform() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.env
}

func startPlatform() (*env, func(), error) {
	p, stop, err := localrig.Start("datasets")
	if err != nil {
		return nil, nil, err
	}
	return &env{st: p.Stack, data: p.Data, gw: p.Gateway, pl: p.Tenants, cli: p.CLI, repo: p.Repo, tmp: p.Tmp}, stop, nil
}

// writeProfile writes a tenant's profile and returns its path.
func writeProfile(t *testing.T, name, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mysimbdp runs the CLI against the shared platform's data folder.
func (e *env) mysimbdp(t *testing.T, stdin io.Reader, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.cli, args...)
	cmd.Dir = e.repo // bin/mc
	cmd.Env = append(cleanEnv(), "MYSIMBDP_DATA="+e.data)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cleanEnv drops variables that would point the CLI elsewhere.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "MYSIMBDP_"), strings.HasPrefix(name, "OPENFAAS_"), strings.HasPrefix(name, "NATS_"):
			continue
		}
		out = append(out, kv)
	}
	return out
}

// apply provisions a tenant through the CLI and returns its credentials
// and what the CLI printed.
func (e *env) apply(t *testing.T, name, yaml string) (tenant.Credentials, string) {
	t.Helper()
	path := writeProfile(t, name, yaml)
	out, err := e.mysimbdp(t, nil, "tenant", "apply", "-f", path)
	if err != nil {
		t.Fatalf("tenant apply -f %s: %v\n%s", path, err, out)
	}
	c, err := e.pl.Store.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return c, out
}

// s3As is an S3 client with a tenant's own keys.
func (e *env) s3As(t *testing.T, c tenant.Credentials) *minio.Client {
	t.Helper()
	s3, err := minio.New(e.st.Endpoints.MinIO, &minio.Options{Creds: credentials.NewStaticV4(c.S3AccessKey, c.S3SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return s3
}

// natsAs connects with nothing but the tenant's NATS user and password,
// as its clients do.
func (e *env) natsAs(t *testing.T, c tenant.Credentials) *nats.Conn {
	t.Helper()
	u, err := url.Parse(e.st.Endpoints.NATS)
	if err != nil {
		t.Fatal(err)
	}
	u.User = nil
	nc, _, _ := harness.NATSAs(t, u.String(), nats.UserInfo(c.NATSUser, c.NATSPassword))
	return nc
}

// exists says whether the tenant's bucket holds key (read with the
// platform's rights: what the tenant could see too).
func (e *env) exists(t *testing.T, bucket, key string) (bool, string) {
	t.Helper()
	_, err := e.pl.S3.StatObject(t.Context(), bucket, key, minio.StatObjectOptions{})
	if err == nil {
		return true, ""
	}
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		return false, key + " not there"
	}
	return false, err.Error()
}

// waitObject waits for key to exist in bucket.
func (e *env) waitObject(t *testing.T, bucket, key string, within time.Duration) {
	t.Helper()
	harness.Until(t, within, key+" in bucket "+bucket, func() (bool, string) { return e.exists(t, bucket, key) })
}

// readObject reads key of bucket whole.
func (e *env) readObject(t *testing.T, bucket, key string) []byte {
	t.Helper()
	obj, err := e.pl.S3.GetObject(t.Context(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return b
}

// docs returns every document of db.coll matching filter (nil: all).
func (e *env) docs(t *testing.T, db, coll string, filter any) []bson.M {
	t.Helper()
	if filter == nil {
		filter = bson.D{}
	}
	cur, err := e.pl.Mongo.Database(db).Collection(coll).Find(t.Context(), filter)
	if err != nil {
		t.Fatalf("find in %s.%s: %v", db, coll, err)
	}
	var out []bson.M
	if err := cur.All(t.Context(), &out); err != nil {
		t.Fatalf("read %s.%s: %v", db, coll, err)
	}
	return out
}

// count counts db.coll's documents matching filter (nil: all).
func (e *env) count(t *testing.T, db, coll string, filter any) int64 {
	t.Helper()
	if filter == nil {
		filter = bson.D{}
	}
	n, err := e.pl.Mongo.Database(db).Collection(coll).CountDocuments(t.Context(), filter)
	if err != nil {
		t.Fatalf("count %s.%s: %v", db, coll, err)
	}
	return n
}

// sumInt sums an integer field over docs.
func sumInt(docs []bson.M, field string) int64 {
	var s int64
	for _, d := range docs {
		switch v := d[field].(type) {
		case int32:
			s += int64(v)
		case int64:
			s += v
		case float64:
			s += int64(v)
		}
	}
	return s
}

// stats reads GET /function/stats with the gateway's credentials (the
// operator's): query "?format=json" for JSON, "" for the table.
func (e *env) stats(t *testing.T, query string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.st.Endpoints.Gateway+"/function/stats"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(e.st.Creds.GatewayUser, e.st.Creds.GatewayPassword)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// metrics reads the connector's Prometheus series as name{labels} →
// value.
func (e *env) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.st.Endpoints.Gateway+"/connector/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /connector/metrics answered %s", res.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
