package batch

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	tenant2batch "github.com/mysimbdp/mysimbdp/functions/tenant2-batch"
)

// TestTenant2BlackBoxApp checks tenant2's own app against the batch
// contract: JSON report, idempotent redelivery, its own wrangling, and
// refusal of another bucket.
func TestTenant2BlackBoxApp(t *testing.T) {
	const bucket, db = "t2-app", "t2-app"
	makeBucket(t, bucket)
	base := getenv("")
	app := tenant2batch.NewApp(func(k string) string {
		switch k {
		case "TENANT2_BUCKET":
			return bucket
		case "TENANT2_DB":
			return db
		}
		return base(k)
	})
	// A lower-case country code, which the app upper-cases.
	data := strings.Replace(string(ecdcCSV(0, 120)), ",CUW,", ",cuw,", 1)
	data += "not,a,row\r\n"
	ev := put(t, bucket, "incoming/app.csv", []byte(data))

	for range 2 { // the second delivery must add nothing
		res, _ := post(t, app, mustJSON(t, ev))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d", res.StatusCode)
		}
	}
	if n := count(t, db, "ecdc_by_app", nil); n != 120 {
		t.Errorf("%d documents, want 120", n)
	}
	var doc bson.M
	err := env.db.Database(db).Collection("ecdc_by_app").FindOne(context.Background(), bson.D{{Key: "_id", Value: "CW:2020-07-06"}}).Decode(&doc)
	if err != nil {
		t.Fatal(err)
	}
	if doc["country_code"] != "CUW" || doc["ingested_by"] != "tenant2-app" || doc["country"] != "Curaçao" {
		t.Errorf("document %v", doc)
	}
	res, _ := post(t, app, mustJSON(t, event("someone-else", "incoming/x.csv", "", 1)))
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("another bucket: HTTP %d, want 403", res.StatusCode)
	}
}
