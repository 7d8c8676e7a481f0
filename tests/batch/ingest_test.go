package batch

import (
	"context"
	"encoding/json"

	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ingest"
)

func TestTwoTenantsEveryRowOnceInItsOwnDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t1 := newBatch(t, tenant1Profile("multi-t1", defaultLimits))
	t2 := newBatch(t, tenant2Profile("multi-t2", defaultLimits))

	nc, err := nats.Connect(env.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	reports, err := nc.SubscribeSync(contract.ReportSubjectPrefix + ".>")
	if err != nil {
		t.Fatal(err)
	}

	const files, rows = 3, 250
	for _, tc := range []struct {
		b    *ingest.Batch
		coll string
	}{{t1, "covid_daily"}, {t2, "ecdc_cases"}} {
		tenant := tc.b.Profile().Tenant
		for f := range files {
			key := fmt.Sprintf("incoming/2020/cases part %d.csv", f) // a space: URL-encoded in the event
			ev := put(t, tenant, key, ecdcCSV(f*rows, (f+1)*rows))
			rep, err := tc.b.HandleEvent(ctx, ev)
			if err != nil {
				t.Fatalf("%s %s: %v", tenant, key, err)
			}
			if rep.Status != contract.StatusDone || rep.RowsOK != rows || rep.RowsRejected != 0 || rep.Key != key {
				t.Fatalf("%s %s: report %+v", tenant, key, rep)
			}
			if exists(t, tenant, key) || !exists(t, tenant, "processed/2020/"+key[len("incoming/2020/"):]) {
				t.Errorf("%s: %s was not moved to processed/", tenant, key)
			}
			// The report beside the object, readable with any S3 client.
			obj, err := env.s3.GetObject(ctx, tenant, ingest.Destination(key, rep.Status)+ingest.ReportSuffix, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var stored contract.BatchReport
			if err := json.Unmarshal(readAll(t, obj), &stored); err != nil || stored.RowsOK != rows || stored.ETag != rep.ETag {
				t.Errorf("report.json: %+v, %v", stored, err)
			}
			// The ingestion record, in the tenant's database.
			var rec bson.M
			id := tenant + "/" + tenant + "/" + key + "@" + rep.ETag
			if err := env.db.Database(tenant).Collection(ingest.IngestionsCollection).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&rec); err != nil {
				t.Fatalf("ingestion record %s: %v", id, err)
			}
			if rec["status"] != "done" || rec["rows_ok"] != int64(rows) {
				t.Errorf("ingestion record: %v", rec)
			}
		}
		if n := count(t, tenant, tc.coll, nil); n != files*rows {
			t.Errorf("%s.%s holds %d documents, want %d", tenant, tc.coll, n, files*rows)
		}
	}
	// Nothing crossed over.
	if n := count(t, "multi-t1", "ecdc_cases", nil) + count(t, "multi-t2", "covid_daily", nil); n != 0 {
		t.Errorf("%d documents in the other tenant's database", n)
	}

	// Types: ints are ints, dates BSON dates, empty is null, non-ASCII kept.
	var m1 bson.M
	err = env.db.Database("multi-t1").Collection("covid_daily").
		FindOne(ctx, bson.D{{Key: "geoId", Value: "JPG11668"}, {Key: "dateRep", Value: time.Date(2020, 7, 6, 0, 0, 0, 0, time.UTC)}}).Decode(&m1)
	if err != nil {
		t.Fatal(err)
	}
	want1 := map[string]any{"dateRep": bson.NewDateTimeFromTime(time.Date(2020, 7, 6, 0, 0, 0, 0, time.UTC)), "day": int64(6), "month": int64(7), "year": int64(2020),
		"cases": int64(-17), "deaths": int64(3), "popData2019": nil, "countryterritoryCode": nil, "continentExp": "Other"}
	for k, v := range want1 {
		if m1[k] != v {
			t.Errorf("tenant1 %s = %#v (%T), want %#v (%T)", k, m1[k], m1[k], v, v)
		}
	}
	var d2 bson.M
	err = env.db.Database("multi-t2").Collection("ecdc_cases").
		FindOne(ctx, bson.D{{Key: "geo_id", Value: "BQ"}, {Key: "report_date", Value: time.Date(2020, 7, 6, 0, 0, 0, 0, time.UTC)}}).Decode(&d2)
	if err != nil {
		t.Fatal(err)
	}
	want2 := map[string]any{"country": "Bonaire, Saint Eustatius and Saba", "record_id": "BQ:2020-07-06",
		"source": "ecdc", "population_2019": int64(25983), "cases": int64(-19)}
	for k, v := range want2 {
		if d2[k] != v {
			t.Errorf("tenant2 %s = %#v, want %#v", k, d2[k], v)
		}
	}
	if _, ok := d2["day"]; ok {
		t.Error("tenant2's day column was not dropped")
	}
	for _, name := range []string{"Curaçao", "Côte d’Ivoire"} {
		if n := count(t, "multi-t1", "covid_daily", bson.D{{Key: "countriesAndTerritories", Value: name}}); n == 0 {
			t.Errorf("no row of %s", name)
		}
	}

	// Every ingestion was reported on NATS, under its tenant's subject, as
	// a batch report (the stats function tells them from stream reports).
	seen := map[string]int{}
	for range 2 * files {
		msg, err := reports.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("report %d: %v", len(seen), err)
		}
		var r contract.BatchReport
		if err := json.Unmarshal(msg.Data, &r); err != nil || !strings.HasSuffix(msg.Subject, "."+r.Tenant) || r.Kind != contract.KindBatch {
			t.Fatalf("report on %s: %s (%v)", msg.Subject, msg.Data, err)
		}
		seen[r.Tenant]++
	}
	if seen["multi-t1"] != files || seen["multi-t2"] != files {
		t.Errorf("reports per tenant: %v", seen)
	}

}
