package quality

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// TestMetadata: the metadata of a small file is exactly what its rows
// hold, quarantined rows left out of the field metadata.
func TestMetadata(t *testing.T) {
	c := mustCompile(t, covidYAML, KeyFields("geoId", "dateRep"))
	f := c.NewFile()
	rows := []bson.D{
		covid("2020-03-01", 10, 1, "FR", "Europe"),
		covid("2020-03-02", 20, 30, "FR", "Europe"),                      // deaths_le_cases (warn)
		covid("2020-03-02", 5, 0, "DE", "Atlantis"),                      // continent_known (warn)
		covid("2020-03-03", -1, 0, "IT", "Europe"),                       // cases_not_negative (reject)
		with(covid("2020-03-01", 7, 0, "ES", ""), "deaths", nil),         // no continent, no deaths
		with(covid("2020-03-04", 2.5e6, 0, "JP", "Asia"), "geoId", "jp"), // geo_code (reject)
		covid("2020-03-01", 1, 0, "FR", "Europe"),                        // one_row_per_country_day (fail-file)
	}
	for i, r := range rows {
		f.Check(i+1, bdoc(r))
	}
	res := f.Result(date("2020-03-03"))
	q := res.Quality

	fl := func(v float64) *float64 { return &v }
	tm := func(s string) *time.Time { v := date(s); return &v }
	num := func(present int64, lo, hi float64) contract.FieldQuality {
		return contract.FieldQuality{Present: present, Completeness: float64(present) / 5, Min: fl(lo), Max: fl(hi)}
	}
	want := contract.Quality{
		RowsChecked: 7, RowsQuarantined: 2,
		Rules: map[string]contract.RuleCount{
			"cases_not_negative":      {Severity: "reject", Failures: 1},
			"has_country":             {Severity: "reject"},
			"continent_known":         {Severity: "warn", Failures: 1},
			"geo_code":                {Severity: "reject", Failures: 1},
			"one_row_per_country_day": {Severity: "fail-file", Failures: 1},
			"parts_agree":             {Severity: "reject"},
			"deaths_le_cases":         {Severity: "warn", Failures: 2}, // the quarantined row too
			"fresh":                   {Severity: "fail-file"},
		},
		Fields: map[string]contract.FieldQuality{
			"dateRep":                 {Present: 5, Completeness: 1, MinTime: tm("2020-03-01"), MaxTime: tm("2020-03-02")},
			"day":                     num(5, 1, 2),
			"month":                   num(5, 3, 3),
			"year":                    num(5, 2020, 2020),
			"cases":                   num(5, 1, 20),
			"deaths":                  num(4, 0, 30),
			"geoId":                   {Present: 5, Completeness: 1},
			"continentExp":            {Present: 4, Completeness: 0.8},
			"countriesAndTerritories": {},
			"popData2019":             {},
			"official":                {},
		},
	}
	distinct := map[string]int64{}
	for name, fq := range q.Fields {
		if fq.Sketch != nil {
			distinct[name] = fq.Distinct
			fq.Sketch, fq.Distinct = nil, 0
			q.Fields[name] = fq
		}
	}
	if !reflect.DeepEqual(q, want) {
		t.Errorf("metadata\n got %s\nwant %s", dump(q), dump(want))
	}
	// Exact at this size: HyperLogLog's small range is linear counting.
	if !reflect.DeepEqual(distinct, map[string]int64{"geoId": 3, "dateRep": 2}) {
		t.Errorf("distinct counts %v, want geoId 3 (FR, DE, ES) and dateRep 2", distinct)
	}
	if res.OK() || res.Reason() != "quality rule one_row_per_country_day failed on 1 of 7 rows (14.3%), over its max_share of 1.0%" {
		t.Errorf("verdict: ok %v, reason %q", res.OK(), res.Reason())
	}
}

func dump(q contract.Quality) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rows %d quarantined %d\n", q.RowsChecked, q.RowsQuarantined)
	for _, n := range sortedKeys(q.Rules) {
		fmt.Fprintf(&b, "  rule %s %+v\n", n, q.Rules[n])
	}
	for _, n := range sortedKeys(q.Fields) {
		fq := q.Fields[n]
		fmt.Fprintf(&b, "  field %s present %d completeness %v", n, fq.Present, fq.Completeness)
		if fq.Min != nil {
			fmt.Fprintf(&b, " min %v max %v", *fq.Min, *fq.Max)
		}
		if fq.MinTime != nil {
			fmt.Fprintf(&b, " from %v to %v", *fq.MinTime, *fq.MaxTime)
		}
		fmt.Fprintf(&b, " distinct %d sketch %d bytes\n", fq.Distinct, len(fq.Sketch))
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

// TestFailFile: a fail-file rule fails the file only past its max_share,
// with a reason that gives the count, the share and the limit.
func TestFailFile(t *testing.T) {
	good := func(i int) bson.D { return covid("2020-03-01", int64(i), 0, fmt.Sprintf("C%d", i), "Europe") }
	negative := func(i int) bson.D { return with(good(i), "cases", int64(-1)) }
	for _, tc := range []struct {
		name    string
		rules   string
		rule    string // the rule counted
		rows    int
		failing int
		bad     func(i int) bson.D // row i (of the first failing ones)
		want    string             // "" when the file passes
	}{
		{"none failing", `[{name: pos, field: cases, min: 0, severity: fail-file}]`, "pos", 100, 0, negative, ""},
		{"one, no share", `[{name: pos, field: cases, min: 0, severity: fail-file}]`, "pos", 100, 1, negative,
			"quality rule pos failed on 1 of 100 rows (1.0%), over its max_share of 0.0%"},
		{"at the share", `[{name: pos, field: cases, min: 0, severity: fail-file, max_share: 0.1}]`, "pos", 100, 10, negative, ""},
		{"over the share", `[{name: pos, field: cases, min: 0, severity: fail-file, max_share: 0.1}]`, "pos", 100, 11, negative,
			"quality rule pos failed on 11 of 100 rows (11.0%), over its max_share of 10.0%"},
		{"unique", `[{name: one_row_per_country_day, unique: [geoId, dateRep], severity: fail-file, max_share: 0.01}]`, "one_row_per_country_day", 100, 12,
			func(i int) bson.D { return good(1000) }, // the first is stored, 12 repeat it
			"quality rule one_row_per_country_day failed on 12 of 100 rows (12.0%), over its max_share of 1.0%"},
		{"warn never fails", `[{name: pos, field: cases, min: 0, severity: warn}]`, "pos", 100, 99, negative, ""},
		{"two rules, in rule order", `[{name: small, field: cases, max: 1000, severity: fail-file, max_share: 0.5}, {name: pos, field: cases, min: 0, severity: fail-file}]`, "small", 10, 7,
			func(i int) bson.D {
				if i < 6 {
					return with(good(i), "cases", int64(5000))
				}
				return negative(i)
			},
			"quality rule small failed on 6 of 10 rows (60.0%), over its max_share of 50.0%; quality rule pos failed on 1 of 10 rows (10.0%), over its max_share of 0.0%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCompile(t, "quality: "+tc.rules)
			f := c.NewFile()
			// The unique case's first row is its key's first sighting.
			f.Check(1, bdoc(good(1000)))
			for i := 1; i < tc.rows; i++ {
				r := good(i)
				if i <= tc.failing {
					r = tc.bad(i - 1)
				}
				f.Check(i+1, bdoc(r))
			}
			res := f.Result(date("2020-03-02"))
			if got := res.Reason(); got != tc.want || res.OK() != (tc.want == "") {
				t.Errorf("reason %q (ok %v), want %q", got, res.OK(), tc.want)
			}
			wantFailures := tc.failing
			if tc.name == "two rules, in rule order" {
				wantFailures = 6
			}
			if got := res.Quality.Rules[tc.rule].Failures; got != int64(wantFailures) {
				t.Errorf("rule %s: %d failures, want %d", tc.rule, got, wantFailures)
			}
			if !res.OK() {
				fl := res.Failed[0]
				if fl.Rule != tc.rule || fl.Rows != int64(tc.rows) || fl.Failures != int64(wantFailures) ||
					math.Abs(fl.Share-float64(wantFailures)/float64(tc.rows)) > 1e-12 {
					t.Errorf("failure %+v", fl)
				}
			}
		})
	}
}

// TestFreshness: the newest stored date against max_age, with a fixed now.
func TestFreshness(t *testing.T) {
	day := func(s string) bson.D { return covid(s, 1, 0, "FR", "Europe") }
	for _, tc := range []struct {
		name     string
		severity string
		rows     []bson.D
		now      time.Time
		want     string // the reason, "" when fresh
	}{
		{"fresh", "fail-file", []bson.D{day("2020-03-01"), day("2020-03-10"), day("2020-03-05")}, date("2020-03-12"), ""},
		{"exactly max_age", "fail-file", []bson.D{day("2020-03-10")}, date("2020-03-13"), ""},
		{"a second over", "fail-file", []bson.D{day("2020-03-10")}, date("2020-03-13").Add(time.Second),
			"quality rule fresh: the newest dateRep is 2020-03-10, 3d old, older than its max_age of 3d"},
		{"stale", "fail-file", []bson.D{day("2020-03-01"), day("2020-03-02")}, date("2020-03-09").Add(5 * time.Hour),
			"quality rule fresh: the newest dateRep is 2020-03-02, 7d5h old, older than its max_age of 3d"},
		{"a quarantined newer row does not count", "fail-file", []bson.D{day("2020-03-01"), with(day("2020-03-10"), "cases", int64(-1))}, date("2020-03-10"),
			"quality rule fresh: the newest dateRep is 2020-03-01, 9d old, older than its max_age of 3d"},
		{"no date at all", "fail-file", []bson.D{with(day("2020-03-01"), "dateRep", nil)}, date("2020-03-10"),
			"quality rule fresh: no stored row has a dateRep, so the data cannot be shown to be fresh"},
		{"no rows", "fail-file", nil, date("2020-03-10"), ""},
		{"warn", "warn", []bson.D{day("2020-03-01")}, date("2020-03-10"),
			"quality rule fresh: the newest dateRep is 2020-03-01, 9d old, older than its max_age of 3d"},
		{"default severity fails the file", "", []bson.D{day("2020-03-01")}, date("2020-03-10"),
			"quality rule fresh: the newest dateRep is 2020-03-01, 9d old, older than its max_age of 3d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sev := ""
			if tc.severity != "" {
				sev = ", severity: " + tc.severity
			}
			c := mustCompile(t, `quality: [{name: pos, field: cases, min: 0}, {name: fresh, freshness: {field: dateRep, max_age: 72h}`+sev+`}]`)
			f := c.NewFile()
			for i, r := range tc.rows {
				f.Check(i+1, bdoc(r))
			}
			res := f.Result(tc.now)
			var got string
			var failures int64 = 0
			switch {
			case tc.severity == "warn":
				if !res.OK() {
					t.Errorf("a warn rule failed the file: %s", res.Reason())
				}
				if len(res.Warned) == 1 {
					got = res.Warned[0].Reason
				}
			default:
				got = res.Reason()
			}
			if tc.want != "" {
				failures = 1
			}
			if got != tc.want {
				t.Errorf("reason %q, want %q", got, tc.want)
			}
			rc := res.Quality.Rules["fresh"]
			wantSev := tc.severity
			if wantSev == "" {
				wantSev = "fail-file"
			}
			if rc.Failures != failures || rc.Severity != wantSev {
				t.Errorf("rule count %+v, want %d failures, severity %s", rc, failures, wantSev)
			}
		})
	}
}

// TestMergeHalves: the metadata of a file's two halves, merged, is the
// metadata of the whole file.
func TestMergeHalves(t *testing.T) {
	// Uniqueness is per file, so it stays out: halves cannot see each
	// other's keys.
	rules := strings.Replace(covidYAML, "  - {name: one_row_per_country_day, unique: [geoId, dateRep], severity: fail-file, max_share: 0.01}\n", "", 1)
	c := mustCompile(t, rules, KeyFields("geoId", "dateRep", "cases"))
	const n = 20000
	rows := make([]bson.D, n)
	for i := range rows {
		d := date("2020-01-01").AddDate(0, 0, i%300)
		r := covid(d.Format(time.DateOnly), int64(i%977)-3, int64(i%13), fmt.Sprintf("G%d", i%1500), []string{"Europe", "Asia", "Mars", ""}[i%4])
		if i%17 == 0 {
			r = with(r, "deaths", nil)
		}
		if i%101 == 0 {
			r = with(r, "month", int64(13))
		}
		rows[i] = r
	}
	now := date("2020-10-28")
	whole := c.NewFile()
	a, b := c.NewFile(), c.NewFile()
	for i, r := range rows {
		whole.Check(i+1, bdoc(r))
		if i < n/2 {
			a.Check(i+1, bdoc(r))
		} else {
			b.Check(i+1, bdoc(r))
		}
	}
	lineage := contract.Lineage{Bucket: "t1", Key: "incoming/covid.csv", ETag: "abc", Dataset: "covid", App: "batch", AppVersion: "1"}
	want := whole.Result(now).Quality
	want.Lineage = lineage
	qa, qb := a.Result(now).Quality, b.Result(now).Quality
	qa.Lineage, qb.Lineage = lineage, lineage
	var got contract.Quality
	got.Merge(qa)
	got.Merge(qb)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("halves merged\n%s\nwhole\n%s", dump(got), dump(want))
	}
	if g := want.Fields["geoId"].Distinct; math.Abs(float64(g)-1500) > 1500*0.03 {
		t.Errorf("geoId distinct %d, want about 1500", g)
	}
	if g := want.Fields["cases"].Distinct; math.Abs(float64(g)-974) > 974*0.03 {
		t.Errorf("cases distinct %d, want about 974 (0..973; the negative are quarantined)", g)
	}
}

// TestUniqueMany: repeats are found among many rows, each pointing at the
// line its key was first seen on.
func TestUniqueMany(t *testing.T) {
	c := mustCompile(t, `quality: [{name: u, unique: [geoId, dateRep], severity: warn}]`)
	f := c.NewFile()
	const n = 200_000
	repeats := 0
	for i := 0; i < n; i++ {
		k := i
		if i%1000 == 999 {
			k = i - 500 // repeats the row 500 lines up
			repeats++
		}
		geo := fmt.Sprintf("G%d", k/365)
		d := date("2000-01-01").AddDate(0, 0, k%365).Format(time.DateOnly)
		vs := f.Check(i+1, bdoc(covid(d, 1, 0, geo, "Europe")))
		isRepeat := i%1000 == 999
		if isRepeat != (len(vs) == 1) {
			t.Fatalf("line %d: violations %v, repeat %v", i+1, vs, isRepeat)
		}
		if isRepeat && !strings.HasSuffix(vs[0].Reason, fmt.Sprintf("repeats line %d", k+1)) {
			t.Fatalf("line %d: %q, want it to repeat line %d", i+1, vs[0].Reason, k+1)
		}
	}
	q := f.Result(time.Now()).Quality
	if rc := q.Rules["u"]; rc.Failures != int64(repeats) || rc.Note != "" {
		t.Errorf("rule u: %+v, want %d failures and no note", rc, repeats)
	}
}

// TestUniqueBound: past its bound a uniqueness rule still checks rows
// against the keys it holds, remembers no more, and says so; its memory
// stays within the documented bound.
func TestUniqueBound(t *testing.T) {
	const limit, n = 1000, 5000
	c := mustCompile(t, `quality: [{name: u, unique: [geoId], severity: warn}]`, UniqueKeys(limit))
	f := c.NewFile()
	row := func(i int) bson.D { return covid("2020-03-01", 1, 0, fmt.Sprintf("G%d", i), "Europe") }
	for i := 0; i < n; i++ {
		if vs := f.Check(i+1, bdoc(row(i))); len(vs) != 0 {
			t.Fatalf("line %d: %v", i+1, vs)
		}
	}
	found := 0
	for i := 0; i < n; i++ {
		if len(f.Check(n+i+1, bdoc(row(i)))) == 1 {
			found++
		}
	}
	if found != limit {
		t.Errorf("found %d repeats, want the %d of the keys remembered", found, limit)
	}
	set := f.sets[0]
	if set.n != limit || set.bytes() > 12*slotsFor(limit) || set.bytes() > 32*limit {
		t.Errorf("set holds %d keys in %d bytes; want %d keys in at most %d", set.n, set.bytes(), limit, 12*slotsFor(limit))
	}
	rc := f.Result(time.Now()).Quality.Rules["u"]
	if rc.Failures != limit || !strings.Contains(rc.Note, "first 1000 distinct keys only") {
		t.Errorf("rule u: %+v", rc)
	}

	// The default bound: 12 MiB, full.
	s := newKeySet(DefaultUniqueKeys)
	for i := uint64(1); i <= DefaultUniqueKeys+10; i++ {
		h := contract.SketchHash([]byte(fmt.Sprint(i)))
		if _, dup := s.lookup(h); !dup {
			s.add(h, int(i))
		}
	}
	if s.n != DefaultUniqueKeys || !s.full || s.bytes() != 12<<20 {
		t.Errorf("default set: %d keys, full %v, %d bytes; want %d keys in 12 MiB", s.n, s.full, s.bytes(), DefaultUniqueKeys)
	}
}

// TestCheckAllocs: checking a clean row allocates nothing but the
// uniqueness table's occasional growth, so the stream path pays no
// garbage per row.
func TestCheckAllocs(t *testing.T) {
	c := mustCompile(t, covidYAML, KeyFields("geoId", "dateRep"))
	f := c.NewFile()
	rows := make([]bson.D, 2000)
	for i := range rows {
		rows[i] = covid(date("2020-01-01").AddDate(0, 0, i%300).Format(time.DateOnly), int64(i), 0, fmt.Sprintf("G%d", i/300), "Europe")
	}
	docs := make([]Doc, len(rows)) // the adapters made beforehand, as their cost is the caller's
	for i := range rows {
		docs[i] = bdoc(rows[i])
	}
	i := 0
	allocs := testing.AllocsPerRun(len(rows)-1, func() {
		if vs := f.Check(i+1, docs[i]); vs != nil {
			t.Fatalf("row %d: %v", i+1, vs)
		}
		i++
	})
	if allocs > 0.05 {
		t.Errorf("%.3f allocations per clean row, want none but the table's growth", allocs)
	}
}

// TestQualityBSON: the metadata goes into the platform database and comes
// back as it was, sketch included.
func TestQualityBSON(t *testing.T) {
	c := mustCompile(t, covidYAML, KeyFields("geoId"))
	f := c.NewFile()
	f.Check(1, bdoc(covid("2020-03-01", 1, 0, "FR", "Europe")))
	f.Check(2, bdoc(covid("2020-03-02", -1, 0, "DE", "Europe")))
	q := f.Result(date("2020-03-03")).Quality
	q.Lineage = contract.Lineage{Bucket: "t1", Key: "incoming/a.csv", ETag: "e", Dataset: "covid", App: "batch", AppVersion: "1"}
	b, err := bson.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	if v := bson.Raw(b).Lookup("fields", "geoId", "sketch"); v.Type != bson.TypeBinary || len(v.Value) < 4096 {
		t.Errorf("sketch stored as %s of %d bytes, want binary of 4 KiB", v.Type, len(v.Value))
	}
	var back contract.Quality
	if err := bson.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, q) {
		t.Errorf("BSON round trip\n got %s\nwant %s", dump(back), dump(q))
	}
}

func BenchmarkCheck(b *testing.B) {
	c := mustCompile(b, covidYAML, KeyFields("geoId", "dateRep"))
	rows := make([]bson.D, 4096)
	for i := range rows {
		rows[i] = covid(date("2020-01-01").AddDate(0, 0, i%300).Format(time.DateOnly), int64(i), 0, fmt.Sprintf("G%d", i/300), "Europe")
	}
	b.ReportAllocs()
	f := c.NewFile()
	for i := 0; b.Loop(); i++ {
		if i%len(rows) == 0 {
			f = c.NewFile()
		}
		f.Check(i+1, bdoc(rows[i%len(rows)]))
	}
}

// TestQuarantineByAnotherChecker: a row quarantined from outside counts
// its failures and as quarantined, stays out of the stored rows' figures
// and does not make a later row a repeat.
func TestQuarantineByAnotherChecker(t *testing.T) {
	c := mustCompile(t, covidYAML, KeyFields("geoId", "dateRep"))
	f := c.NewFile()
	f.Quarantine(1, bdoc(covid("2020-03-01", -1, 0, "FR", "Europe")))
	if vs := f.Check(2, bdoc(covid("2020-03-01", 5, 0, "FR", "Europe"))); len(vs) != 0 {
		t.Errorf("the row after a quarantined one with its key: %v, want no repeat", vs)
	}
	q := f.Result(time.Now()).Quality
	if q.RowsChecked != 2 || q.RowsQuarantined != 1 || q.Fields["geoId"].Present != 1 {
		t.Errorf("rows checked %d, quarantined %d, geoId present %d; want 2, 1, 1", q.RowsChecked, q.RowsQuarantined, q.Fields["geoId"].Present)
	}
	if c := q.Fields["cases"]; c.Min == nil || *c.Min != 5 {
		t.Errorf("cases min %v, want 5: the quarantined -1 is not a stored value", c.Min)
	}
}
