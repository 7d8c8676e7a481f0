package datasets

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/infra/deadletter"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/stats"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// casesDataset is a dataset named cases holding the ECDC daily cases as
// tenants/tenant1.yaml stores them (shared/ecdc: key geoId+dateRep,
// dateRep a date), with more dataset sections (fanout:, quality:).
func casesDataset(more string) string {
	body := strings.TrimPrefix(ecdc.Profile("x", ecdc.SourceNames, more), "tenant: x\n")
	var b strings.Builder
	b.WriteString("  - name: cases\n")
	for _, line := range strings.SplitAfter(body, "\n") {
		if line != "" {
			b.WriteString("    " + line)
		}
	}
	return b.String()
}

// streamLimits keeps the tenant's stream small (each reserves its
// max_bytes of the server's store) and its windows short, so that the
// stream function's window reports (with their quality metadata) come
// within seconds.
const streamLimits = `stream:
  window: 2s
  max_bytes_per_window: 32MiB
  jetstream:
    max_bytes: 64MiB
`

// twoDatasets is a tenant with ECDC cases (a reject and a warn rule, a
// raw archive) and lab tests (a warn rule), both on the platform's apps.
func twoDatasets(name string) string {
	return "tenant: " + name + "\n" + streamLimits + "datasets:\n" + casesDataset(`fanout:
  - {collection: covid_raw, form: raw}
quality:
  - {name: cases_not_negative, field: cases, min: 0}
  - {name: few_deaths, field: deaths, max: 9, severity: warn}
`) + `  - name: labtests
    sink:
      collection: lab_tests
      schema:
        - {name: lab, type: string, required: true}
        - {name: day, type: date, required: true}
        - {name: positive, type: int}
      key: [lab, day]
    quality:
      - {name: positive_known, field: positive, required: true, severity: warn}
`
}

// ecdcInt is field of ECDC row i as a number.
func ecdcInt(i int, field string) int64 { return int64(ecdc.Fields(i)[field].(int)) }

// ecdcDate is ECDC row i's dateRep as a date.
func ecdcDate(t *testing.T, i int) time.Time {
	t.Helper()
	d, err := time.Parse("2/01/2006", ecdc.Fields(i)["dateRep"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// labRow is one lab test as the tenant sends it.
type labRow struct {
	Lab      string `json:"lab"`
	Day      string `json:"day"`
	Positive *int64 `json:"positive,omitempty"`
}

func ptr(v int64) *int64 { return &v }

// TestTwoDatasetsThroughBothFlows: one tenant, two datasets, files and
// records of each. Every file and record lands in its dataset's
// collections only; the reject rule quarantines (files) or dead-letters
// (records) what breaks it, with the rule's name; a file in a folder no
// dataset has is rejected and a record on a subject no dataset has is
// dead-lettered at once, both with the datasets named; dates are dates;
// the stats show each dataset's quality.
func TestTwoDatasetsThroughBothFlows(t *testing.T) {
	e := platform(t)
	const name = "dsboth"
	ctx := t.Context()
	creds, out := e.apply(t, name, twoDatasets(name))
	for _, want := range []string{
		"  cases\n    files    incoming/cases/ -> platform app (dsboth-batch-ingest)\n" +
			"    records  ingest.dsboth.cases, ingest.dsboth.cases.> -> platform app (dsboth-stream-ingest)\n" +
			"    rows     covid_daily (rejected rows: covid_daily_rejected), fan-out covid_raw (raw)\n",
		"  labtests\n    files    incoming/labtests/ -> platform app (dsboth-batch-ingest)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tenant apply's output lacks %q:\n%s", want, out)
		}
	}

	// The files, with the tenant's own S3 keys. Rows 0-19 of the ECDC
	// file have negative cases (the source's corrections), which the
	// reject rule quarantines.
	const fileRows = 120
	labFile := "lab,day,positive\n" +
		"north,2020-07-01,4\nsouth,2020-07-01,0\neast,2020-07-01,7\nwest,2020-07-01,1\n" +
		"north,2020-07-02,3\nsouth,2020-07-02,\neast,2020-07-02,9\nwest,2020-07-02,2\n"
	const labFileRows, labFilePositive = 8, 26
	files := []struct{ key, body string }{
		{"incoming/cases/2020-07.csv", string(ecdc.CSV(0, fileRows))},
		{"incoming/labtests/july.csv", labFile},
		{"incoming/unknown/x.csv", string(ecdc.CSV(0, 3))},
	}
	s3 := e.s3As(t, creds)
	for _, f := range files {
		if _, err := s3.PutObject(ctx, name, f.key, strings.NewReader(f.body), int64(len(f.body)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("upload %s with the tenant's keys: %v", f.key, err)
		}
	}

	// The records, with the tenant's NATS user: ECDC rows 600-629 (far
	// older days than the file's), row 1000 (negative cases: the reject
	// rule), lab tests, and one record on a subject no dataset has.
	js, err := jetstream.New(e.natsAs(t, creds))
	if err != nil {
		t.Fatal(err)
	}
	publish := func(subject, id string, data []byte) {
		t.Helper()
		if _, err := js.Publish(ctx, subject, data, jetstream.WithMsgID(id)); err != nil {
			t.Fatalf("publish %s to %s: %v", id, subject, err)
		}
	}
	const streamFrom, streamTo, negative = 600, 630, 1000
	for i := streamFrom; i < streamTo; i++ {
		publish("ingest."+name+".cases", fmt.Sprintf("cases-%d", i), ecdc.JSON(i))
	}
	publish("ingest."+name+".cases", fmt.Sprintf("cases-%d", negative), ecdc.JSON(negative))
	labRecords := []labRow{{"north", "2020-07-03", ptr(5)}, {"south", "2020-07-03", ptr(6)}, {"east", "2020-07-03", ptr(8)}}
	const labRecordsPositive = 19
	for i, r := range labRecords {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		publish("ingest."+name+".labtests", fmt.Sprintf("lab-%d", i), b)
	}
	publish("ingest."+name+".unknown", "unknown-1", []byte(`{"lab":"lost","day":"2020-07-03"}`))

	// What the rows should come to, worked out from the generator.
	var fileStored, fileCasesSum, streamCasesSum, manyDeaths int64
	for i := range fileRows {
		if ecdcInt(i, "cases") >= 0 {
			fileStored++
			fileCasesSum += ecdcInt(i, "cases")
		}
		if ecdcInt(i, "deaths") > 9 {
			manyDeaths++
		}
	}
	for i := streamFrom; i < streamTo; i++ {
		streamCasesSum += ecdcInt(i, "cases")
		if ecdcInt(i, "deaths") > 9 {
			manyDeaths++
		}
	}
	if ecdcInt(negative, "cases") >= 0 || fileStored == fileRows {
		t.Fatal("the generator no longer gives negative cases where this test needs them")
	}
	if ecdcInt(negative, "deaths") > 9 {
		manyDeaths++
	}
	streamRows := int64(streamTo - streamFrom)

	t.Run("files", func(t *testing.T) {
		// Done files move to processed/ with their report beside them.
		e.waitObject(t, name, "processed/cases/2020-07.csv.report.json", 2*time.Minute)
		e.waitObject(t, name, "processed/labtests/july.csv.report.json", time.Minute)
		for _, key := range []string{"incoming/cases/2020-07.csv", "incoming/labtests/july.csv"} {
			harness.Until(t, 30*time.Second, key+" gone from incoming/", func() (bool, string) {
				ok, state := e.exists(t, name, key)
				return !ok && strings.HasSuffix(state, "not there"), state
			})
			moved := "processed/" + strings.TrimPrefix(key, "incoming/")
			if ok, state := e.exists(t, name, moved); !ok {
				t.Errorf("%s: %s", moved, state)
			}
		}
		var cases, labs contract.BatchReport
		for key, rep := range map[string]*contract.BatchReport{"processed/cases/2020-07.csv.report.json": &cases, "processed/labtests/july.csv.report.json": &labs} {
			if err := json.Unmarshal(e.readObject(t, name, key), rep); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
		}
		if cases.Status != contract.StatusDone || cases.Dataset != "cases" || cases.RowsOK != fileStored || cases.RowsRejected != fileRows-fileStored {
			t.Errorf("cases file report: status %s, dataset %q, %d ok, %d rejected; want done, cases, %d, %d", cases.Status, cases.Dataset, cases.RowsOK, cases.RowsRejected, fileStored, fileRows-fileStored)
		}
		if q := cases.Quality; q == nil || q.RowsChecked != fileRows || q.RowsQuarantined != fileRows-fileStored ||
			q.Rules["cases_not_negative"] != (contract.RuleCount{Severity: "reject", Failures: fileRows - fileStored}) ||
			q.Rules["few_deaths"].Severity != "warn" || q.Fields["geoId"].Distinct != int64(ecdc.Countries) || q.Lineage.Dataset != "cases" {
			t.Errorf("cases file quality %+v: want %d checked, %d quarantined by cases_not_negative, few_deaths a warning, %d distinct geoIds, lineage of dataset cases", q, fileRows, fileRows-fileStored, ecdc.Countries)
		}
		if labs.Status != contract.StatusDone || labs.Dataset != "labtests" || labs.RowsOK != labFileRows {
			t.Errorf("lab file report: status %s, dataset %q, %d ok; want done, labtests, %d", labs.Status, labs.Dataset, labs.RowsOK, labFileRows)
		}
		if q := labs.Quality; q == nil || q.RowsChecked != labFileRows || q.Rules["positive_known"] != (contract.RuleCount{Severity: "warn", Failures: 1}) || q.Lineage.Dataset != "labtests" {
			t.Errorf("lab file quality %+v: want %d checked, positive_known failed once (a warning)", q, labFileRows)
		}

		// The quarantined rows name the rule.
		quarantined := e.docs(t, name, "covid_daily_rejected", nil)
		if int64(len(quarantined)) != fileRows-fileStored {
			t.Errorf("covid_daily_rejected holds %d rows, want %d", len(quarantined), fileRows-fileStored)
		}
		for _, q := range quarantined {
			if r, _ := q["reason"].(string); !strings.HasPrefix(r, "quality rule cases_not_negative:") {
				t.Errorf("quarantined row %v: want its reason to name cases_not_negative", q)
				break
			}
		}

		// A file in a folder no dataset has: rejected, the datasets named.
		e.waitObject(t, name, "rejected/unknown/x.csv.report.json", time.Minute)
		var rej contract.BatchReport
		if err := json.Unmarshal(e.readObject(t, name, "rejected/unknown/x.csv.report.json"), &rej); err != nil {
			t.Fatal(err)
		}
		want := "no dataset of tenant dsboth has the folder of incoming/unknown/x.csv; its datasets and folders: cases (incoming/cases/), labtests (incoming/labtests/)"
		if rej.Status != contract.StatusRejected || rej.Error != want || rej.RowsOK != 0 {
			t.Errorf("unknown folder's report: %s %q, %d rows; want rejected with %q", rej.Status, rej.Error, rej.RowsOK, want)
		}
		if ok, _ := e.exists(t, name, "rejected/unknown/x.csv"); !ok {
			t.Error("the unknown folder's file was not moved to rejected/")
		}
	})

	t.Run("dead letters", func(t *testing.T) {
		// A record on a subject no dataset has, and one the reject rule
		// refuses: each dead-lettered after one attempt, with the reason.
		var letters []deadletter.Letter
		harness.Until(t, time.Minute, "two dead letters of "+name, func() (bool, string) {
			out, err := e.mysimbdp(t, nil, "deadletter", "list", "--json", name)
			if err != nil {
				return false, fmt.Sprintf("%v: %s", err, out)
			}
			letters = nil
			if err := json.Unmarshal([]byte(out), &letters); err != nil {
				return false, fmt.Sprintf("%v: %s", err, out)
			}
			return len(letters) >= 2, out
		})
		want := map[string]string{
			"unknown-1":                       "no dataset of tenant dsboth takes subject ingest.dsboth.unknown; its datasets and subjects: cases (ingest.dsboth.cases), labtests (ingest.dsboth.labtests)",
			fmt.Sprintf("cases-%d", negative): fmt.Sprintf("quality rule cases_not_negative: cases is %d", ecdcInt(negative, "cases")),
		}
		if len(letters) != len(want) {
			t.Errorf("%d dead letters, want %d: %+v", len(letters), len(want), letters)
		}
		for _, l := range letters {
			w, ok := want[l.RecordID]
			if !ok {
				t.Errorf("unexpected dead letter %+v", l)
				continue
			}
			if l.Attempts != 1 || !strings.Contains(l.Reason, w) || l.Tenant != name || l.Function != "dsboth-stream-ingest.openfaas-fn" {
				t.Errorf("dead letter of %s: %d attempts, tenant %q, function %q, reason %q; want 1 attempt by dsboth-stream-ingest, the reason containing %q",
					l.RecordID, l.Attempts, l.Tenant, l.Function, l.Reason, w)
			}
		}
	})

	t.Run("sinks", func(t *testing.T) {
		// Each dataset's rows in its own collections: counts and sums.
		harness.Until(t, time.Minute, "every good row stored", func() (bool, string) {
			c, l := e.count(t, name, "covid_daily", nil), e.count(t, name, "lab_tests", nil)
			return c == fileStored+streamRows && l == labFileRows+int64(len(labRecords)), fmt.Sprintf("covid_daily %d, lab_tests %d", c, l)
		})
		covid := e.docs(t, name, "covid_daily", nil)
		if got := sumInt(covid, "cases"); got != fileCasesSum+streamCasesSum {
			t.Errorf("covid_daily: sum of cases %d, want %d (file %d + records %d)", got, fileCasesSum+streamCasesSum, fileCasesSum, streamCasesSum)
		}
		labs := e.docs(t, name, "lab_tests", nil)
		if got := sumInt(labs, "positive"); got != labFilePositive+labRecordsPositive {
			t.Errorf("lab_tests: sum of positive %d, want %d", got, labFilePositive+labRecordsPositive)
		}
		for _, d := range covid {
			if _, ok := d["lab"]; ok {
				t.Errorf("a lab test in covid_daily: %v", d)
			}
		}
		for _, d := range labs {
			if _, ok := d["geoId"]; ok {
				t.Errorf("an ECDC row in lab_tests: %v", d)
			}
		}
		// The raw archive has every good row of the dataset, as it came.
		if n := e.count(t, name, "covid_raw", nil); n != fileStored+streamRows {
			t.Errorf("covid_raw holds %d rows, want %d", n, fileStored+streamRows)
		}
		var row bson.M
		if err := e.pl.Mongo.Database(name).Collection("covid_raw").FindOne(ctx, bson.D{{Key: "source", Value: "incoming/cases/2020-07.csv"}, {Key: "line", Value: 40}}).Decode(&row); err != nil {
			t.Errorf("the archive has no row for line 40 of the file: %v", err)
		} else if row["raw"] != ecdc.Row(38) {
			t.Errorf("archived line 40: %v, want %q", row["raw"], ecdc.Row(38))
		}
		if n := e.count(t, name, "lab_tests_rejected", nil); n != 0 {
			t.Errorf("lab_tests_rejected holds %d rows, want none", n)
		}
	})

	t.Run("dates are dates", func(t *testing.T) {
		// A range of days, asked with the driver, counts what the file
		// holds in it (the records are months older).
		from, to := time.Date(2020, 6, 20, 0, 0, 0, 0, time.UTC), time.Date(2020, 7, 1, 0, 0, 0, 0, time.UTC)
		var want int64
		for i := range fileRows {
			if d := ecdcDate(t, i); ecdcInt(i, "cases") >= 0 && !d.Before(from) && d.Before(to) {
				want++
			}
		}
		filter := bson.D{{Key: "dateRep", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: to}}}}
		if got := e.count(t, name, "covid_daily", filter); got != want || want == 0 {
			t.Errorf("%d rows with dateRep in [%s, %s), want %d", got, from.Format(time.DateOnly), to.Format(time.DateOnly), want)
		}
		var lab bson.M
		if err := e.pl.Mongo.Database(name).Collection("lab_tests").FindOne(ctx, bson.D{{Key: "lab", Value: "north"}, {Key: "day", Value: time.Date(2020, 7, 3, 0, 0, 0, 0, time.UTC)}}).Decode(&lab); err != nil {
			t.Errorf("the lab record of 2020-07-03, found by its date: %v", err)
		}
	})

	t.Run("stats", func(t *testing.T) {
		// The operator's stats: quality per dataset, files and stream
		// windows merged.
		var got map[string]stats.DatasetQuality
		harness.Until(t, time.Minute, "the stats' quality of both datasets, files and records", func() (bool, string) {
			code, body := e.stats(t, "?format=json")
			if code != 200 {
				return false, fmt.Sprint(code, " ", body)
			}
			var sm stats.Summary
			if err := json.Unmarshal([]byte(body), &sm); err != nil {
				return false, err.Error()
			}
			got = map[string]stats.DatasetQuality{}
			for _, d := range sm.Quality {
				if d.Tenant == name {
					got[d.Dataset] = d
				}
			}
			c, l := got["cases"], got["labtests"]
			return c.Quality.RowsChecked == fileRows+streamRows+1 && l.Quality.RowsChecked == labFileRows+int64(len(labRecords)),
				fmt.Sprintf("%+v", sm.Quality)
		})
		c := got["cases"]
		if len(got) != 2 || c.Files != 1 || c.Windows < 1 || c.Quality.RowsQuarantined != fileRows-fileStored+1 ||
			c.Quality.Rules["cases_not_negative"].Failures != fileRows-fileStored+1 || c.Quality.Rules["few_deaths"].Failures != manyDeaths {
			t.Errorf("stats' quality of cases %+v: want 1 file, windows, %d quarantined by cases_not_negative, %d few_deaths warnings", c, fileRows-fileStored+1, manyDeaths)
		}
		if l := got["labtests"]; l.Files != 1 || l.Windows < 1 || l.Quality.Rules["positive_known"].Failures != 1 {
			t.Errorf("stats' quality of labtests %+v: want 1 file, windows, 1 positive_known warning", l)
		}

		code, table := e.stats(t, "")
		if code != 200 {
			t.Fatalf("GET /function/stats: %d %s", code, table)
		}
		_, section, ok := strings.Cut(table, "\nQUALITY")
		if !ok {
			t.Fatalf("the table has no QUALITY section:\n%s", table)
		}
		rows := map[string][]string{}
		for _, line := range strings.Split(section, "\n") {
			if f := strings.Fields(line); len(f) > 6 && f[0] == name {
				rows[f[1]] = f
			}
		}
		wantCases := []string{name, "cases", "1", fmt.Sprint(c.Windows), fmt.Sprint(fileRows + streamRows + 1), fmt.Sprint(fileRows - fileStored + 1),
			fmt.Sprintf("cases_not_negative(reject)=%d", fileRows-fileStored+1)}
		if f := rows["cases"]; len(f) < len(wantCases) || !slices.Equal(f[:len(wantCases)], wantCases) || !strings.Contains(strings.Join(f, " "), fmt.Sprintf("few_deaths(warn)=%d", manyDeaths)) {
			t.Errorf("the table's quality row of cases %q, want it to start %q and hold few_deaths(warn)=%d:\n%s", f, wantCases, manyDeaths, table)
		}
		if f := rows["labtests"]; len(f) < 7 || f[2] != "1" || !strings.Contains(strings.Join(f, " "), "positive_known(warn)=1") {
			t.Errorf("the table's quality row of labtests %q:\n%s", f, table)
		}
	})
}
