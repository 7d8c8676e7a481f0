package quality

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// covid is a stored COVID row as batch ingestion writes it: day, month
// and year from dateRep, numbers as int64.
func covid(day string, cases, deaths int64, geo, continent string) bson.D {
	t := date(day)
	return bson.D{
		{Key: "dateRep", Value: t},
		{Key: "day", Value: int64(t.Day())}, {Key: "month", Value: int64(t.Month())}, {Key: "year", Value: int64(t.Year())},
		{Key: "cases", Value: cases}, {Key: "deaths", Value: deaths},
		{Key: "geoId", Value: geo}, {Key: "continentExp", Value: continent},
	}
}

// with returns doc with key set to v (appended when absent); without a
// value (v == absent) the key is removed.
func with(doc bson.D, key string, v any) bson.D {
	out := make(bson.D, 0, len(doc)+1)
	found := false
	for _, e := range doc {
		if e.Key == key {
			found = true
			if v == absent {
				continue
			}
			e.Value = v
		}
		out = append(out, e)
	}
	if !found && v != absent {
		out = append(out, bson.E{Key: key, Value: v})
	}
	return out
}

type absentT struct{}

var absent = absentT{}

func mustCompile(t testing.TB, src string, opts ...Option) *Checker {
	t.Helper()
	c, err := Compile(parseRules(t, src), covidFields, opts...)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return c
}

// TestRules runs each kind of check on rows with known faults: each row's
// violations must be exactly the expected reasons, in rule order.
func TestRules(t *testing.T) {
	ok := covid("2020-03-01", 10, 2, "FR", "Europe")
	type row struct {
		doc  bson.D
		want []string // the reasons, exactly
	}
	for _, tc := range []struct {
		name  string
		rules string
		rows  []row
	}{
		{"range", `quality: [{name: r, field: cases, min: 0, max: 1000000}]`, []row{
			{ok, nil},
			{with(ok, "cases", int64(-3)), []string{"quality rule r: cases is -3, below the minimum 0"}},
			{with(ok, "cases", int64(0)), nil},
			{with(ok, "cases", int64(1000000)), nil},
			{with(ok, "cases", 1000000.5), []string{"quality rule r: cases is 1000000.5, above the maximum 1000000"}},
			{with(ok, "cases", int32(-1)), []string{"quality rule r: cases is -1, below the minimum 0"}},
			{with(ok, "cases", math.NaN()), []string{"quality rule r: cases is NaN, not a number"}},
			{with(ok, "cases", "12"), []string{`quality rule r: cases is "12", not a number`}},
			{with(ok, "cases", nil), nil},
			{with(ok, "cases", absent), nil},
		}},
		{"required", `quality: [{name: r, field: geoId, required: true}]`, []row{
			{ok, nil},
			{with(ok, "geoId", absent), []string{"quality rule r: geoId is missing"}},
			{with(ok, "geoId", nil), []string{"quality rule r: geoId is null"}},
			{with(ok, "geoId", bson.Null{}), []string{"quality rule r: geoId is null"}},
			{with(ok, "geoId", ""), []string{"quality rule r: geoId is empty"}},
			{with(ok, "geoId", " "), nil},
		}},
		{"allowed strings", `quality: [{name: r, field: continentExp, allowed: [Europe, Asia]}]`, []row{
			{ok, nil},
			{with(ok, "continentExp", "Atlantis"), []string{`quality rule r: continentExp is "Atlantis", not one of "Europe", "Asia"`}},
			{with(ok, "continentExp", "europe"), []string{`quality rule r: continentExp is "europe", not one of "Europe", "Asia"`}},
			{with(ok, "continentExp", nil), nil},
		}},
		{"allowed numbers", `quality: [{name: r, field: month, allowed: [1, 2.5, 3]}]`, []row{
			{ok, nil}, // month 3
			{with(ok, "month", 3.0), nil},
			{with(ok, "month", int32(1)), nil},
			{with(ok, "month", 2.5), nil},
			{with(ok, "month", int64(4)), []string{"quality rule r: month is 4, not one of 1, 2.5, 3"}},
			{with(ok, "month", "3"), []string{`quality rule r: month is "3", not one of 1, 2.5, 3`}},
		}},
		{"allowed bools", `quality: [{name: r, field: official, allowed: [true]}]`, []row{
			{with(ok, "official", true), nil},
			{with(ok, "official", false), []string{"quality rule r: official is false, not one of true"}},
			{ok, nil},
		}},
		{"allowed, many values", `quality: [{name: r, field: geoId, allowed: [A, B, C, D, E, F, G, H, I, J, K]}]`, []row{
			{ok, []string{`quality rule r: geoId is "FR", not one of the 11 allowed values`}},
		}},
		{"regex", `quality: [{name: r, field: geoId, regex: '^[A-Z0-9_]{2,8}$'}]`, []row{
			{ok, nil},
			{with(ok, "geoId", "fr"), []string{`quality rule r: geoId is "fr", which does not match ^[A-Z0-9_]{2,8}$`}},
			{with(ok, "geoId", "ABCDEFGHI"), []string{`quality rule r: geoId is "ABCDEFGHI", which does not match ^[A-Z0-9_]{2,8}$`}},
			{with(ok, "geoId", int64(12)), []string{"quality rule r: geoId is 12, not a string"}},
			{with(ok, "geoId", ""), nil},
		}},
		{"date_parts", `quality: [{name: r, date_parts: {date: dateRep, day: day, month: month, year: year}}]`, []row{
			{ok, nil},
			{with(ok, "month", int64(4)), []string{"quality rule r: dateRep is 2020-03-01 but month is 4"}},
			{with(with(ok, "day", int64(2)), "year", int64(2019)), []string{"quality rule r: dateRep is 2020-03-01 but day is 2, year is 2019"}},
			{with(ok, "dateRep", bson.NewDateTimeFromTime(date("2020-03-01"))), nil},
			{with(ok, "dateRep", "2020-03-01"), nil},
			{with(ok, "dateRep", date("2020-03-01").Add(23*time.Hour).In(time.FixedZone("UTC+2", 7200))), nil},
			{with(ok, "day", "01"), nil},
			{with(ok, "day", 1.5), []string{"quality rule r: dateRep is 2020-03-01 but day is 1.5"}},
			{with(ok, "month", nil), nil},
			{with(ok, "dateRep", nil), nil},
			{with(ok, "dateRep", "1 March"), []string{`quality rule r: dateRep is "1 March", not a date`}},
		}},
		{"compare numbers", `quality: [{name: r, compare: {left: deaths, op: "<=", right: cases}, severity: warn}]`, []row{
			{ok, nil},
			{with(ok, "deaths", int64(10)), nil},
			{with(ok, "deaths", 10.5), []string{"quality rule r: deaths (10.5) is not <= cases (10)"}},
			{with(ok, "deaths", nil), nil},
			{with(ok, "cases", absent), nil},
			{with(ok, "deaths", "many"), []string{`quality rule r: deaths ("many") and cases (10) cannot be compared`}},
		}},
		{"compare strings", `quality: [{name: r, compare: {left: geoId, op: "!=", right: continentExp}}]`, []row{
			{ok, nil},
			{with(ok, "geoId", "Europe"), []string{`quality rule r: geoId ("Europe") is not != continentExp ("Europe")`}},
		}},
		{"unique", `quality: [{name: r, unique: [geoId, dateRep]}]`, []row{
			{ok, nil},
			{covid("2020-03-02", 1, 0, "FR", "Europe"), nil},
			{covid("2020-03-01", 1, 0, "DE", "Europe"), nil},
			{covid("2020-03-01", 99, 9, "FR", "Europe"), []string{`quality rule r: geoId "FR", dateRep 2020-03-01 repeats line 1`}},
			{with(ok, "dateRep", bson.NewDateTimeFromTime(date("2020-03-02"))), []string{`quality rule r: geoId "FR", dateRep 2020-03-02 repeats line 2`}},
			{with(ok, "geoId", nil), nil},
			{with(ok, "geoId", nil), nil},
		}},
		{"unique across number types", `quality: [{name: r, unique: [cases]}]`, []row{
			{with(ok, "cases", int64(3)), nil},
			{with(ok, "cases", 3.0), []string{"quality rule r: cases 3 repeats line 1"}},
			{with(ok, "cases", int32(3)), []string{"quality rule r: cases 3 repeats line 1"}},
			{with(ok, "cases", 3.5), nil},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCompile(t, tc.rules)
			f := c.NewFile()
			for i, r := range tc.rows {
				var got []string
				for _, v := range f.Check(i+1, bdoc(r.doc)) {
					got = append(got, v.Reason)
					if v.Rule != "r" {
						t.Errorf("row %d: violation of rule %q, want r", i+1, v.Rule)
					}
				}
				if !reflect.DeepEqual(got, r.want) {
					t.Errorf("row %d %v:\n got %q\nwant %q", i+1, r.doc, got, r.want)
				}
			}
		})
	}
}

// TestCompareDates: ordering on two date fields, whatever type holds them.
func TestCompareDates(t *testing.T) {
	fields := map[string]Kind{"start": KindTime, "end": KindTime}
	c, err := Compile([]Rule{{Name: "ordered", Compare: Compare{Left: "start", Op: "<", Right: "end"}}}, fields)
	if err != nil {
		t.Fatal(err)
	}
	f := c.NewFile()
	for _, tc := range []struct {
		start, end any
		want       string
	}{
		{date("2020-03-01"), date("2020-03-02"), ""},
		{bson.NewDateTimeFromTime(date("2020-03-01")), "2020-03-02", ""},
		{date("2020-03-02"), date("2020-03-02"), "quality rule ordered: start (2020-03-02) is not < end (2020-03-02)"},
		{date("2020-03-02").Add(90 * time.Minute), date("2020-03-02"), "quality rule ordered: start (2020-03-02T01:30:00Z) is not < end (2020-03-02)"},
	} {
		var got string
		for _, v := range f.Check(1, bdoc(bson.D{{Key: "start", Value: tc.start}, {Key: "end", Value: tc.end}})) {
			got = v.Reason
		}
		if got != tc.want {
			t.Errorf("%v < %v: got %q, want %q", tc.start, tc.end, got, tc.want)
		}
	}
}

// TestSeverities: each violation carries its rule's severity and field;
// only a reject quarantines, and a quarantined row's key does not make a
// later row a repeat.
func TestSeverities(t *testing.T) {
	c := mustCompile(t, covidYAML)
	f := c.NewFile()
	type want struct{ rule, sev, field string }
	for i, tc := range []struct {
		doc  bson.D
		want []want
	}{
		{covid("2020-03-01", -5, 0, "FR", "Europe"), []want{{"cases_not_negative", "reject", "cases"}, {"deaths_le_cases", "warn", "deaths"}}},
		// The same key, stored this time: not a repeat of the quarantined row.
		{covid("2020-03-01", 5, 0, "FR", "Europe"), nil},
		{covid("2020-03-01", 5, 9, "FR", "Atlantis"), []want{{"continent_known", "warn", "continentExp"}, {"deaths_le_cases", "warn", "deaths"}, {"one_row_per_country_day", "fail-file", "geoId,dateRep"}}},
		{with(covid("2020-03-02", 5, 0, "fr", "Europe"), "month", int64(2)), []want{{"geo_code", "reject", "geoId"}, {"parts_agree", "reject", "dateRep"}}},
		{with(covid("2020-03-02", 5, 0, "FR", "Europe"), "geoId", nil), []want{{"has_country", "reject", "geoId"}}},
	} {
		var got []want
		for _, v := range f.Check(i+1, bdoc(tc.doc)) {
			got = append(got, want{v.Rule, string(v.Severity), v.Field})
			if !strings.HasPrefix(v.Reason, "quality rule "+v.Rule+": ") {
				t.Errorf("row %d: reason %q does not start with its rule", i+1, v.Reason)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("row %d: got %v, want %v", i+1, got, tc.want)
		}
	}
	q := f.Result(date("2020-03-03")).Quality
	if q.RowsChecked != 5 || q.RowsQuarantined != 3 {
		t.Errorf("rows checked %d, quarantined %d; want 5, 3", q.RowsChecked, q.RowsQuarantined)
	}
}
