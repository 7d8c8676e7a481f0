package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/ingest"
)

// TestBatchUploadsLandInEachTenantsDatabase is the batch flow end to end on
// `mysimbdp up`: files put into each tenant's incoming/ with a plain S3
// client become MinIO events, the connector hands each to its tenant's
// function only (tenant1: the platform's batch-ingest; tenant2: its own
// app), and every row lands once in the right database.
func TestBatchUploadsLandInEachTenantsDatabase(t *testing.T) {
	f := newUpFlags(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	startUp(t, f)
	e := endpoints(t, f)
	creds, err := localstack.LoadOrCreateCredentials(f.data)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := minio.New(e.MinIO, &minio.Options{Creds: credentials.NewStaticV4(creds.MinIOUser, creds.MinIOPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	const rowsPerFile = 400
	uploads := []struct {
		bucket string
		files  int
	}{{"tenant1", 3}, {"tenant2", 2}}
	for _, u := range uploads {
		for i := range u.files {
			body := ecdc.CSV(i*rowsPerFile, (i+1)*rowsPerFile)
			key := fmt.Sprintf("incoming/ecdc-%d.csv", i)
			if _, err := mc.PutObject(ctx, u.bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "text/csv"}); err != nil {
				t.Fatalf("upload %s/%s: %v", u.bucket, key, err)
			}
		}
	}

	db, err := mongo.Connect(options.Client().ApplyURI(e.MongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Disconnect(context.Background())
	tenant1 := db.Database("tenant1").Collection("covid_daily")
	tenant2 := db.Database("tenant2").Collection("ecdc_by_app")
	for _, want := range []struct {
		coll *mongo.Collection
		rows int64
	}{{tenant1, 3 * rowsPerFile}, {tenant2, 2 * rowsPerFile}} {
		waitFor(t, want.coll.Database().Name()+"."+want.coll.Name()+" holds every row", 3*time.Minute, func() error {
			n, err := want.coll.CountDocuments(ctx, bson.D{})
			if err != nil {
				return err
			}
			if n != want.rows {
				return fmt.Errorf("%d rows, want %d", n, want.rows)
			}
			return nil
		})
	}

	// Types follow tenant1's schema: ints are ints, dates are ISO.
	var doc bson.M
	if err := tenant1.FindOne(ctx, bson.D{{Key: "geoId", Value: "BQ"}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc["countriesAndTerritories"] != "Bonaire, Saint Eustatius and Saba" {
		t.Errorf("quoted name stored as %q", doc["countriesAndTerritories"])
	}
	switch doc["cases"].(type) {
	case int32, int64:
	default:
		t.Errorf("cases stored as %T, want an integer", doc["cases"])
	}
	if d, ok := doc["dateRep"].(bson.DateTime); !ok || d.Time().UTC().Format(time.TimeOnly) != "00:00:00" {
		t.Errorf("dateRep stored as %#v, want a BSON date at midnight UTC", doc["dateRep"])
	}
	neg, err := tenant1.CountDocuments(ctx, bson.D{{Key: "cases", Value: bson.D{{Key: "$lt", Value: 0}}}})
	if err != nil || neg == 0 {
		t.Errorf("negative daily counts stored: %d, %v; want some", neg, err)
	}

	// No tenant's data reached the other's database.
	for _, c := range []struct{ db, coll string }{{"tenant1", "ecdc_by_app"}, {"tenant2", "covid_daily"}} {
		n, err := db.Database(c.db).Collection(c.coll).CountDocuments(ctx, bson.D{})
		if err != nil || n != 0 {
			t.Errorf("%s.%s has %d rows (%v), want none: events crossed tenants", c.db, c.coll, n, err)
		}
	}

	// The outcome is visible to tenant1 with any S3 client.
	waitFor(t, "tenant1's files moved out of incoming/", time.Minute, func() error {
		var incoming, processed []string
		for o := range mc.ListObjects(ctx, "tenant1", minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				return o.Err
			}
			switch {
			case strings.HasPrefix(o.Key, "incoming/"):
				incoming = append(incoming, o.Key)
			case strings.HasPrefix(o.Key, "processed/") && strings.HasSuffix(o.Key, ".csv"):
				processed = append(processed, o.Key)
			}
		}
		if len(incoming) != 0 || len(processed) != 3 {
			return fmt.Errorf("incoming %v, processed %v", incoming, processed)
		}
		return nil
	})
	n, err := db.Database("tenant1").Collection(ingest.IngestionsCollection).CountDocuments(ctx, bson.D{{Key: "tenant", Value: "tenant1"}, {Key: "status", Value: "done"}})
	if err != nil || n != 3 {
		t.Errorf("tenant1 ingestion records done: %d (%v), want 3", n, err)
	}
}
