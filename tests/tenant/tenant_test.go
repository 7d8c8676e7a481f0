package tenant

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/infra/minioadmin"
	"github.com/mysimbdp/mysimbdp/infra/natsauth"
	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/secret"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// s3As is an S3 client with a tenant's credentials.
func (e *env) s3As(t *testing.T, accessKey, secretKey string) *minio.Client {
	t.Helper()
	c, err := minio.New(e.st.Endpoints.MinIO, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// natsAs connects as a tenant, the way a tenant's client does (nothing
// but its user and password), collecting the server's asynchronous errors.
func (e *env) natsAs(t *testing.T, c tenant.Credentials) (*nats.Conn, chan error, chan struct{}) {
	t.Helper()
	return harness.NATSAs(t, e.natsURL(t), nats.UserInfo(c.NATSUser, c.NATSPassword))
}

// natsURL is the NATS URL without the platform's credentials, as a
// tenant is given it.
func (e *env) natsURL(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(e.st.Endpoints.NATS)
	if err != nil {
		t.Fatal(err)
	}
	u.User = nil
	return u.String()
}

func wantViolation(t *testing.T, errs chan error, subject string) {
	t.Helper()
	select {
	case err := <-errs:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") || !strings.Contains(err.Error(), subject) {
			t.Errorf("got %v, want a permissions violation on %s", err, subject)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("no permissions violation on %s within 10s", subject)
	}
}

func accessDenied(err error) bool {
	return err != nil && minio.ToErrorResponse(err).Code == "AccessDenied"
}

func (e *env) countRows(t *testing.T, db, coll string) int64 {
	t.Helper()
	n, err := e.pl.Mongo.Database(db).Collection(coll).CountDocuments(t.Context(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) tenantFunctions(t *testing.T, name string) []types.FunctionStatus {
	t.Helper()
	fns, err := e.gw.Functions(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	var out []types.FunctionStatus
	for _, fn := range fns {
		if fn.Labels != nil && (*fn.Labels)[contract.LabelTenant] == name {
			out = append(out, fn)
		}
	}
	return out
}

func TestIsolation(t *testing.T) {
	e := platform(t)
	ctx := t.Context()
	alpha, out := e.apply(t, profileFile(t, "alpha", ""))
	for _, want := range []string{"credentials (shown once", alpha.S3SecretKey, alpha.NATSPassword, "alpha-batch-ingest, alpha-stream-ingest"} {
		if !strings.Contains(out, want) {
			t.Errorf("first apply's output lacks %q:\n%s", want, out)
		}
	}
	bravo, _ := e.apply(t, profileFile(t, "bravo", ""))
	// A profile naming another tenant's database is refused.
	steal := filepath.Join(t.TempDir(), "kilo.yaml")
	if err := os.WriteFile(steal, []byte(strings.Replace(tenantProfile("kilo", ""), "sink:\n", "sink:\n  database: bravo\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := e.mysimbdp(t, "tenant", "apply", "-f", steal); err == nil || !strings.Contains(out, `sink.database: "bravo" is tenant bravo's database`) {
		t.Errorf("apply of a profile with bravo's database: %v\n%s", err, out)
	}
	e.wantNothingOf(t, "kilo", false)
	if _, err := e.pl.S3.PutObject(ctx, "bravo", "private/data.txt", strings.NewReader("bravo's"), 7, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("S3", func(t *testing.T) {
		s3 := e.s3As(t, alpha.S3AccessKey, alpha.S3SecretKey)
		if _, err := s3.PutObject(ctx, "alpha", "private/a.txt", strings.NewReader("alpha's"), 7, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("alpha writes its own bucket: %v", err)
		}
		for obj := range s3.ListObjects(ctx, "alpha", minio.ListObjectsOptions{Prefix: "private/"}) {
			if obj.Err != nil {
				t.Fatalf("alpha lists its own bucket: %v", obj.Err)
			}
		}
		for _, tc := range []struct {
			name string
			do   func() error
		}{
			{"list another bucket", func() error {
				for obj := range s3.ListObjects(ctx, "bravo", minio.ListObjectsOptions{}) {
					return obj.Err
				}
				return nil
			}},
			{"read another bucket", func() error {
				_, err := s3.StatObject(ctx, "bravo", "private/data.txt", minio.StatObjectOptions{})
				return err
			}},
			{"write another bucket", func() error {
				_, err := s3.PutObject(ctx, "bravo", "incoming/x.csv", strings.NewReader("x"), 1, minio.PutObjectOptions{})
				return err
			}},
			{"create a bucket", func() error { return s3.MakeBucket(ctx, "alpha-extra", minio.MakeBucketOptions{}) }},
		} {
			if err := tc.do(); !accessDenied(err) {
				t.Errorf("%s with alpha's credentials: %v, want AccessDenied", tc.name, err)
			}
		}
		// MinIO filters the bucket list to what the user may reach.
		buckets, err := s3.ListBuckets(ctx)
		if err != nil || len(buckets) != 1 || buckets[0].Name != "alpha" {
			t.Errorf("alpha's bucket list: %v (%v), want [alpha]", buckets, err)
		}
	})

	t.Run("NATS", func(t *testing.T) {
		nc, errs, _ := e.natsAs(t, alpha)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, "ingest.alpha.isolation", ecdc.JSON(1)); err != nil {
			t.Fatalf("alpha publishes its own record: %v", err)
		}
		if err := nc.Publish("ingest.bravo.isolation", ecdc.JSON(2)); err != nil {
			t.Fatal(err)
		}
		wantViolation(t, errs, "ingest.bravo.isolation")
		if _, err := nc.SubscribeSync("ingest.bravo.>"); err != nil {
			t.Fatal(err)
		}
		wantViolation(t, errs, "ingest.bravo.>")
		if _, err := nc.SubscribeSync(natsauth.InboxPrefix("bravo") + ".>"); err != nil {
			t.Fatal(err)
		}
		wantViolation(t, errs, "_INBOX_bravo.>")
		st, err := e.pl.JetStream.Stream(ctx, contract.TenantStream("bravo"))
		if err != nil {
			t.Fatal(err)
		}
		if n := st.CachedInfo().State.Msgs; n != 0 {
			t.Errorf("bravo's stream holds %d messages after alpha's attempts, want 0", n)
		}
		// bravo's credentials do not open alpha's user.
		if nc, err := nats.Connect(e.natsURL(t), nats.UserInfo(alpha.NATSUser, bravo.NATSPassword)); err == nil {
			nc.Close()
			t.Error("alpha's NATS user accepted bravo's password")
		}
	})

	t.Run("functions", func(t *testing.T) {
		fns := e.tenantFunctions(t, "alpha")
		var names []string
		for _, fn := range fns {
			names = append(names, fn.Name)
			// Its own invocation key besides (signed invocations): the
			// function's, no other's.
			if !slices.Equal(fn.Secrets, []string{"alpha-profile", "alpha-credentials", fn.Name + "-invoke-key"}) || fn.EnvVars["MYSIMBDP_PROFILE_SECRET"] != "alpha-profile" ||
				fn.EnvVars["MYSIMBDP_CREDENTIALS_SECRET"] != "alpha-credentials" || fn.EnvVars["MYSIMBDP_INVOKE_KEY_SECRET"] != fn.Name+"-invoke-key" {
				t.Errorf("%s: secrets %v, profile secret %q, credentials secret %q, invocation key secret %q; want alpha's only", fn.Name, fn.Secrets,
					fn.EnvVars["MYSIMBDP_PROFILE_SECRET"], fn.EnvVars["MYSIMBDP_CREDENTIALS_SECRET"], fn.EnvVars["MYSIMBDP_INVOKE_KEY_SECRET"])
			}
			for k, v := range fn.EnvVars {
				if strings.Contains(v, "bravo") || v == e.st.Creds.MinIOPassword {
					t.Errorf("%s: env %s=%q names another tenant or holds MinIO's root password", fn.Name, k, v)
				}
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"alpha-batch-ingest", "alpha-stream-ingest"}) {
			t.Fatalf("alpha's functions %v", names)
		}
		// The functions' credentials secret, as the provider keeps it.
		raw, err := os.ReadFile(filepath.Join(e.data, "provider", "secrets", "openfaas-fn", "alpha-credentials"))
		if err != nil {
			t.Fatal(err)
		}
		creds, err := secret.ParseEnv(raw)
		if err != nil {
			t.Fatal(err)
		}
		if creds["MYSIMBDP_S3_ACCESS_KEY"] != alpha.S3AccessKey {
			t.Errorf("alpha's functions' S3 user %q, want %q", creds["MYSIMBDP_S3_ACCESS_KEY"], alpha.S3AccessKey)
		}
		// Their NATS user is alpha's functions', which may publish only
		// alpha's reports: not the platform's.
		fnURL, err := url.Parse(creds["MYSIMBDP_NATS_URL"])
		if err != nil || fnURL.User.Username() != natsauth.FunctionUser("alpha") {
			t.Fatalf("alpha's functions' NATS URL has user %v (%v), want %s", fnURL.User, err, natsauth.FunctionUser("alpha"))
		}
		fn, fnErrs, _ := harness.NATSAs(t, creds["MYSIMBDP_NATS_URL"])
		for _, subject := range []string{"mysimbdp.reports.bravo", "$JS.API.STREAM.NAMES", "$KV.mysimbdp-control.paused.bravo"} {
			if err := fn.Publish(subject, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			wantViolation(t, fnErrs, subject)
		}
		// What the function holds reaches only alpha's bucket.
		s3 := e.s3As(t, creds["MYSIMBDP_S3_ACCESS_KEY"], creds["MYSIMBDP_S3_SECRET_KEY"])
		if _, err := s3.StatObject(ctx, "bravo", "private/data.txt", minio.StatObjectOptions{}); !accessDenied(err) {
			t.Errorf("alpha's function credentials read bravo's object: %v, want AccessDenied", err)
		}
		// And it ingests with them: an upload lands in alpha's database
		// only, and the file moves to processed/.
		csv := ecdc.CSV(0, 50)
		up := e.s3As(t, alpha.S3AccessKey, alpha.S3SecretKey)
		if _, err := up.PutObject(ctx, "alpha", "incoming/day1.csv", bytes.NewReader(csv), int64(len(csv)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "50 rows in alpha.covid_daily", 2*time.Minute, func() (bool, error) {
			return e.countRows(t, "alpha", "covid_daily") == 50, nil
		})
		waitFor(t, "day1.csv moved to processed/", time.Minute, func() (bool, error) {
			_, err := up.StatObject(ctx, "alpha", "processed/day1.csv", minio.StatObjectOptions{})
			return err == nil, err
		})
		if n := e.countRows(t, "bravo", "covid_daily"); n != 0 {
			t.Errorf("bravo's database holds %d rows after alpha's upload, want 0", n)
		}
		// Its report, published as alpha's functions' user, reached the
		// platform's reports stream.
		waitFor(t, "alpha's report in "+contract.ReportsStream, time.Minute, func() (bool, error) {
			st, err := e.pl.JetStream.Stream(ctx, contract.ReportsStream)
			if err != nil {
				return false, err
			}
			subject := contract.ReportSubject(contract.ReportSubjectPrefix, "alpha")
			info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
			if err != nil {
				return false, err
			}
			return info.State.Subjects[subject] >= 1, nil
		})
	})
}

func TestSystemNeedsAuth(t *testing.T) {
	e := platform(t)
	for _, tc := range []struct{ name, user, pass string }{
		{"no credentials", "", ""},
		{"wrong password", e.st.Creds.GatewayUser, "wrong"},
	} {
		for _, path := range []string{"/system/functions", "/system/secrets", "/system/info", "/system/namespaces"} {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.st.Endpoints.Gateway+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: GET %s answered %d, want 401", tc.name, path, resp.StatusCode)
			}
		}
	}
}

// snapshot is what apply provisions, as the parts report it.
type snapshot struct {
	Functions   map[string]types.FunctionStatus
	Stream      jetstream.StreamConfig
	Created     time.Time
	Quota       uint64
	Policy      string
	Credentials tenant.Credentials
	NATSUsers   string
}

func (e *env) snapshot(t *testing.T, name string) snapshot {
	t.Helper()
	ctx := t.Context()
	s := snapshot{Functions: map[string]types.FunctionStatus{}}
	for _, fn := range e.tenantFunctions(t, name) {
		fn.InvocationCount, fn.AvailableReplicas, fn.Usage = 0, 0, nil
		s.Functions[fn.Name] = fn
	}
	st, err := e.pl.JetStream.Stream(ctx, contract.TenantStream(name))
	if err != nil {
		t.Fatal(err)
	}
	s.Stream, s.Created = st.CachedInfo().Config, st.CachedInfo().Created
	if s.Quota, err = e.pl.Admin.Quota(ctx, name); err != nil {
		t.Fatal(err)
	}
	u, err := e.pl.Admin.User(ctx, tenant.S3User(name))
	if err != nil {
		t.Fatal(err)
	}
	s.Policy = u.PolicyName
	if s.Credentials, err = e.pl.Store.Load(name); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(e.data, "secrets", "nats", "tenant-users.json"))
	if err != nil {
		t.Fatal(err)
	}
	s.NATSUsers = string(raw)
	return s
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestApplyIsIdempotentAndUpdatesQuota(t *testing.T) {
	e := platform(t)
	ctx := t.Context()
	small := profileFile(t, "charlie", "storage:\n  max_bytes: 1MiB\n")
	c, _ := e.apply(t, small)
	before := e.snapshot(t, "charlie")
	if before.Quota != 1<<20 || before.Policy != tenant.S3Policy("charlie") || len(before.Functions) != 2 {
		t.Fatalf("after apply: quota %d, policy %q, functions %d; want 1MiB, %s, 2", before.Quota, before.Policy, len(before.Functions), tenant.S3Policy("charlie"))
	}
	_, _, closed := e.natsAs(t, c)

	out, err := e.mysimbdp(t, "tenant", "apply", "-f", small)
	if err != nil {
		t.Fatalf("second apply: %v\n%s", err, out)
	}
	if !strings.Contains(out, "credentials unchanged") || strings.Contains(out, c.S3SecretKey) {
		t.Errorf("second apply shows the credentials again:\n%s", out)
	}
	if after := e.snapshot(t, "charlie"); !reflect.DeepEqual(before, after) {
		t.Errorf("second apply changed the tenant:\nbefore %+v\nafter  %+v", before, after)
	}
	select {
	case <-closed:
		t.Error("second apply closed the tenant's NATS connection")
	default:
	}

	// The 1 MiB quota is in force: a 2 MiB object is refused.
	s3 := e.s3As(t, c.S3AccessKey, c.S3SecretKey)
	obj := randomBytes(t, 2<<20)
	put := func() error {
		_, err := s3.PutObject(ctx, "charlie", "private/big.bin", bytes.NewReader(obj), int64(len(obj)), minio.PutObjectOptions{})
		return err
	}
	if err := put(); err == nil || !strings.Contains(err.Error(), "quota") {
		t.Fatalf("2 MiB into a 1 MiB bucket: %v, want a quota error", err)
	}

	// An edited profile updates in place: the new quota holds, the
	// functions roll to the new profile, the credentials stay.
	big := filepath.Join(filepath.Dir(small), "edited", "charlie.yaml")
	if err := os.MkdirAll(filepath.Dir(big), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, []byte(tenantProfile("charlie", "storage:\n  max_bytes: 8MiB\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	e.apply(t, big)
	edited := e.snapshot(t, "charlie")
	if edited.Quota != 8<<20 {
		t.Errorf("quota after edit %d, want %d", edited.Quota, 8<<20)
	}
	if edited.Credentials != before.Credentials || edited.NATSUsers != before.NATSUsers {
		t.Error("editing the profile changed the tenant's credentials")
	}
	for name, fn := range edited.Functions {
		if (*fn.Annotations)[contract.AnnotationProfileDigest] == (*before.Functions[name].Annotations)[contract.AnnotationProfileDigest] {
			t.Errorf("%s still carries the old profile's digest", name)
		}
	}
	if err := put(); err != nil {
		t.Errorf("2 MiB into an 8 MiB bucket: %v", err)
	}
}

func TestMalformedProfileProvisionsNothing(t *testing.T) {
	e := platform(t)
	for _, tc := range []struct {
		name, tenant, yaml, field string
	}{
		{"size", "delta-bad", tenantProfile("delta-bad", "storage:\n  max_bytes: lots\n"), "storage.max_bytes"},
		{"app source", "echo-bad", tenantProfile("echo-bad", "apps:\n  batch: mine\n"), "apps.batch"},
		{"scaling", "fox-bad", tenantProfile("fox-bad", "scaling:\n  min: 5\n  max: 2\n"), "scaling"},
		{"platform database", "juliet-bad", strings.Replace(tenantProfile("juliet-bad", ""), "sink:\n", "sink:\n  database: mysimbdp\n", 1), "sink.database"},
		{"unknown field", "golf-bad", tenantProfile("golf-bad", "storage:\n  max_byte: 1GB\n"), "storage.max_byte"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.tenant+".yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := e.mysimbdp(t, "tenant", "apply", "-f", path)
			if err == nil {
				t.Fatalf("a malformed profile was applied:\n%s", out)
			}
			if !strings.Contains(out, tc.field) {
				t.Errorf("error does not name %s:\n%s", tc.field, out)
			}
			e.wantNothingOf(t, tc.tenant, false)
		})
	}
}

// wantNothingOf checks that nothing of tenant runs or answers; with
// dataKept its bucket, stream and database are expected to remain.
func (e *env) wantNothingOf(t *testing.T, name string, dataKept bool) {
	t.Helper()
	ctx := t.Context()
	if fns := e.tenantFunctions(t, name); len(fns) != 0 {
		t.Errorf("%s still has %d functions", name, len(fns))
	}
	secrets, err := e.gw.Secrets(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(secrets, contract.ProfileSecret(name)) {
		t.Errorf("%s's profile secret is still there", name)
	}
	for _, s := range secrets {
		if strings.HasPrefix(s, name+"-") && s == contract.InvokeKeySecret(strings.TrimSuffix(s, "-invoke-key")) {
			t.Errorf("%s's function's invocation key %s is still there", name, s)
		}
	}
	if _, err := e.pl.Admin.User(ctx, tenant.S3User(name)); !minioadmin.IsNotFound(err) {
		t.Errorf("%s's MinIO user: %v, want not found", name, err)
	}
	users, err := natsauth.List(ctx, e.pl.NATS)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(users, name) {
		t.Errorf("%s still has a NATS user", name)
	}
	if _, err := os.Stat(filepath.Join(e.data, "tenants", name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s's credentials are still stored: %v", name, err)
	}
	exists, err := e.pl.S3.BucketExists(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.pl.JetStream.Stream(ctx, contract.TenantStream(name))
	if dataKept {
		if !exists || err != nil {
			t.Errorf("%s's data not kept: bucket %v, stream %v", name, exists, err)
		}
		if err == nil {
			for ci := range st.ListConsumers(ctx).Info() {
				t.Errorf("%s's stream still has consumer %s", name, ci.Name)
			}
		}
		return
	}
	if exists {
		t.Errorf("%s still has a bucket", name)
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("%s's stream: %v, want not found", name, err)
	}
	dbs, err := e.pl.Mongo.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(dbs, name) {
		t.Errorf("%s still has a database", name)
	}
}

func TestRemove(t *testing.T) {
	e := platform(t)
	ctx := t.Context()
	d, _ := e.apply(t, profileFile(t, "delta", ""))

	// Records through the stream function (so the connector has a
	// consumer on the tenant's stream) and a kept object.
	nc, _, closed := e.natsAs(t, d)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := js.Publish(ctx, "ingest.delta.covid", ecdc.JSON(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "3 rows in delta.covid_daily", 2*time.Minute, func() (bool, error) {
		return e.countRows(t, "delta", "covid_daily") == 3, nil
	})
	s3 := e.s3As(t, d.S3AccessKey, d.S3SecretKey)
	if _, err := s3.PutObject(ctx, "delta", "private/keep.txt", strings.NewReader("keep"), 4, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}

	out, err := e.mysimbdp(t, "tenant", "remove", "delta", "--keep-data")
	if err != nil {
		t.Fatalf("tenant remove --keep-data: %v\n%s", err, out)
	}
	e.wantNothingOf(t, "delta", true)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Error("delta's NATS connection still open 10s after remove")
	}
	if _, err := s3.StatObject(ctx, "delta", "private/keep.txt", minio.StatObjectOptions{}); err == nil || minio.ToErrorResponse(err).Code != "InvalidAccessKeyId" && !accessDenied(err) {
		t.Errorf("delta's S3 credentials after remove: %v, want refused", err)
	}
	if _, err := e.pl.S3.StatObject(ctx, "delta", "private/keep.txt", minio.StatObjectOptions{}); err != nil {
		t.Errorf("--keep-data lost the object: %v", err)
	}
	if n := e.countRows(t, "delta", "covid_daily"); n != 3 {
		t.Errorf("--keep-data: delta's database holds %d rows, want 3", n)
	}
	list, err := e.mysimbdp(t, "tenant", "list")
	if err != nil || !strings.Contains(list, "removed (data kept)") {
		t.Errorf("tenant list after remove --keep-data (%v):\n%s", err, list)
	}

	// Removing again without --keep-data deletes the data.
	if out, err := e.mysimbdp(t, "tenant", "remove", "delta"); err != nil {
		t.Fatalf("tenant remove: %v\n%s", err, out)
	}
	e.wantNothingOf(t, "delta", false)
}

// TestListShowsState: a tenant whose parts were removed behind the
// platform's back shows as incomplete, naming what is missing.
func TestListShowsState(t *testing.T) {
	e := platform(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	e.apply(t, profileFile(t, "hotel", ""))
	out, err := e.mysimbdp(t, "tenant", "list")
	if err != nil || !lineHas(out, "hotel", "ready") {
		t.Fatalf("tenant list (%v):\n%s", err, out)
	}
	if err := e.gw.Delete(ctx, "hotel-stream-ingest", ""); err != nil {
		t.Fatal(err)
	}
	out, err = e.mysimbdp(t, "tenant", "list")
	if err != nil || !lineHas(out, "hotel", "incomplete (missing function hotel-stream-ingest)") {
		t.Errorf("tenant list after deleting a function (%v):\n%s", err, out)
	}
	if out, err := e.mysimbdp(t, "tenant", "remove", "hotel"); err != nil {
		t.Fatalf("tenant remove: %v\n%s", err, out)
	}
	e.wantNothingOf(t, "hotel", false)
}

func lineHas(out, name, want string) bool {
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, name+" ") && strings.Contains(line, want) {
			return true
		}
	}
	return false
}

// TestExplicitEndpoints drives `mysimbdp tenant` the way an operator does
// against production: every endpoint and credential from flags, and a data
// folder that holds no local stack (only the tenants' credentials).
func TestExplicitEndpoints(t *testing.T) {
	e := platform(t)
	data := t.TempDir()
	u, err := url.Parse(e.st.Endpoints.NATS)
	if err != nil {
		t.Fatal(err)
	}
	natsPassword, _ := u.User.Password()
	flags := []string{"--data", data,
		"--gateway", e.st.Endpoints.Gateway, "--username", e.st.Creds.GatewayUser, "--password", e.st.Creds.GatewayPassword,
		"--s3-endpoint", e.st.Endpoints.MinIO, "--s3-access-key", e.st.Creds.MinIOUser, "--s3-secret-key", e.st.Creds.MinIOPassword,
		"--nats", e.natsURL(t), "--nats-user", u.User.Username(), "--nats-password", natsPassword,
		"--mongo-uri", e.st.Endpoints.MongoURI, "--mc-bin", filepath.Join(e.repo, "bin", "mc")}
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, e.cli, append(args, flags...)...)
		cmd.Dir = t.TempDir() // nothing found by relative paths
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mysimbdp %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := run("tenant", "apply", "-f", profileFile(t, "india", ""))
	if !strings.Contains(out, "credentials (shown once; kept in "+filepath.Join(data, "tenants", "india")) {
		t.Errorf("apply output:\n%s", out)
	}
	if strings.Contains(out, natsPassword) {
		t.Errorf("apply printed the platform's NATS password:\n%s", out)
	}
	if fns := e.tenantFunctions(t, "india"); len(fns) != 2 {
		t.Errorf("india has %d functions, want 2", len(fns))
	}
	if out := run("tenant", "list"); !lineHas(out, "india", "ready") {
		t.Errorf("tenant list:\n%s", out)
	}
	run("tenant", "remove", "india")
	e.wantNothingOf(t, "india", false)
	if _, err := os.Stat(filepath.Join(data, "tenants", "india")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("india's credentials still stored in %s: %v", data, err)
	}
}
