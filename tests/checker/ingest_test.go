package checker_test

import (
	"bytes"
	"context"
	"errors"
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

	"github.com/mysimbdp/mysimbdp/infra/local/minioserver"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/ingest"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// TestPlatformAppAsksTheTenantsChecker: the platform's batch app sends a
// dataset's file to the checker its profile names (the example checker,
// a real function behind the gateway, called with the key `tenant apply`
// mounts) and treats the answer like its own rules: rows of its reject
// rule quarantined with the rule's name, its warn rule counted, the rest
// stored; an unreachable checker makes the file wait, not fail.
func TestPlatformAppAsksTheTenantsChecker(t *testing.T) {
	r := newRig(t)
	repo, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ms, err := minioserver.Start(ctx, minioserver.Config{Binary: filepath.Join(repo, "bin", "minio"), DataDir: t.TempDir()}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Stop(context.Background()) })
	fs, db := harness.FerretDB(t)
	s3, err := minio.New(ms.Endpoint(), &minio.Options{Creds: credentials.NewStaticV4(ms.RootUser(), ms.RootPassword(), "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.MakeBucket(ctx, "tenant1", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	secrets := t.TempDir()
	key := invokesig.FunctionKey([]byte(master), exampleChecker)
	if err := os.WriteFile(filepath.Join(secrets, contract.InvokeKeySecret(exampleChecker)), key, 0o600); err != nil {
		t.Fatal(err)
	}
	// A file-level rule of the profile's too: the rules and the checker
	// see the file in one reading before any row is stored.
	profile := ecdc.Profile("tenant1", ecdc.SourceNames, "quality_checker: {function: "+exampleChecker+", sample: all}\n"+
		"quality: [{name: one_row_per_country_day, unique: [geoId, dateRep], severity: fail-file, max_share: 0.05}]\n")
	batch := func(gatewayURL string) *ingest.Batch {
		vars := map[string]string{
			contract.EnvProfile: profile, contract.EnvS3Endpoint: ms.Endpoint(),
			contract.EnvS3AccessKey: ms.RootUser(), contract.EnvS3SecretKey: ms.RootPassword(),
			contract.EnvMongoURI: fs.URI(), contract.EnvSecretsDir: secrets,
			contract.EnvCheckerFunctions: exampleChecker, contract.EnvGatewayURL: gatewayURL,
		}
		cfg, err := ingest.ConfigFromEnv(func(k string) string { return vars[k] })
		if err != nil {
			t.Fatal(err)
		}
		b, err := ingest.New(cfg, ingest.Options{Log: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close(context.Background()) })
		return b
	}
	put := func(key string, data []byte) events.S3Event {
		info, err := s3.PutObject(ctx, "tenant1", key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return events.S3Event{Records: []events.S3EventRecord{{EventName: "s3:ObjectCreated:Put", S3: events.S3Entity{
			Bucket: events.S3Bucket{Name: "tenant1"}, Object: events.S3Object{Key: url.QueryEscape(key), Size: info.Size, ETag: info.ETag}}}}}
	}
	// 60 rows: two with the country in capitals, one with a spike.
	lines := strings.Split(strings.TrimSpace(string(ecdc.CSV(0, 60))), "\n")
	lines[3] = strings.Replace(lines[3], "Benin", "BENIN", 1) // row 2 (line 4)
	lines[9] = strings.Replace(lines[9], "Benin", "BENIN", 1) // row 8 (line 10)
	parts := strings.Split(lines[20], ",")
	parts[4] = "99999" // row 19 (line 21): cases far over the median
	lines[20] = strings.Join(parts, ",")
	file := []byte(strings.Join(lines, "\n") + "\n")

	// The checker unreachable: the file waits, nothing stored.
	closed := "http://127.0.0.1:9" // discard port: nothing listens
	rep, err := batch(closed).HandleEvent(ctx, put("incoming/wait.csv", file))
	if !errors.Is(err, ingest.ErrUnavailable) || rep.Status == contract.StatusDone {
		t.Errorf("checker unreachable: %v, %+v; want the file deferred as unavailable", err, rep)
	}

	rep, err = batch(r.gwURL).HandleEvent(ctx, put("incoming/checked.csv", file))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != contract.StatusDone || rep.RowsOK != 58 || rep.RowsRejected != 2 {
		t.Fatalf("report %s: %d ok, %d rejected (%s); want 58 and 2; %+v", rep.Status, rep.RowsOK, rep.RowsRejected, rep.Error, rep.Quality)
	}
	q := rep.Quality
	if q == nil || q.RowsChecked != 60 || q.RowsQuarantined != 2 || q.Rules["one_row_per_country_day"].Severity != "fail-file" ||
		q.Rules[exampleChecker+"/country_not_all_caps"].Failures != 2 ||
		q.Rules[exampleChecker+"/cases_within_10x_median"].Failures != 1 || q.Rules[exampleChecker+"/cases_within_10x_median"].Severity != "warn" {
		t.Errorf("quality %+v, want the checker's two rules counted", q)
	}
	coll := db.Database("tenant1").Collection("covid_daily_rejected")
	cur, err := coll.Find(ctx, bson.D{{Key: "file", Value: "incoming/checked.csv"}})
	if err != nil {
		t.Fatal(err)
	}
	var quarantined []struct {
		Line   int    `bson:"line"`
		Reason string `bson:"reason"`
	}
	if err := cur.All(ctx, &quarantined); err != nil {
		t.Fatal(err)
	}
	if len(quarantined) != 2 {
		t.Fatalf("quarantined %+v, want lines 4 and 10", quarantined)
	}
	for _, qr := range quarantined {
		if (qr.Line != 4 && qr.Line != 10) || !strings.HasPrefix(qr.Reason, "quality rule country_not_all_caps of checker tenant1-checker: ") {
			t.Errorf("quarantined %+v", qr)
		}
	}
	if n, err := db.Database("tenant1").Collection("covid_daily").CountDocuments(ctx, bson.D{}); err != nil || n != 58 {
		t.Errorf("%d rows stored (%v), want 58: the spike is only a warning", n, err)
	}
	harness.Until(t, 5*time.Second, "the checked file moved to processed/", func() (bool, string) {
		_, err := s3.StatObject(ctx, "tenant1", "processed/checked.csv", minio.StatObjectOptions{})
		return err == nil, "not yet"
	})
}
