package burst

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// newBase is added to a row's number for its cases in a newer file, so
// that the stored value says which version of the row won.
const newBase = 1_000_000

// newer is a CSV file of rows [from, to) whose cases are newBase+i: a
// correction of every row in it.
func newer(from, to int) []byte {
	var b strings.Builder
	b.WriteString("\ufeff" + ecdc.Header + "\r\n")
	for i := from; i < to; i++ {
		f := strings.SplitN(ecdc.Row(i), ",", 6) // dateRep,day,month,year,cases,rest
		f[4] = strconv.Itoa(newBase + i)
		b.WriteString(strings.Join(f, ",") + "\r\n")
	}
	return []byte(b.String())
}

func profile(tenant string) string {
	return ecdc.Profile(tenant, ecdc.SourceNames, `batch:
  max_file_size: 64MiB
  max_files_per_window: 1000
  window: 1m
  formats: [csv]
`)
}

// overlapping uploads files files of rows rows each, file k starting at
// row k*step, so that each overlaps the next ones, and returns their keys.
func overlapping(r *rig, name string, files, rows, step int) []string {
	var keys []string
	for k := range files {
		key := fmt.Sprintf("incoming/%s-%02d.csv", name, k)
		r.upload(key, newer(k*step, k*step+rows))
		keys = append(keys, key)
	}
	return keys
}

// checkStored: the collection holds rows [0, total) once each, every one
// with its newer value.
func checkStored(t *testing.T, r *rig, total int) {
	t.Helper()
	coll := r.db.Database(r.tenant).Collection("covid_daily")
	// Each of the two reads scans the collection; a busy machine makes
	// that slow, so the bound is generous (it is not a timing).
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(total) {
		t.Errorf("%d documents, want %d: each business key once", n, total)
	}
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "cases", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		Cases int64 `bson:"cases"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	old := 0
	for _, d := range docs {
		if d.Cases < newBase || d.Cases >= newBase+int64(total) {
			old++
		}
	}
	if old > 0 {
		t.Errorf("%d of %d documents do not hold their newest values", old, len(docs))
	}
}

// checkReports: every file done with exactly rows rows.
func checkReports(t *testing.T, reps map[string]contract.BatchReport, rows int64) {
	t.Helper()
	for k, rep := range reps {
		if rep.Status != contract.StatusDone || rep.RowsOK != rows || rep.RowsRejected != 0 {
			t.Errorf("%s: %s with %d rows (%d rejected), want done with %d: %s", k, rep.Status, rep.RowsOK, rep.RowsRejected, rows, rep.Error)
		}
	}
}

// publishedStatuses counts the statuses of the tenant's reports in the
// REPORTS stream: every attempt's outcome.
func publishedStatuses(t *testing.T, r *rig) map[contract.Status]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := r.js.OrderedConsumer(ctx, contract.ReportsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{contract.ReportSubject(contract.ReportSubjectPrefix, r.tenant)}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[contract.Status]int{}
	for left := info.NumPending; left > 0; left-- {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("read reports: %v", err)
		}
		var rep contract.BatchReport
		if err := json.Unmarshal(msg.Data(), &rep); err != nil {
			t.Fatal(err)
		}
		out[rep.Status]++
	}
	return out
}

// TestBurstOfOverlappingFiles: 16 files at once into one tenant, their
// business keys overlapping rows already stored and each other. Every
// file is ingested on its first attempt with its exact row count, and the
// collection holds each key once with its newest value.
func TestBurstOfOverlappingFiles(t *testing.T) {
	const tenant = "burst"
	r := newRig(t, tenant, profile(tenant), nil)
	// Rows already stored, with their first values.
	r.upload("incoming/seed.csv", ecdc.CSV(0, 300))
	checkReports(t, r.awaitAll([]string{"incoming/seed.csv"}, 3*time.Minute), 300)

	// Files of several full batches (1000 rows), each overlapping the
	// next by 500 rows: a stored row that a file repeats costs a
	// replace, FerretDB's slowest write (findings: ~12 ms a row).
	const files, rows, step = 16, 3000, 2500
	keys := overlapping(r, "burst", files, rows, step)
	checkReports(t, r.awaitAll(keys, 20*time.Minute), rows)
	checkStored(t, r, (files-1)*step+rows)
	if n := r.deadLetters(); n != 0 {
		t.Errorf("%d dead letters", n)
	}
	if st := publishedStatuses(t, r); st[contract.StatusFailed] != 0 {
		t.Errorf("reports %v: a file failed an attempt", st)
	}
}

// TestStoreOutageDuringBurst: the store stops for 30 s while a burst is
// being ingested. Every file is ingested once it is back; none is
// dead-lettered and no attempt is spent on the outage.
func TestStoreOutageDuringBurst(t *testing.T) {
	const tenant = "outage"
	r := newRig(t, tenant, profile(tenant), nil)
	const files, rows, step = 15, 1000, 900
	keys := overlapping(r, "outage", files, rows, step)
	harness.Until(t, 3*time.Minute, "the first file to be ingested", func() (bool, string) {
		n := len(r.reports(keys))
		return n > 0, fmt.Sprintf("%d files ingested", n)
	})
	r.stopStore()
	down := time.Now()
	deferrals := `mysimbdp_connector_deferrals_total{function_name="` + r.fnID + `"}`
	harness.Until(t, 3*time.Minute, "30 s of outage, answered as such", func() (bool, string) {
		d := r.metric(deferrals)
		return d > 0 && time.Since(down) >= 30*time.Second, fmt.Sprintf("%.0f deferrals, down for %s", d, time.Since(down).Round(time.Second))
	})
	r.startStore()
	checkReports(t, r.awaitAll(keys, 15*time.Minute), rows)
	checkStored(t, r, (files-1)*step+rows)
	if n := r.deadLetters(); n != 0 {
		t.Errorf("%d dead letters", n)
	}
	if n := r.metric(`mysimbdp_connector_retries_total{function_name="` + r.fnID + `"}`); n != 0 {
		t.Errorf("%.0f attempts spent on the outage", n)
	}
}
