package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/ingest"
)

// TestUpDemoOnAFreshDataFolder runs `up --demo` on a fresh data folder:
// it ends saying every file was ingested, and the databases agree —
// every row stored once in each tenant's collection, every file of
// tenant1 reported done, nothing dead-lettered — and `up` exits 0.
func TestUpDemoOnAFreshDataFolder(t *testing.T) {
	const files, rows = 3, 500
	f := newUpFlags(t)
	f.extra = []string{"--demo", "--demo-files", fmt.Sprint(files), "--demo-rows", fmt.Sprint(rows), "--demo-timeout", "4m"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	up := startUp(t, f)
	waitFor(t, "the demo ends", 5*time.Minute, func() error {
		out := up.Output()
		if strings.Contains(out, "==> demo FAILED") {
			t.Fatalf("the demo failed:\n%s", out)
		}
		if !strings.Contains(out, "==> demo done") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	out := up.Output()
	for _, want := range []string{
		fmt.Sprintf("all %d files ingested", 2*files),
		fmt.Sprintf("%d rows stored", 2*files*rows),
		"waiting for every file's outcome",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output does not say %q:\n%s", want, out)
		}
	}

	e := endpoints(t, f)
	db, err := mongo.Connect(options.Client().ApplyURI(e.MongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Disconnect(context.Background())
	for _, c := range []struct {
		db, coll string
		want     int64
	}{
		{"tenant1", "covid_daily", files * rows},
		{"tenant2", "ecdc_by_app", files * rows},
		{"tenant1", "covid_daily_rejected", 0},
	} {
		n, err := db.Database(c.db).Collection(c.coll).CountDocuments(ctx, bson.D{})
		if err != nil || n != c.want {
			t.Errorf("%s.%s holds %d documents (%v), want %d", c.db, c.coll, n, err, c.want)
		}
	}
	var reps []struct {
		Status string `bson:"status"`
		RowsOK int64  `bson:"rows_ok"`
	}
	cur, err := db.Database("tenant1").Collection(ingest.IngestionsCollection).Find(ctx, bson.D{{Key: "tenant", Value: "tenant1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(ctx, &reps); err != nil {
		t.Fatal(err)
	}
	if len(reps) != files {
		t.Errorf("tenant1 has %d ingestion records, want %d", len(reps), files)
	}
	for _, r := range reps {
		if r.Status != "done" || r.RowsOK != rows {
			t.Errorf("tenant1 ingestion %+v, want done with %d rows", r, rows)
		}
	}
	nc, err := nats.Connect(e.NATS)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	dl, err := js.Stream(ctx, "DEADLETTER")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := dl.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Errorf("dead letters: %+v, %v; want none", info.State, err)
	}

	stopUp(t, up)
	if up.Err() != nil {
		t.Errorf("up exited with %v after a successful demo:\n%s", up.Err(), up.Output())
	}
}

// TestUpDemoFailsWhileFilesAreDeferred: tenant1 reads 10 files a minute,
// so of 21 files at least one is still deferred when a 20s demo ends. The
// demo must say so, with the reason, not claim success, and `up
// --demo-exit` must exit non-zero.
func TestUpDemoFailsWhileFilesAreDeferred(t *testing.T) {
	f := newUpFlags(t)
	f.extra = []string{"--demo", "--demo-files", "21", "--demo-rows", "50", "--demo-timeout", "20s", "--demo-exit"}
	up := startUp(t, f)
	select {
	case <-up.Exited():
	case <-time.After(4 * time.Minute):
		t.Fatalf("up --demo-exit did not exit:\n%s", up.Output())
	}
	out := up.Output()
	if up.Err() == nil {
		t.Fatalf("up --demo-exit exited 0 with deferred files:\n%s", out)
	}
	for _, want := range []string{"==> demo FAILED", "deferred", "batch.max_files_per_window", "has no outcome yet (deferred)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "files ingested") {
		t.Errorf("the demo claims success:\n%s", out)
	}
	if left := processesUnder(f.data); len(left) > 0 {
		t.Errorf("processes left running after --demo-exit: %v", left)
	}
}
