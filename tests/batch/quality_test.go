package batch

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
)

// qualityRules exercise every kind of rule and severity on ECDC rows.
const qualityRules = `quality:
  - {name: geo_two_letters, field: geoId, regex: '^[A-Z]{2}$', severity: warn}
  - {name: has_code, field: countryterritoryCode, required: true, severity: warn}
  - {name: cases_not_negative, field: cases, min: 0, severity: warn}
  - {name: continent_known, field: continentExp, allowed: [Asia, America, Africa, Europe, Oceania, Other]}
  - {name: deaths_le_cases, compare: {left: deaths, op: "<=", right: cases}, severity: warn}
  - {name: parts_agree, date_parts: {date: dateRep, day: day, month: month, year: year}}
  - {name: one_row_per_country_day, unique: [geoId, dateRep], severity: fail-file, max_share: 0.05}
  - {name: fresh, freshness: {field: dateRep, max_age: 30d}, severity: warn}
`

// faultyFile is ECDC rows 0..119 with row 30's day wrong (its date parts
// disagree) and rows 40-42 repeated at the end: known faults, and the
// rows as the rules see them.
func faultyFile() ([]byte, []map[string]any) {
	var b strings.Builder
	b.WriteString(ecdc.Header + "\n")
	var rows []map[string]any
	add := func(i int) {
		line, f := ecdc.Row(i), ecdc.Fields(i)
		if i == 30 {
			parts := strings.Split(line, ",")
			parts[1] = "9"
			line = strings.Join(parts, ",")
			f["day"] = "9"
		}
		b.WriteString(line + "\n")
		rows = append(rows, f)
	}
	for i := range 120 {
		add(i)
	}
	for _, i := range []int{40, 41, 42} {
		add(i)
	}
	return []byte(b.String()), rows
}

func num(v any) float64 {
	switch v := v.(type) {
	case int:
		return float64(v)
	case string:
		var f float64
		fmt.Sscan(v, &f)
		return f
	}
	panic(fmt.Sprintf("%T", v))
}

// TestQualityRulesOnAFileWithKnownFaults: each rule counts exactly the
// rows that break it; reject rows are quarantined with the rule's name,
// warn rows stored; a fail-file rule under its share lets the file in;
// the metadata is what the stored rows hold.
func TestQualityRulesOnAFileWithKnownFaults(t *testing.T) {
	const tenant = "quality"
	b := newBatch(t, ecdc.Profile(tenant, ecdc.SourceNames, "batch:\n"+defaultLimits+"\n"+qualityRules))
	data, rows := faultyFile()
	ev := put(t, tenant, "incoming/faulty.csv", data)
	rep := handle(t, b, ev)

	// What each rule should find, worked out from the rows themselves.
	geo := regexp.MustCompile(`^[A-Z]{2}$`)
	want := map[string]int64{"continent_known": 0, "one_row_per_country_day": 3, "parts_agree": 1, "fresh": 1}
	present, stored := int64(0), int64(0)
	minCases, maxCases := math.Inf(1), math.Inf(-1)
	for i, f := range rows {
		if !geo.MatchString(f["geoId"].(string)) {
			want["geo_two_letters"]++
		}
		if f["countryterritoryCode"] == "" {
			want["has_code"]++
		}
		if num(f["cases"]) < 0 {
			want["cases_not_negative"]++
		}
		if num(f["deaths"]) > num(f["cases"]) {
			want["deaths_le_cases"]++
		}
		if i == 30 {
			continue // quarantined: not in the stored rows' figures
		}
		stored++
		if f["countryterritoryCode"] != "" {
			present++
		}
		minCases, maxCases = math.Min(minCases, num(f["cases"])), math.Max(maxCases, num(f["cases"]))
	}
	if rep.Status != contract.StatusDone || rep.RowsOK != stored || rep.RowsRejected != 1 {
		t.Fatalf("report %s, %d ok, %d rejected (%s); want done, %d ok, 1 rejected", rep.Status, rep.RowsOK, rep.RowsRejected, rep.Error, stored)
	}
	q := rep.Quality
	if q == nil {
		t.Fatal("no quality metadata in the report")
	}
	if q.RowsChecked != int64(len(rows)) || q.RowsQuarantined != 1 {
		t.Errorf("rows checked %d, quarantined %d; want %d and 1", q.RowsChecked, q.RowsQuarantined, len(rows))
	}
	for rule, n := range want {
		if got := q.Rules[rule].Failures; got != n {
			t.Errorf("rule %s: %d failures, want %d", rule, got, n)
		}
	}
	if len(q.Rules) != 8 || q.Rules["parts_agree"].Severity != "reject" || q.Rules["one_row_per_country_day"].Severity != "fail-file" {
		t.Errorf("rules %+v", q.Rules)
	}
	code := q.Fields["countryterritoryCode"]
	if code.Present != present || math.Abs(code.Completeness-float64(present)/float64(stored)) > 1e-9 {
		t.Errorf("countryterritoryCode present %d (%.4f), want %d of %d", code.Present, code.Completeness, present, stored)
	}
	if c := q.Fields["cases"]; c.Min == nil || c.Max == nil || *c.Min != minCases || *c.Max != maxCases {
		t.Errorf("cases min/max %v/%v, want %v/%v", c.Min, c.Max, minCases, maxCases)
	}
	if d := q.Fields["geoId"].Distinct; d != int64(ecdc.Countries) {
		t.Errorf("distinct geoId %d, want %d", d, ecdc.Countries)
	}
	wantLineage := contract.Lineage{Bucket: tenant, Key: "incoming/faulty.csv", ETag: rep.ETag, Dataset: "default", App: "mysimbdp/batch-ingest"}
	got := q.Lineage
	got.AppVersion = ""
	if got != wantLineage || q.Lineage.AppVersion == "" {
		t.Errorf("lineage %+v, want %+v with a version", q.Lineage, wantLineage)
	}
	if len(rep.Warnings) != 1 || !strings.HasPrefix(rep.Warnings[0], "quality rule fresh") {
		t.Errorf("warnings %q, want the freshness rule's", rep.Warnings)
	}

	// The quarantined row names its rule; the warn rows are stored.
	var qrow bson.M
	err := env.db.Database(tenant).Collection("covid_daily_rejected").FindOne(t.Context(), bson.D{{Key: "file", Value: "incoming/faulty.csv"}}).Decode(&qrow)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := qrow["reason"].(string); !strings.HasPrefix(r, "quality rule parts_agree:") || qrow["line"] != int32(32) {
		t.Errorf("quarantined row %v, want line 32 with rule parts_agree", qrow)
	}
	if n := count(t, tenant, "covid_daily_rejected", nil); n != 1 {
		t.Errorf("%d rows quarantined, want 1", n)
	}
	if n := count(t, tenant, "covid_daily", bson.D{{Key: "geoId", Value: "JPG11668"}}); n != 20 {
		t.Errorf("%d JPG11668 rows stored, want the 20 that only broke warn rules", n)
	}
	// The report kept with the file and in the ingestion record says it too.
	var stored2 contract.BatchReport
	if err := env.db.Database(tenant).Collection("mysimbdp_ingestions").FindOne(t.Context(), bson.D{{Key: "key", Value: "incoming/faulty.csv"}}).Decode(&stored2); err != nil {
		t.Fatal(err)
	}
	if stored2.Quality == nil || stored2.Quality.Rules["parts_agree"].Failures != 1 || stored2.Quality.Fields["geoId"].Distinct != int64(ecdc.Countries) {
		t.Errorf("the ingestion record's quality %+v", stored2.Quality)
	}
}

// TestFailFileRejectsTheWholeFile: more repeated rows than the rule's
// share rejects the file with the share in its reason, and none of its
// rows is stored or quarantined.
func TestFailFileRejectsTheWholeFile(t *testing.T) {
	const tenant = "failfile"
	b := newBatch(t, ecdc.Profile(tenant, ecdc.SourceNames, "batch:\n"+defaultLimits+"\n"+qualityRules))
	var f strings.Builder
	f.WriteString(ecdc.Header + "\n")
	for i := range 60 {
		f.WriteString(ecdc.Row(i) + "\n")
	}
	for i := range 20 {
		f.WriteString(ecdc.Row(i) + "\n")
	}
	rep := handle(t, b, put(t, tenant, "incoming/twice.csv", []byte(f.String())))
	want := "quality rule one_row_per_country_day failed on 20 of 80 rows (25.0%), over its max_share of 5.0%; no row of the file was stored"
	if rep.Status != contract.StatusRejected || rep.Error != want {
		t.Errorf("report %s %q, want rejected with %q", rep.Status, rep.Error, want)
	}
	if rep.Quality == nil || rep.Quality.Rules["one_row_per_country_day"].Failures != 20 {
		t.Errorf("quality %+v", rep.Quality)
	}
	if n := count(t, tenant, "covid_daily", nil) + count(t, tenant, "covid_daily_rejected", nil); n != 0 {
		t.Errorf("%d documents stored from a rejected file", n)
	}
	if !exists(t, tenant, "rejected/twice.csv") {
		t.Error("the file is not in rejected/")
	}
}
