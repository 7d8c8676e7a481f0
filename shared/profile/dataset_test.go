package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// twoDatasets is a tenant with cases from the platform's app (with an
// archive copy) and vaccinations from its own.
const twoDatasets = `
tenant: acme
datasets:
  - name: cases
    sink:
      collection: cases
      schema:
        - {name: geoId, type: string, required: true}
        - {name: dateRep, type: date, required: true}
        - {name: cases, type: int}
      key: [geoId, dateRep]
    wrangling:
      dates: {dateRep: d/m/yyyy}
    fanout:
      - {collection: cases_raw, form: raw}
    quality:
      - {name: cases_not_negative, field: cases, min: 0, severity: warn}
      - {name: one_row_per_day, unique: [geoId, dateRep], severity: fail-file, max_share: 0.01}
      - {name: fresh, freshness: {field: dateRep, max_age: 7d}}
    quality_checker: {function: acme-check, sample: all}
  - name: vaccinations
    sink:
      collection: vaccinations
      schema: [{name: id, type: string, required: true}]
    apps: {batch: own}
`

func TestDatasets(t *testing.T) {
	p, err := Parse([]byte(twoDatasets), "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ds := p.AllDatasets()
	if len(ds) != 2 || ds[0].Name != "cases" || ds[1].Name != "vaccinations" {
		t.Fatalf("datasets %+v", ds)
	}
	if ds[0].Fanout[0].Form != FormRaw || ds[0].Sink.UnknownFields != UnknownReject || ds[0].Apps.Batch != AppPlatform {
		t.Errorf("defaults of a declared dataset: %+v", ds[0])
	}
	if c, err := ds[0].Checker(); err != nil || c == nil || !c.FileLevel() {
		t.Errorf("cases' quality rules: %v, %v", c, err)
	}
	if qc := ds[0].QualityChecker; qc.Function != "acme-check" || qc.Sample != AllRows {
		t.Errorf("cases' checker %+v", qc)
	}
	if c, err := ds[1].Checker(); err != nil || c != nil {
		t.Errorf("vaccinations has no rules, got %v, %v", c, err)
	}
	if ds[1].Apps.Batch != AppOwn || ds[1].Apps.Stream != AppPlatform {
		t.Errorf("apps of vaccinations: %+v", ds[1].Apps)
	}
	keys := []struct{ key, want string }{
		{"incoming/cases/2020.csv", "cases"},
		{"incoming/cases/deep/x.csv", "cases"},
		{"incoming/vaccinations/v.ndjson", "vaccinations"},
		{"incoming/other/x.csv", ""},
		{"incoming/cases.csv", ""},
		{"incoming/casesx/y.csv", ""},
	}
	for _, k := range keys {
		d, ok := p.DatasetOfKey(k.key)
		if ok != (k.want != "") || d.Name != k.want {
			t.Errorf("DatasetOfKey(%q) = %q, %v; want %q", k.key, d.Name, ok, k.want)
		}
	}
	subjects := []struct{ subject, want string }{
		{"ingest.acme.cases", "cases"},
		{"ingest.acme.cases.eu", "cases"},
		{"ingest.acme.casesx", ""},
		{"ingest.acme.vaccinations", "vaccinations"},
		{"ingest.other.cases", ""},
		{"ingest.acme", ""},
	}
	for _, s := range subjects {
		d, ok := p.DatasetOfSubject(s.subject)
		if ok != (s.want != "") || d.Name != s.want {
			t.Errorf("DatasetOfSubject(%q) = %q, %v; want %q", s.subject, d.Name, ok, s.want)
		}
	}
	if got := ds[0].Prefix(); got != "incoming/cases/" {
		t.Errorf("Prefix() = %q", got)
	}
	if got := strings.Join(ds[0].Subjects("acme"), " "); got != "ingest.acme.cases ingest.acme.cases.>" {
		t.Errorf("Subjects() = %q", got)
	}
	q := p.ForDataset(ds[0])
	if q.Sink.Collection != "cases" || q.Sink.Database != "acme" || q.Wrangling.Dates["dateRep"][0] != "d/m/yyyy" {
		t.Errorf("ForDataset: sink %+v wrangling %+v", q.Sink, q.Wrangling)
	}
	if err := q.Validate(); err != nil {
		t.Errorf("a dataset's profile does not validate: %v", err)
	}
}

func TestDefaultDataset(t *testing.T) {
	p, err := Parse([]byte(minimal), "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ds := p.AllDatasets()
	if len(ds) != 1 || !ds[0].Implicit() || ds[0].Name != DefaultDataset || ds[0].Sink.Collection != "things" {
		t.Fatalf("datasets of a profile without any: %+v", ds)
	}
	for _, key := range []string{"incoming/a.csv", "incoming/x/y.csv"} {
		if d, ok := p.DatasetOfKey(key); !ok || !d.Implicit() {
			t.Errorf("DatasetOfKey(%q) = %+v, %v; want the default dataset", key, d, ok)
		}
	}
	for _, subj := range []string{"ingest.acme.a", "ingest.acme.x.y"} {
		if d, ok := p.DatasetOfSubject(subj); !ok || !d.Implicit() {
			t.Errorf("DatasetOfSubject(%q) = %+v, %v; want the default dataset", subj, d, ok)
		}
	}
	if got := ds[0].Subjects("acme"); len(got) != 1 || got[0] != "ingest.acme.>" {
		t.Errorf("Subjects() = %v", got)
	}
}

func TestDatasetProblems(t *testing.T) {
	dataset := func(name, coll string) string {
		return "  - name: " + name + "\n    sink:\n      collection: " + coll + "\n      schema: [{name: id, type: string, required: true}]\n"
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"no name", dataset("", "a"), `datasets[0].name: missing`},
		{"the default's name", dataset("default", "a"), `"default" names a profile's dataset`},
		{"bad name", dataset("Cases.EU", "a"), `"Cases.EU" is not a dataset name`},
		{"twice", dataset("a", "a") + dataset("a", "b"), `datasets[1].name: "a" is the name of datasets[0].name too`},
		{"one collection for two", dataset("a", "c") + dataset("b", "c"), `datasets[1].sink.collection: collection "c" is written by datasets[0].sink.collection too`},
		{"into another's quarantine", dataset("a", "c") + dataset("b", "c_rejected"), `collection "c_rejected" is written by datasets[0].sink.collection too`},
		{"reserved", dataset("a", "mysimbdp_x"), `are the platform's`},
		{"bad form", dataset("a", "c") + "    fanout: [{collection: d, form: zip}]\n", `datasets[0].fanout[0].form: "zip" is not a form`},
		{"fanout onto the sink", dataset("a", "c") + "    fanout: [{collection: c}]\n", `datasets[0].fanout[0].collection: collection "c" is written by`},
		{"an unknown app source", dataset("a", "c") + "    apps: {batch: theirs}\n", `datasets[0].apps.batch: "theirs" is not an app source`},
		{"paths inside a dataset", dataset("a", "c") + "    wrangling: {drop: [nope]}\n", `datasets[0].wrangling.drop[0]: "nope" is not a stored field`},
		{"a rule on an unknown field", dataset("a", "c") + "    quality: [{name: r, field: nope, required: true}]\n", `datasets[0].quality: quality rule r: `},
		{"a range on text", dataset("a", "c") + "    quality: [{name: r, field: id, min: 1}]\n", `datasets[0].quality: quality rule r: min/max needs a number field; id is a string`},
		{"another tenant's checker", dataset("a", "c") + "    quality_checker: {function: other-check}\n", `datasets[0].quality_checker.function: `},
		{"a checker's sample too big", dataset("a", "c") + "    quality_checker: {function: acme-check, sample: 20000}\n", `datasets[0].quality_checker.sample: "20000" is not a sample (want 1 to 10000 rows, or all)`},
		{"a checker for an own app", dataset("a", "c") + "    quality_checker: {function: acme-check}\n    apps: {batch: own}\n", `datasets[0].quality_checker: the platform's batch app calls the checker`},
		{"a bad severity", dataset("a", "c") + "    quality: [{name: r, field: id, required: true, severity: maybe}]\n", `datasets[0].quality[0].severity: "maybe" is not a severity`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("tenant: acme\ndatasets:\n"+tt.yaml), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
	mixed := []struct{ name, top, want string }{
		{"a top-level sink", "sink:\n  collection: c\n", "with datasets, the profile's sink only names the database"},
		{"top-level wrangling", "wrangling:\n  drop: [id]\n", "with datasets, each dataset has its own wrangling"},
		{"top-level apps", "apps: {batch: own}\n", "with datasets, each dataset says its own apps"},
		{"top-level quality", "quality: [{name: r, field: id, required: true}]\n", "with datasets, each dataset has its own quality rules"},
		{"top-level checker", "quality_checker: {function: acme-check}\n", "with datasets, each dataset has its own quality rules and checker"},
		{"a dataset in another database", "sink:\n  database: acmedb\n", ""},
	}
	for _, tt := range mixed {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("tenant: acme\n"+tt.top+"datasets:\n"+dataset("a", "c")), "x.yaml")
			if tt.want == "" {
				if err != nil {
					t.Errorf("error = %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
	_, err := Parse([]byte("tenant: acme\ndatasets:\n"+dataset("a", "c")+"    sink2: {}\n"), "x.yaml")
	if err == nil || !strings.Contains(err.Error(), `unknown key "sink2"`) {
		t.Errorf("unknown key in a dataset: %v", err)
	}
	_, err = Parse([]byte("tenant: acme\nsink: {database: acme}\ndatasets:\n"+strings.Replace(dataset("a", "c"), "    sink:\n", "    sink:\n      database: other\n", 1)), "x.yaml")
	if err == nil || !strings.Contains(err.Error(), `datasets[0].sink.database: "other": a dataset writes to the tenant's database (acme)`) {
		t.Errorf("a dataset naming another database: %v", err)
	}
}

// TestReadmeDatasetsExample: the two-dataset profile the README's tenant
// guide shows is a valid profile, with the rules it describes.
func TestReadmeDatasetsExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Datasets, quality rules and dates")
	if !ok {
		t.Fatal("README has no section \"Datasets, quality rules and dates\"")
	}
	_, block, ok := strings.Cut(section, "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("the section has no yaml block")
	}
	p, err := Parse([]byte(block), "README.md")
	if err != nil {
		t.Fatalf("the README's profile: %v", err)
	}
	ds := p.AllDatasets()
	if len(ds) != 2 || len(ds[0].Quality) != 7 || len(ds[0].Fanout) != 1 || ds[1].Apps.Stream != AppOwn {
		t.Errorf("the README's profile: %+v", ds)
	}
	for _, d := range ds {
		if _, err := d.Checker(); err != nil {
			t.Errorf("dataset %s: %v", d.Name, err)
		}
	}
}
