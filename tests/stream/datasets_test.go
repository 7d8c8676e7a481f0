package stream

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
)

// datasetsProfile: ECDC cases (with a typed copy) from the platform's app,
// lab tests from it too, and vaccinations from the tenant's own app.
func datasetsProfile(tenant string) string {
	return "tenant: " + tenant + "\ndatasets:\n" + ecdc.Dataset("cases", ecdc.SourceNames, "fanout: [{collection: covid_copy}]\n") + `  - name: labtests
    sink:
      collection: lab_tests
      schema: [{name: lab, type: string, required: true}, {name: positive, type: int}]
  - name: vaccinations
    sink:
      collection: vaccinations
      schema: [{name: id, type: string, required: true}]
    apps: {stream: own}
`
}

func onSubject(r contract.Record, subject string) contract.Record {
	r.Subject = subject
	return r
}

// TestDatasetsBySubject: a record's subject picks its dataset; a subject no
// dataset has is a permanent failure naming the datasets; records of a
// dataset whose app is the tenant's own are left to it.
func TestDatasetsBySubject(t *testing.T) {
	const tenant = "dsstream"
	p := startPlatform(t)
	in := p.ingester(t, datasetsProfile(tenant))
	b := ecdcBatch(tenant, 0, 6, 0)
	for i := range b.Records {
		b.Records[i] = onSubject(b.Records[i], "ingest."+tenant+".cases")
	}
	b.Records[5].Subject = "ingest." + tenant + ".cases.eu" // below the dataset's subject
	b.Records = append(b.Records,
		onSubject(record(tenant, 100, []byte(`{"lab":"north","positive":3}`)), "ingest."+tenant+".labtests"),
		onSubject(record(tenant, 101, []byte(`{"id":"v1"}`)), "ingest."+tenant+".vaccinations"),
		onSubject(record(tenant, 102, []byte(`{"lab":"lost"}`)), "ingest."+tenant+".unknown"),
		onSubject(record(tenant, 103, []byte(`{"lab":"lost"}`)), "ingest."+tenant+".casesx"),
	)
	resp, err := in.Handle(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		b.Records[8].ID: "no dataset of tenant dsstream takes subject ingest.dsstream.unknown; its datasets and subjects: cases (ingest.dsstream.cases), labtests (ingest.dsstream.labtests), vaccinations (ingest.dsstream.vaccinations)",
		b.Records[9].ID: "no dataset of tenant dsstream takes subject ingest.dsstream.casesx;",
	}
	if len(resp.BatchItemFailures) != len(want) {
		t.Fatalf("failures %+v, want the two records of unknown datasets", resp.BatchItemFailures)
	}
	for _, f := range resp.BatchItemFailures {
		if w, ok := want[f.ItemIdentifier]; !ok || !strings.HasPrefix(f.Reason, w) || !f.Permanent {
			t.Errorf("failure %+v, want permanent with %q", f, w)
		}
	}
	db := p.db.Database(tenant)
	for coll, n := range map[string]int64{"covid_daily": 6, "covid_copy": 6, "lab_tests": 1, "vaccinations": 0} {
		if got := count(t, db.Collection(coll)); got != n {
			t.Errorf("%s holds %d documents, want %d", coll, got, n)
		}
	}
}

// TestFanoutRetriesOnlyWhereRefused: records a copy refuses are answered
// as failed with the copy's reason; retried (as the connector does) once
// the copy takes them, they are stored there, and the sink, which had
// them, keeps one document each, unchanged.
func TestFanoutRetriesOnlyWhereRefused(t *testing.T) {
	const tenant = "fanstream"
	p := startPlatform(t)
	in := p.ingester(t, datasetsProfile(tenant))
	db := p.db.Database(tenant)
	copyColl := db.Collection("covid_copy")
	idx, err := copyColl.Indexes().CreateOne(t.Context(), mongo.IndexModel{Keys: bson.D{{Key: "geoId", Value: 1}}, Options: options.Index().SetUnique(true)})
	if err != nil {
		t.Fatal(err)
	}
	const n = 18 // three days of the six countries: the copy takes the first day
	b := ecdcBatch(tenant, 0, n, 0)
	for i := range b.Records {
		b.Records[i].Subject = "ingest." + tenant + ".cases"
	}
	resp, err := in.Handle(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != n-6 {
		t.Fatalf("%d failures, want %d: %+v", len(resp.BatchItemFailures), n-6, resp.BatchItemFailures)
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		if !strings.Contains(f.Reason, "covid_copy") || f.Permanent {
			t.Errorf("failure %+v: want a retryable reason naming the copy", f)
		}
		failed[f.ItemIdentifier] = true
	}
	stored := func() map[string]bson.Raw {
		cur, err := db.Collection("covid_daily").Find(t.Context(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bson.Raw{}
		for cur.Next(t.Context()) {
			m[cur.Current.Lookup("_id").StringValue()] = append(bson.Raw(nil), cur.Current...)
		}
		return m
	}
	before := stored()
	if len(before) != n || count(t, copyColl) != 6 {
		t.Fatalf("sink %d, copy %d documents; want %d and 6", len(before), count(t, copyColl), n)
	}

	if err := copyColl.Indexes().DropOne(t.Context(), idx); err != nil {
		t.Fatal(err)
	}
	retry := contract.Batch{Tenant: tenant}
	for _, r := range b.Records {
		if failed[r.ID] {
			retry.Records = append(retry.Records, r)
		}
	}
	resp, err = in.Handle(t.Context(), retry)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("retry: %v %+v", err, resp.BatchItemFailures)
	}
	after := stored()
	if len(after) != n || count(t, copyColl) != n {
		t.Errorf("sink %d, copy %d documents after the retry; want %d each", len(after), count(t, copyColl), n)
	}
	for id, doc := range before {
		if !bytes.Equal(after[id], doc) {
			t.Errorf("the sink's document %s changed on the retry", id)
		}
	}
}

// TestStreamQualityRules: a record a reject rule fails is answered as a
// permanent failure naming the rule (dead-lettered at once: the stream's
// quarantine); warn rules count; the window report carries the metadata
// per dataset.
func TestStreamQualityRules(t *testing.T) {
	const tenant = "qstream"
	p := startPlatform(t)
	reports := p.subscribe(t, "test.reports."+tenant)
	prof := tenant1Profile(tenant, "1h") + `quality:
  - {name: cases_not_negative, field: cases, min: 0}
  - {name: few_deaths, field: deaths, max: 9, severity: warn}
`
	in := p.ingester(t, prof, "MYSIMBDP_REPORT_SUBJECT", "test.reports")
	const n = 30
	b := ecdcBatch(tenant, 0, n, 0)
	resp, err := in.Handle(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	var negative, manyDeaths int64
	for i := range n {
		row := ecdcRow(i, 0)
		if row["cases"].(int) < 0 {
			negative++
		}
		if row["deaths"].(int) > 9 {
			manyDeaths++
		}
	}
	if int64(len(resp.BatchItemFailures)) != negative || negative == 0 {
		t.Fatalf("%d failures, want the %d negative rows", len(resp.BatchItemFailures), negative)
	}
	for _, f := range resp.BatchItemFailures {
		if !f.Permanent || !strings.HasPrefix(f.Reason, "quality rule cases_not_negative: cases is -") {
			t.Errorf("failure %+v: want permanent, naming the rule", f)
		}
	}
	if got := count(t, p.db.Database(tenant).Collection("covid_daily")); got != n-negative {
		t.Errorf("%d rows stored, want %d", got, n-negative)
	}
	if err := in.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	sum := waitReports(t, reports, n, 10*time.Second)
	q, ok := sum.Quality["default"]
	if !ok || q.RowsChecked != n || q.RowsQuarantined != negative ||
		q.Rules["cases_not_negative"].Failures != negative || q.Rules["few_deaths"].Failures != manyDeaths ||
		q.Fields["geoId"].Distinct != int64(ecdc.Countries) || q.Lineage.App != "mysimbdp/stream-ingest" || q.Lineage.Dataset != "default" {
		t.Errorf("window quality %+v, want %d checked, %d quarantined, %d warned", q, n, negative, manyDeaths)
	}
}
