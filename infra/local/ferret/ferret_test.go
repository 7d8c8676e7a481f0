package ferret

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func startServer(t *testing.T, ctx context.Context, cfg Config) *Server {
	t.Helper()
	s, err := Start(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Stop) // Stop is safe to call twice
	return s
}

// connect registers Disconnect after the server's Stop, so cleanup
// disconnects first and Stop does not wait out FerretDB's grace period.
func connect(t *testing.T, ctx context.Context, uri string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("connect %s: %v", uri, err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

func TestDocumentsPersistAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := Config{DataDir: t.TempDir()}

	s1 := startServer(t, ctx, cfg)
	c1 := connect(t, ctx, s1.URI())
	coll := c1.Database("tenant1").Collection("records")
	docs := []any{
		bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "n", Value: 2}},
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatalf("insert: %v", err)
	}
	if err := c1.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	s1.Stop()

	s2 := startServer(t, ctx, cfg)
	c2 := connect(t, ctx, s2.URI())
	coll2 := c2.Database("tenant1").Collection("records")
	n, err := coll2.CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatalf("count after restart: %v", err)
	}
	if n != 2 {
		t.Fatalf("count after restart = %d, want 2", n)
	}
	var got struct {
		N int `bson:"n"`
	}
	if err := coll2.FindOne(ctx, bson.D{{Key: "_id", Value: "b"}}).Decode(&got); err != nil {
		t.Fatalf("find b after restart: %v", err)
	}
	if got.N != 2 {
		t.Fatalf("b.n after restart = %d, want 2", got.N)
	}
}

// Idempotent ingestion re-sends batches and relies on this: an unordered
// insert skips duplicate _ids, stores the rest and reports E11000.
func TestUnorderedInsertManyWithDuplicate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := startServer(t, ctx, Config{DataDir: t.TempDir()})
	c := connect(t, ctx, s.URI())
	coll := c.Database("tenant1").Collection("records")

	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatalf("seed: %v", err)
	}
	batch := []any{
		bson.D{{Key: "_id", Value: 1}},
		bson.D{{Key: "_id", Value: 2}}, // already stored
		bson.D{{Key: "_id", Value: 3}},
		bson.D{{Key: "_id", Value: 3}}, // duplicate within the batch
		bson.D{{Key: "_id", Value: 4}},
	}
	_, err := coll.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
	if err == nil {
		t.Fatal("InsertMany with duplicates returned no error")
	}
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("error is not a duplicate-key error: %v", err)
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) {
		t.Fatalf("error is %T, want mongo.BulkWriteException: %v", err, err)
	}
	if len(bwe.WriteErrors) != 2 {
		t.Errorf("write errors = %d, want 2: %v", len(bwe.WriteErrors), err)
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 {
			t.Errorf("write error code = %d, want 11000: %v", we.Code, we)
		}
	}

	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		ID int `bson:"_id"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	if want := []int{1, 2, 3, 4}; !equal(ids, want) {
		t.Fatalf("stored ids = %v, want %v", ids, want)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPortInUse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	addr := l.Addr().String()

	s, err := Start(ctx, Config{Listen: addr, DataDir: t.TempDir()}, testLogger(t))
	if err == nil {
		s.Stop()
		t.Fatal("Start on a taken port succeeded")
	}
	for _, want := range []string{addr, "address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// Stop must not leave FerretDB goroutines behind (the platform starts and
// stops it in tests and on reconfiguration).
func TestStopLeavesNoGoroutines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := runtime.NumGoroutine()

	s, err := Start(ctx, Config{DataDir: t.TempDir()}, testLogger(t))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Stop)
	c, err := mongo.Connect(options.Client().ApplyURI(s.URI()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Database("d").Collection("c").InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	s.Stop()

	// Some goroutines (the driver's, FerretDB's per-connection ones) end
	// shortly after their owners return: wait for the count, with a deadline.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Stop, %d before:\n%s",
				runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond) // polling interval, bounded by the deadline
	}
}

// plan is FerretDB's SQLite query plan for a find of one _id.
func plan(t *testing.T, ctx context.Context, db *mongo.Database, coll string) string {
	t.Helper()
	var ex struct {
		QueryPlanner struct {
			Plan []string `bson:"Plan"`
		} `bson:"queryPlanner"`
	}
	cmd := bson.D{{Key: "explain", Value: bson.D{{Key: "find", Value: coll}, {Key: "filter", Value: bson.D{{Key: "_id", Value: "k"}}}}}}
	if err := db.RunCommand(ctx, cmd).Decode(&ex); err != nil {
		t.Fatalf("explain a find in %s.%s: %v", db.Name(), coll, err)
	}
	return strings.Join(ex.QueryPlanner.Plan, "; ")
}

// TestLookupsByIDUseAnIndex: a find by _id is an index search, not a scan
// of the collection, in every collection of every database — also one
// created after start, or dropped and created again — and the index is
// not one MongoDB clients see.
func TestLookupsByIDUseAnIndex(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := startServer(t, ctx, Config{DataDir: t.TempDir()})
	c := connect(t, ctx, s.URI())
	indexed := func(db *mongo.Database, coll string) {
		t.Helper()
		if _, err := db.Collection(coll).InsertOne(ctx, bson.D{{Key: "_id", Value: "k"}}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * IDIndexInterval)
		for n := 0; ; n++ {
			// FerretDB's connections see a new index at their next write.
			if _, err := db.Collection(coll).InsertOne(ctx, bson.D{{Key: "_id", Value: n}}); err != nil {
				t.Fatal(err)
			}
			p := plan(t, ctx, db, coll)
			if strings.Contains(p, "USING INDEX") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s.%s: the find of one _id is still %q", db.Name(), coll, p)
			}
			time.Sleep(100 * time.Millisecond) // polling a plan, bounded by deadline
		}
	}
	for _, name := range []string{"tenant1.covid_daily", "tenant1.quarantine", "mysimbdp.ingestions"} {
		db, coll, _ := strings.Cut(name, ".")
		indexed(c.Database(db), coll)
	}
	if err := c.Database("tenant1").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	indexed(c.Database("tenant1"), "covid_daily")
	if err := c.Database("mysimbdp").Collection("ingestions").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	indexed(c.Database("mysimbdp"), "ingestions")

	cur, err := c.Database("tenant1").Collection("covid_daily").Indexes().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var idx []bson.M
	if err := cur.All(ctx, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx) != 1 || idx[0]["name"] != "_id_" {
		t.Errorf("listIndexes shows %v, want only _id_", idx)
	}
}
