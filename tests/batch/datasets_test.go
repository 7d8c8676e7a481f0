package batch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/ingest"
)

// datasetsProfile is a tenant with two datasets: ECDC cases (kept raw in
// an archive and typed in a second copy too) and lab tests, each in its
// own folder and collection.
func datasetsProfile(tenant string) string {
	return "tenant: " + tenant + "\nbatch:\n" + defaultLimits + `
datasets:
` + ecdc.Dataset("cases", ecdc.SourceNames, "fanout:\n  - {collection: covid_archive, form: raw}\n  - {collection: covid_copy}\n") + `  - name: labtests
    sink:
      collection: lab_tests
      schema:
        - {name: lab, type: string, required: true}
        - {name: day, type: date_string, required: true}
        - {name: positive, type: int}
  - name: vaccinations
    sink:
      collection: vaccinations
      schema: [{name: id, type: string, required: true}]
    apps: {batch: own}
`
}

// TestDatasetsTakeTheirFolders: each file lands in its folder's dataset
// and sinks; a file in a folder no dataset has is rejected with the
// datasets named, and stores nothing.
func TestDatasetsTakeTheirFolders(t *testing.T) {
	const tenant = "datasets"
	b := newBatch(t, datasetsProfile(tenant))

	cases := handle(t, b, put(t, tenant, "incoming/cases/2020-07.csv", ecdcCSV(0, 120)))
	if cases.Status != contract.StatusDone || cases.Dataset != "cases" || cases.RowsOK != 120 {
		t.Fatalf("cases file: %+v", cases)
	}
	wantSinks := []contract.SinkReport{
		{Collection: "covid_daily", Form: "typed", RowsStored: 120},
		{Collection: "covid_archive", Form: "raw", RowsStored: 120},
		{Collection: "covid_copy", Form: "typed", RowsStored: 120},
	}
	if len(cases.Sinks) != len(wantSinks) {
		t.Fatalf("sinks %+v, want %+v", cases.Sinks, wantSinks)
	}
	for i, w := range wantSinks {
		if cases.Sinks[i] != w {
			t.Errorf("sink %d: %+v, want %+v", i, cases.Sinks[i], w)
		}
	}
	for _, coll := range []string{"covid_daily", "covid_archive", "covid_copy"} {
		if n := count(t, tenant, coll, nil); n != 120 {
			t.Errorf("%s holds %d documents, want 120", coll, n)
		}
	}
	// The archive keeps each row as it arrived, under the sink's _id.
	var typed, raw bson.M
	db := env.db.Database(tenant)
	if err := db.Collection("covid_daily").FindOne(context.Background(), bson.D{{Key: "geoId", Value: "BJ"}}).Decode(&typed); err != nil {
		t.Fatal(err)
	}
	if err := db.Collection("covid_archive").FindOne(context.Background(), bson.D{{Key: "_id", Value: typed["_id"]}}).Decode(&raw); err != nil {
		t.Fatalf("the archive has no copy of %v: %v", typed["_id"], err)
	}
	line := int(raw["line"].(int32))
	if raw["source"] != "incoming/cases/2020-07.csv" || raw["raw"] != ecdc.Row(line-2) {
		t.Errorf("archived row %+v, want line %d as %q", raw, line, ecdc.Row(line-2))
	}

	labs := handle(t, b, put(t, tenant, "incoming/labtests/monday.csv", []byte("lab,day,positive\nnorth,2020-07-06,4\nsouth,2020-07-06,\n")))
	if labs.Status != contract.StatusDone || labs.Dataset != "labtests" || labs.RowsOK != 2 || labs.Sinks != nil {
		t.Fatalf("lab tests file: %+v", labs)
	}
	var lab bson.M
	if err := db.Collection("lab_tests").FindOne(context.Background(), bson.D{{Key: "lab", Value: "north"}}).Decode(&lab); err != nil {
		t.Fatal(err)
	}
	if lab["day"] != "2020-07-06" || lab["positive"] != int64(4) {
		t.Errorf("lab row %+v: a date_string stays text", lab)
	}

	for _, key := range []string{"incoming/hospitals/h.csv", "incoming/loose.csv", "incoming/casesx/a.csv"} {
		rep := handle(t, b, put(t, tenant, key, ecdcCSV(0, 3)))
		want := "no dataset of tenant datasets has the folder of " + key + "; its datasets and folders: cases (incoming/cases/), labtests (incoming/labtests/), vaccinations (incoming/vaccinations/)"
		if rep.Status != contract.StatusRejected || rep.Error != want || rep.RowsOK != 0 {
			t.Errorf("%s: %s %q, want rejected with %q", key, rep.Status, rep.Error, want)
		}
		name := strings.TrimPrefix(key, "incoming/")
		if exists(t, tenant, key) || !exists(t, tenant, "rejected/"+name) || !exists(t, tenant, "rejected/"+name+".report.json") {
			t.Errorf("%s was not moved to rejected/ with its report", key)
		}
	}
	if n := count(t, tenant, "covid_daily", nil); n != 120 {
		t.Errorf("covid_daily holds %d documents after the rejected files, want 120", n)
	}

	// A file of the dataset the tenant's own app ingests, handed to the
	// platform's app (the own app not deployed yet): deferred, left where
	// it is for the own app, nothing stored.
	key := "incoming/vaccinations/v.csv"
	rep, err := b.HandleEvent(context.Background(), put(t, tenant, key, []byte("id\nv1\n")))
	if !errors.Is(err, ingest.ErrUnavailable) || rep.Status != contract.StatusDeferred || !strings.Contains(rep.Error, "dataset vaccinations is ingested by the tenant's own app") {
		t.Errorf("own app's file: %v, %+v; want deferred for the own app", err, rep)
	}
	if !exists(t, tenant, key) || count(t, tenant, "vaccinations", nil) != 0 {
		t.Errorf("own app's file moved or stored by the platform's app")
	}
}

// TestDatesAreDates: a date field is a BSON date, so a MongoDB user asks
// for a range of days with the driver.
func TestDatesAreDates(t *testing.T) {
	const tenant = "dates"
	b := newBatch(t, tenant1Profile(tenant, defaultLimits))
	if rep := handle(t, b, put(t, tenant, "incoming/june.csv", ecdcCSV(0, 600))); rep.Status != contract.StatusDone || rep.RowsOK != 600 {
		t.Fatalf("%+v", rep)
	}
	from, to := time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2020, 6, 15, 0, 0, 0, 0, time.UTC)
	want := 0
	for i := range 600 {
		d, err := time.Parse("2/01/2006", ecdc.Fields(i)["dateRep"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if !d.Before(from) && d.Before(to) {
			want++
		}
	}
	coll := env.db.Database(tenant).Collection("covid_daily")
	filter := bson.D{{Key: "dateRep", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: to}}}}
	if n := count(t, tenant, "covid_daily", filter); n != int64(want) || want == 0 {
		t.Errorf("%d rows from %s to %s, want %d", n, from.Format(time.DateOnly), to.Format(time.DateOnly), want)
	}
	var first bson.M
	err := coll.FindOne(context.Background(), filter, options.FindOne().SetSort(bson.D{{Key: "dateRep", Value: 1}})).Decode(&first)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := first["dateRep"].(bson.DateTime); !ok || !got.Time().Equal(from) {
		t.Errorf("earliest dateRep in range = %#v, want the BSON date %s", first["dateRep"], from)
	}
}

// TestFanoutRefusalStaysInItsCollection: a copy that refuses some rows (a
// unique index the tenant put on it) quarantines those rows with its
// reason while the sink and the other copy keep them; once the copy takes
// them, a re-upload stores them there and nothing twice anywhere.
func TestFanoutRefusalStaysInItsCollection(t *testing.T) {
	const tenant = "fanout"
	b := newBatch(t, datasetsProfile(tenant))
	ctx := context.Background()
	copyColl := env.db.Database(tenant).Collection("covid_copy")
	idx, err := copyColl.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "geoId", Value: 1}}, Options: options.Index().SetUnique(true)})
	if err != nil {
		t.Fatal(err)
	}
	const rows = 60 // 10 days of the 6 countries: 6 rows fit the index, 54 not
	first := handle(t, b, put(t, tenant, "incoming/cases/first.csv", ecdcCSV(0, rows)))
	if first.Status != contract.StatusDone || first.RowsOK != rows || first.RowsRejected != 0 {
		t.Fatalf("first upload: %+v", first)
	}
	if s := first.Sinks; len(s) != 3 || s[0].RowsStored != rows || s[1].RowsStored != rows || s[2].RowsStored != 6 || s[2].RowsRefused != rows-6 {
		t.Fatalf("per-collection outcomes %+v, want the copy to refuse %d", first.Sinks, rows-6)
	}
	q := count(t, tenant, "covid_daily_rejected", bson.D{{Key: "reason", Value: bson.D{{Key: "$regex", Value: "^collection covid_copy refused the row: "}}}})
	if q != rows-6 {
		t.Errorf("%d rows quarantined with the copy's reason, want %d", q, rows-6)
	}
	if err := copyColl.Indexes().DropOne(ctx, idx); err != nil {
		t.Fatal(err)
	}
	again := handle(t, b, put(t, tenant, "incoming/cases/again.csv", ecdcCSV(0, rows)))
	if s := again.Sinks; len(s) != 3 || s[0].RowsUnchanged != rows || s[1].RowsReplaced != rows || s[2].RowsStored != rows || s[2].RowsUnchanged != 6 || s[2].RowsRefused != 0 {
		t.Errorf("re-upload's per-collection outcomes %+v: the sink's rows unchanged, the copy's 54 stored now", again.Sinks)
	}
	for _, coll := range []string{"covid_daily", "covid_archive", "covid_copy"} {
		if n := count(t, tenant, coll, nil); n != rows {
			t.Errorf("%s holds %d documents, want %d: each row once", coll, n, rows)
		}
	}
}
