package quality

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// covidYAML is the package doc's example.
const covidYAML = `
quality:
  - name: cases_not_negative
    field: cases
    min: 0
    severity: reject
  - {name: has_country, field: geoId, required: true}
  - {name: continent_known, field: continentExp, allowed: [Europe, Asia, Africa, America, Oceania, Other], severity: warn}
  - {name: geo_code, field: geoId, regex: '^[A-Z0-9_]{2,8}$'}
  - {name: one_row_per_country_day, unique: [geoId, dateRep], severity: fail-file, max_share: 0.01}
  - {name: parts_agree, date_parts: {date: dateRep, day: day, month: month, year: year}}
  - {name: deaths_le_cases, compare: {left: deaths, op: "<=", right: cases}, severity: warn}
  - {name: fresh, freshness: {field: dateRep, max_age: 72h}, severity: fail-file}
`

// covidFields are the stored fields of the COVID dataset the tests use.
var covidFields = map[string]Kind{
	"dateRep": KindTime, "day": KindNumber, "month": KindNumber, "year": KindNumber,
	"cases": KindNumber, "deaths": KindNumber, "countriesAndTerritories": KindString,
	"geoId": KindString, "continentExp": KindString, "popData2019": KindNumber, "official": KindBool,
}

func parseRules(t testing.TB, src string) []Rule {
	t.Helper()
	var doc struct {
		Quality []Rule `yaml:"quality"`
	}
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode rules: %v", err)
	}
	return doc.Quality
}

// TestParseExample: the documented example decodes with yaml.v3 (strict)
// into the rules it reads as, and compiles.
func TestParseExample(t *testing.T) {
	rules := parseRules(t, covidYAML)
	if len(rules) != 8 {
		t.Fatalf("decoded %d rules, want 8", len(rules))
	}
	if v, ok := rules[0].Min.Get(); !ok || v != 0 || !rules[0].Max.IsZero() {
		t.Errorf("cases_not_negative: min %v (set %v), max set %v; want min 0 and no max", v, ok, !rules[0].Max.IsZero())
	}
	if !rules[1].Required || rules[1].Severity != "" {
		t.Errorf("has_country decoded as %+v", rules[1])
	}
	if len(rules[2].Allowed) != 6 || rules[2].Severity != Warn {
		t.Errorf("continent_known decoded as %+v", rules[2])
	}
	if s, _ := rules[4].MaxShare.Get(); s != 0.01 || rules[4].Severity != FailFile {
		t.Errorf("one_row_per_country_day decoded as %+v", rules[4])
	}
	if rules[5].DateParts != (DateParts{Date: "dateRep", Day: "day", Month: "month", Year: "year"}) {
		t.Errorf("parts_agree decoded as %+v", rules[5].DateParts)
	}
	if rules[6].Compare != (Compare{Left: "deaths", Op: "<=", Right: "cases"}) {
		t.Errorf("deaths_le_cases decoded as %+v", rules[6].Compare)
	}
	if rules[7].Freshness.MaxAge.D() != 72*time.Hour {
		t.Errorf("fresh max_age %v, want 72h", rules[7].Freshness.MaxAge)
	}
	if _, err := Compile(rules, covidFields, KeyFields("geoId", "dateRep")); err != nil {
		t.Fatalf("the documented example does not compile: %v", err)
	}
	// And back: what yaml.v3 writes decodes into the same rules.
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(map[string][]Rule{"quality": rules}); err != nil {
		t.Fatal(err)
	}
	again := parseRules(t, buf.String())
	if len(again) != len(rules) {
		t.Fatalf("re-decoded %d rules from:\n%s", len(again), buf.String())
	}
	for i := range rules {
		if !sameRule(rules[i], again[i]) {
			t.Errorf("rule %d changed through yaml: %+v became %+v", i, rules[i], again[i])
		}
	}
}

func sameRule(a, b Rule) bool {
	return a.Name == b.Name && a.Field == b.Field && a.Min == b.Min && a.Max == b.Max && a.Required == b.Required &&
		strings.Join(a.Allowed, "|") == strings.Join(b.Allowed, "|") && a.Regex == b.Regex &&
		strings.Join(a.Unique, "|") == strings.Join(b.Unique, "|") && a.DateParts == b.DateParts &&
		a.Compare == b.Compare && a.Freshness == b.Freshness && a.Severity == b.Severity && a.MaxShare == b.MaxShare
}

// TestCompileErrors: every bad rule is refused with an error naming the
// rule and what is wrong; all of a list's problems are reported at once.
func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules string
		want  []string // fragments, all expected
	}{
		{"unknown field", `[{name: r, field: casez, min: 0}]`, []string{`quality rule r: min/max: unknown field "casez" (the dataset stores cases, continentExp`}},
		{"regex does not compile", `[{name: r, field: geoId, regex: '^[A-Z+$'}]`, []string{`quality rule r: regex "^[A-Z+$" does not compile: missing closing ]`}},
		{"min above max", `[{name: r, field: cases, min: 10, max: 1}]`, []string{"quality rule r: min 10 is above max 1"}},
		{"range on a string", `[{name: r, field: geoId, max: 3}]`, []string{"quality rule r: min/max needs a number field; geoId is a string"}},
		{"regex on a number", `[{name: r, field: cases, regex: '^\d+$'}]`, []string{"quality rule r: regex needs a string field; cases is a number"}},
		{"two checks", `[{name: r, field: cases, min: 0, required: true}]`, []string{"quality rule r: has 2 checks (min/max, required); write one rule per check"}},
		{"two checks, not one-field", `[{name: r, unique: [geoId], compare: {left: deaths, op: "<", right: cases}}]`, []string{"has 2 checks (unique, compare)"}},
		{"no check", `[{name: r, field: cases}]`, []string{"quality rule r: has no check"}},
		{"duplicate name", `[{name: r, field: cases, min: 0}, {name: r, field: geoId, required: true}]`, []string{"quality rule r: name is used by rule #1 too"}},
		{"no name", `[{field: cases, min: 0}]`, []string{"quality rule #1: has no name"}},
		{"bad name", `[{name: Cases, field: cases, min: 0}]`, []string{"quality rule Cases: name must be"}},
		{"no field", `[{name: r, min: 0}]`, []string{"quality rule r: min/max names no field"}},
		{"field with unique", `[{name: r, field: geoId, unique: [geoId]}]`, []string{"quality rule r: field goes with min/max, required, allowed or regex, not with unique"}},
		{"max_share without fail-file", `[{name: r, field: cases, min: 0, max_share: 0.1}]`, []string{"quality rule r: max_share goes only with severity fail-file"}},
		{"max_share of 1", `[{name: r, field: cases, min: 0, severity: fail-file, max_share: 1}]`, []string{"quality rule r: max_share 1 is not from 0 up to"}},
		{"unique empty", `[{name: r, unique: []}]`, []string{"quality rule r: unique lists no field"}},
		{"unique twice", `[{name: r, unique: [geoId, geoId]}]`, []string{"quality rule r: unique names geoId twice"}},
		{"unique unknown", `[{name: r, unique: [geoId, dat]}]`, []string{`quality rule r: unique: unknown field "dat"`}},
		{"allowed empty", `[{name: r, field: geoId, allowed: []}]`, []string{"quality rule r: allowed lists no value"}},
		{"allowed not a number", `[{name: r, field: day, allowed: [1, two]}]`, []string{`quality rule r: allowed value "two" is not a number, and day is a number field`}},
		{"allowed not a bool", `[{name: r, field: official, allowed: [yes]}]`, []string{`quality rule r: allowed value "yes" is not true or false`}},
		{"allowed on a date", `[{name: r, field: dateRep, allowed: ["2020-01-01"]}]`, []string{"quality rule r: allowed does not apply to date field dateRep"}},
		{"date_parts on a string", `[{name: r, date_parts: {date: geoId, day: day}}]`, []string{"quality rule r: date_parts.date needs a date field; geoId is a string"}},
		{"date_parts without parts", `[{name: r, date_parts: {date: dateRep}}]`, []string{"quality rule r: date_parts names none of day, month, year"}},
		{"date_parts part unknown", `[{name: r, date_parts: {date: dateRep, month: mois}}]`, []string{`quality rule r: date_parts.month: unknown field "mois"`}},
		{"date_parts part a bool", `[{name: r, date_parts: {date: dateRep, year: official}}]`, []string{"quality rule r: date_parts.year needs a number (or string) field; official is a bool"}},
		{"compare bad op", `[{name: r, compare: {left: deaths, op: "=<", right: cases}}]`, []string{`quality rule r: compare.op "=<" is not one of`}},
		{"compare kinds differ", `[{name: r, compare: {left: deaths, op: "<", right: dateRep}}]`, []string{"quality rule r: compare: deaths is a number and dateRep a date"}},
		{"compare order on strings", `[{name: r, compare: {left: geoId, op: "<", right: continentExp}}]`, []string{"quality rule r: compare.op < needs number or date fields"}},
		{"compare one field", `[{name: r, compare: {left: cases, op: "<", right: cases}}]`, []string{"quality rule r: compare.left and compare.right are both cases"}},
		{"compare no right", `[{name: r, compare: {left: cases, op: "<"}}]`, []string{"quality rule r: compare.right names no field"}},
		{"freshness reject", `[{name: r, freshness: {field: dateRep, max_age: 7d}, severity: reject}]`, []string{"quality rule r: freshness is checked once per file, so its severity is warn or fail-file"}},
		{"freshness no age", `[{name: r, freshness: {field: dateRep}}]`, []string{"quality rule r: freshness.max_age must be above zero"}},
		{"freshness on a number", `[{name: r, freshness: {field: year, max_age: 7d}}]`, []string{"quality rule r: freshness needs a date field; year is a number"}},
		{"freshness max_share", `[{name: r, freshness: {field: dateRep, max_age: 7d}, max_share: 0.5}]`, []string{"quality rule r: max_share does not apply to freshness"}},
		{"every problem at once", `[{name: a, field: nope, min: 0}, {name: b, field: geoId, regex: '('}, {name: a, unique: [geoId]}]`,
			[]string{`quality rule a: min/max: unknown field "nope"`, `quality rule b: regex "(" does not compile`, "quality rule a: name is used by rule #1 too"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules := parseRules(t, "quality: "+tc.rules)
			_, err := Compile(rules, covidFields)
			if err == nil {
				t.Fatalf("Compile accepted %s", tc.rules)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

// TestCompileOptions: key fields must be stored fields, and kinds must be
// set.
func TestCompileOptions(t *testing.T) {
	if _, err := Compile(nil, covidFields, KeyFields("geoId", "nope")); err == nil || !strings.Contains(err.Error(), `key field "nope" is not a stored field`) {
		t.Errorf("unknown key field: %v", err)
	}
	if _, err := Compile(nil, map[string]Kind{"x": 0}); err == nil || !strings.Contains(err.Error(), `field "x" has no kind`) {
		t.Errorf("field without a kind: %v", err)
	}
	if _, err := Compile(nil, covidFields); err != nil {
		t.Errorf("no rules: %v", err)
	}
}

// TestYAMLValues: the scalar types refuse what they cannot hold, with a
// message for the tenant.
func TestYAMLValues(t *testing.T) {
	for _, tc := range []struct {
		src, want string
	}{
		{`[{name: r, field: cases, min: ten}]`, `"ten" is not a number`},
		{`[{name: r, field: cases, min: .nan}]`, `".nan" is not a number`},
		{`[{name: r, field: cases, min: 0, severity: fatal}]`, `"fatal" is not a severity (want reject, warn or fail-file)`},
		{`[{name: r, freshness: {field: dateRep, max_age: 3}}]`, `"3" is not a duration`},
		{`[{name: r, freshness: {field: dateRep, max_age: -1d}}]`, `"-1d" is not a duration`},
		{`[{name: r, field: cases, mni: 0}]`, `field mni not found`},
	} {
		var doc struct {
			Quality []Rule `yaml:"quality"`
		}
		dec := yaml.NewDecoder(strings.NewReader("quality: " + tc.src))
		dec.KnownFields(true)
		if err := dec.Decode(&doc); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
		back string
	}{
		{"72h", 72 * time.Hour, true, "3d"},
		{"7d", 7 * 24 * time.Hour, true, "7d"},
		{"1d12h", 36 * time.Hour, true, "36h0m0s"},
		{"1.5d", 36 * time.Hour, true, "36h0m0s"},
		{"90m", 90 * time.Minute, true, "1h30m0s"},
		{"0d", 0, true, "0s"},
		{"0", 0, true, "0s"},
		{"3", 0, false, ""},
		{"d", 0, false, ""},
		{"", 0, false, ""},
		{"-1d", 0, false, ""},
		{"1d-2h", 0, false, ""},
		{"1dd", 0, false, ""},
		{"99999999d", 0, false, ""},
		{"weekly", 0, false, ""},
	} {
		d, err := ParseDuration(tc.in)
		if (err == nil) != tc.ok || tc.ok && (d.D() != tc.want || d.String() != tc.back) {
			t.Errorf("ParseDuration(%q) = %v (%q), %v; want %v (%q), ok %v", tc.in, d.D(), d, err, tc.want, tc.back, tc.ok)
		}
	}
}
