// Package adversary attacks a whole local platform from outside, as
// someone who reaches its endpoints would: with no credentials at all,
// and as tenant1 with every credential tenant1 holds (its S3 keys, NATS
// user, stats token, and its functions' invocation keys, which its own
// code can read) against tenant2 and the platform. Each attack must be
// refused, and afterwards tenant2's rows (count and sum in MongoDB), its
// stream and the platform's control bucket must be as they were.
//
//   - http_test.go: forged, cross-signed and replayed invocations, forged
//     reports, stats readers, another tenant's bucket;
//   - nats_test.go: tenant1's clients and its functions' NATS user against
//     tenant2's subjects, inboxes and reports, the JetStream API and the
//     control bucket, directly and through reply subjects;
//   - datafolder_test.go: an app of tenant1's reading the data folder;
//   - leaks_test.go: no secret in API answers, logs or command lines.
//
// One platform serves the whole package: TestMain runs `mysimbdp up` as a
// child process (tests/harness.StartUp) on a temporary data folder with
// the repo's stack.yml and tenants, seeds tenant2 with a file of rows, and
// stops it when the tests are done. The platform's own credentials are
// used only to observe (read the stores), never to attack.
package adversary

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// The victim, as tenants/tenant2.yaml makes it, and the attacker.
const (
	victim          = "tenant2"
	victimDB        = "tenant2"
	victimBatchColl = "ecdc_by_app" // its own batch app's (functions/tenant2-batch)
	victimColl      = "ecdc_cases"  // its stream function's (the profile's sink)
	victimStream    = "ingest-tenant2"
	attacker        = "tenant1"
	attackerDB      = "tenant1"
	attackerColl    = "covid_daily"
	seedKey         = "seed.csv"
	seedObject      = "incoming/" + seedKey
	seedRows        = 40
	controlBucket   = "mysimbdp-control"
	reportsCollName = "stats_reports"
	platformDB      = "mysimbdp"
)

// rig is the platform TestMain started, and what the tests attack and
// observe it with.
var rig struct {
	up   *harness.Up
	data string
	e    localstack.Endpoints
	// attacker's and victim's credentials, as `tenant apply` gave them.
	t1, t2 tenant.Credentials
	// Observers with the platform's rights: they only read.
	db *mongo.Client
	js jetstream.JetStream
	s3 *minio.Client
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

// run starts the platform, runs the tests and stops it, whatever happens.
func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	repo, err := harness.RepoRoot()
	if err != nil {
		return fail(err)
	}
	if _, err := os.Stat(filepath.Join(repo, "bin", "minio")); err != nil {
		return fail(fmt.Errorf("bin/minio is missing: run ./scripts/setup first (%v)", err))
	}
	dir, err := os.MkdirTemp("", "mysimbdp-adversary")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	exe, err := harness.BuildCLI(ctx, repo, dir)
	if err != nil {
		return fail(err)
	}
	rig.data = filepath.Join(dir, "data")
	// -v: every part logs at info, so that the logs checked for secrets
	// are as full as they get.
	up, err := harness.StartUp(ctx, exe, repo, append(harness.UpArgs(repo, rig.data), "-v")...)
	if err != nil {
		return fail(err)
	}
	rig.up = up
	defer func() {
		if err := up.Stop(90 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "stop mysimbdp up: %v\n%s\n", err, up.Output())
		}
	}()
	if err := connect(ctx); err != nil {
		return fail(fmt.Errorf("%w\n%s", err, up.Output()))
	}
	defer rig.db.Disconnect(context.Background())
	if err := seedVictim(ctx); err != nil {
		return fail(fmt.Errorf("%w\n%s", err, up.Output()))
	}
	return m.Run()
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "adversary rig:", err)
	return 1
}

// connect reads the endpoints and the tenants' credentials from the data
// folder and opens the observers.
func connect(ctx context.Context) error {
	var err error
	if rig.e, err = localstack.ReadEndpoints(rig.data); err != nil {
		return err
	}
	store := tenant.Store{Dir: filepath.Join(rig.data, "tenants")}
	if rig.t1, err = store.Load(attacker); err != nil {
		return err
	}
	if rig.t2, err = store.Load(victim); err != nil {
		return err
	}
	if rig.db, err = mongo.Connect(options.Client().ApplyURI(rig.e.MongoURI)); err != nil {
		return fmt.Errorf("MongoDB client: %w", err)
	}
	nc, err := nats.Connect(rig.e.NATS)
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	if rig.js, err = jetstream.New(nc); err != nil {
		return err
	}
	creds, err := localstack.LoadOrCreateCredentials(rig.data)
	if err != nil {
		return err
	}
	rig.s3, err = minio.New(rig.e.MinIO, &minio.Options{Creds: credentials.NewStaticV4(creds.MinIOUser, creds.MinIOPassword, "")})
	return err
}

// seedVictim has tenant2 upload a file, as a tenant does, and waits until
// its rows are stored, so that "unchanged" means something. tenant2's own
// app leaves the file where it is (under incoming/).
func seedVictim(ctx context.Context) error {
	s3, err := minio.New(rig.e.MinIO, &minio.Options{Creds: credentials.NewStaticV4(rig.t2.S3AccessKey, rig.t2.S3SecretKey, "")})
	if err != nil {
		return err
	}
	csv := ecdc.CSV(0, seedRows)
	if _, err := s3.PutObject(ctx, victim, seedObject, bytes.NewReader(csv), int64(len(csv)), minio.PutObjectOptions{}); err != nil {
		return fmt.Errorf("tenant2 uploads its seed: %w", err)
	}
	for {
		n, err := rig.db.Database(victimDB).Collection(victimBatchColl).CountDocuments(ctx, bson.D{})
		if err == nil && n == seedRows {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tenant2's seed not ingested (%d rows, %v): %w", n, err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// state is what an attack must leave as it was.
type state struct {
	rows         map[string]rowsState // the victim's collections
	attackerRows int64                // what the attacker's own database holds
	stream       string
	control      map[string]uint64 // key -> revision
}

// rowsState is a collection's documents: how many, and the sum of their
// cases (a changed row changes it).
type rowsState struct{ Count, CasesSum int64 }

func (s state) String() string {
	return fmt.Sprintf("tenant2 rows %v, tenant1 rows %d, stream %s, control %v", s.rows, s.attackerRows, s.stream, s.control)
}

// snapshot reads the state; a read that fails fails tb.
func snapshot(tb testing.TB) state {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := state{rows: map[string]rowsState{}}
	for _, name := range []string{victimBatchColl, victimColl} {
		s.rows[name] = collRows(tb, ctx, victimDB, name)
	}
	var err error
	if s.attackerRows, err = rig.db.Database(attackerDB).Collection(attackerColl).CountDocuments(ctx, bson.D{}); err != nil {
		tb.Fatalf("count tenant1's rows: %v", err)
	}
	st, err := rig.js.Stream(ctx, victimStream)
	if err != nil {
		tb.Fatalf("tenant2's stream: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		tb.Fatalf("tenant2's stream: %v", err)
	}
	s.stream = fmt.Sprintf("msgs %d, bytes %d, last seq %d", info.State.Msgs, info.State.Bytes, info.State.LastSeq)
	kv, err := rig.js.KeyValue(ctx, controlBucket)
	if err != nil {
		tb.Fatalf("control bucket: %v", err)
	}
	s.control = map[string]uint64{}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		tb.Fatalf("control bucket keys: %v", err)
	}
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			tb.Fatalf("control bucket key %s: %v", k, err)
		}
		s.control[k] = e.Revision()
	}
	return s
}

// collRows counts db.coll's documents and sums their cases.
func collRows(tb testing.TB, ctx context.Context, db, coll string) rowsState {
	tb.Helper()
	c := rig.db.Database(db).Collection(coll)
	var r rowsState
	var err error
	if r.Count, err = c.CountDocuments(ctx, bson.D{}); err != nil {
		tb.Fatalf("count %s.%s: %v", db, coll, err)
	}
	cur, err := c.Aggregate(ctx, mongo.Pipeline{{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}, {Key: "sum", Value: bson.D{{Key: "$sum", Value: "$cases"}}}}}}})
	if err != nil {
		tb.Fatalf("sum %s.%s's cases: %v", db, coll, err)
	}
	var sums []struct {
		Sum int64 `bson:"sum"`
	}
	if err := cur.All(ctx, &sums); err != nil {
		tb.Fatalf("sum %s.%s's cases: %v", db, coll, err)
	}
	if len(sums) == 1 {
		r.CasesSum = sums[0].Sum
	}
	return r
}

// unchanged fails tb when the state differs from before.
func unchanged(tb testing.TB, before state) {
	tb.Helper()
	if after := snapshot(tb); after.String() != before.String() {
		tb.Errorf("the attack changed the platform:\nbefore %s\nafter  %s", before, after)
	}
}
