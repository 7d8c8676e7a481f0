package profile

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// minimal is the least a tenant has to write; everything else defaults.
const minimal = `
tenant: acme
sink:
  collection: things
  schema:
    - {name: id, type: string, required: true}
`

func TestDemoTenants(t *testing.T) {
	for _, name := range []string{"tenant1", "tenant2"} {
		t.Run(name, func(t *testing.T) {
			p, err := Load(filepath.Join("..", "..", "tenants", name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if p.Tenant != name || p.Bucket() != name || p.Sink.Database != name {
				t.Errorf("tenant %q bucket %q database %q", p.Tenant, p.Bucket(), p.Sink.Database)
			}
			if got := p.BatchFunction(); got != name+"-batch-ingest" {
				t.Errorf("BatchFunction() = %q", got)
			}
			if got := p.StreamSubject(); got != "ingest."+name+".>" {
				t.Errorf("StreamSubject() = %q", got)
			}
			if len(p.Sink.Schema) != 11 || len(p.Sink.Key) != 2 {
				t.Errorf("schema has %d fields, key %v", len(p.Sink.Schema), p.Sink.Key)
			}
			if !p.Accepts(FormatCSV) {
				t.Error("does not accept csv")
			}
		})
	}
	p, err := Load(filepath.Join("..", "..", "tenants", "tenant2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Wrangling.Rename["geoId"] != "geo_id" || len(p.Wrangling.Derive) != 2 || p.Batch.MaxFileSize != 512<<20 {
		t.Errorf("tenant2 wrangling %+v, max file size %s", p.Wrangling, p.Batch.MaxFileSize)
	}
	if p.Accepts(FormatJSON) {
		t.Error("tenant2 accepts json, but its profile lists csv and ndjson")
	}
}

func TestDefaults(t *testing.T) {
	p, err := Parse([]byte(minimal), "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Batch.MaxFilesPerWindow != 10 || p.Batch.MaxFileSize != 4_000_000_000 {
		t.Errorf("batch defaults: %+v", p.Batch)
	}
	if p.Stream.MaxMessagesPerWindow != 500 || p.Stream.MaxBytesPerWindow.String() != "400MB" || p.Stream.Window.D() != 5*time.Second {
		t.Errorf("stream defaults: %+v", p.Stream)
	}
	if p.Sink.Database != "acme" || p.Sink.UnknownFields != UnknownReject || p.Batch.CSV.Delimiter != "," {
		t.Errorf("sink defaults: %+v", p.Sink)
	}
	d := Defaults()
	d.Tenant = "acme"
	d.Sink.Database, d.Sink.Collection = "acme", "c"
	d.Sink.Schema = []Field{{Name: "a", Type: TypeInt}}
	if err := d.Validate(); err != nil {
		t.Errorf("defaults plus a sink do not validate: %v", err)
	}
}

// problems returns the messages of every Problem in err.
func problems(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var p *Problem
		if errors.As(e, &p) {
			out = append(out, p.Error())
		}
	}
	walk(err)
	return out
}

func TestParseReportsEveryProblem(t *testing.T) {
	yaml := `tenant: Tenant_1
batch:
  max_file_size: 4GBB
  max_files_per_window: -3
  formats: [csv, parquet]
  csv:
    delimeter: ";"
    delimiter: '"'
stream:
  max_bytes_per_window: -1MB
  window: 5
  jetstream:
    max_bytes: 1MB
scaling:
  min: 5
  max: 2
  target_backlog_per_replica: ten
sink:
  collection: system.users
  schema:
    - {name: a, type: integer}
    - {name: b, type: date}
    - {name: b, type: string}
    - {name: c.d, type: int}
  key: [a, zz]
wrangling:
  rename: {a: e, nope: f, b: e}
  dates: {a: d/m/yyyy, b: dd/qq/yyyy}
  derive:
    - {name: e, op: concat, from: [a]}
    - {name: g, op: multiply}
    - {name: h, op: copy, from: [later]}
    - {name: later, op: constant, value: x}
  drop: [zz]
extra: 1
`
	_, err := Parse([]byte(yaml), "t.yaml")
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	got := problems(err)
	want := []string{
		`t.yaml:1: tenant: "Tenant_1" is not a tenant id`,
		`t.yaml:3: batch.max_file_size: "4GBB" is not a size (want e.g. 4GB, 512MiB)`,
		`t.yaml:4: batch.max_files_per_window: -3: must be at least 1`,
		`t.yaml:5: batch.formats[1]: "parquet" is not a supported format`,
		`t.yaml:7: batch.csv.delimeter: unknown key "delimeter" (known here: delimiter, header)`,
		`t.yaml:8: batch.csv.delimiter: "\"" is not a delimiter`,
		`t.yaml:10: stream.max_bytes_per_window: "-1MB" is negative`,
		`t.yaml:11: stream.window: "5" is not a duration`,
		`t.yaml:15: scaling.min: 5 is greater than scaling.max (2)`,
		`t.yaml:17: scaling.target_backlog_per_replica: "ten" is not a whole number`,
		`t.yaml:19: sink.collection: "system.users" is not a collection name`,
		`t.yaml:21: sink.schema[0].type: "integer" is not a type`,
		`t.yaml:23: sink.schema[2].name: "b" is listed twice`,
		`t.yaml:24: sink.schema[3].name: "c.d" cannot be a stored field name`,
		`sink.key[0]: "a" is renamed to "e"; use stored names here`,
		`sink.key[1]: "zz" is not a stored field`,
		`wrangling.rename.nope: "nope" is not a field of sink.schema`,
		`wrangling.rename.b: stored name "e" clashes with wrangling.rename.a`,
		`wrangling.dates.b[0]: layout "dd/qq/yyyy"`,
		`wrangling.derive[0].from[0]: "a" is renamed to "e"`,
		`wrangling.derive[0].name: "e" clashes with wrangling.rename.a`,
		`wrangling.derive[1].op: "multiply" is not an op`,
		`wrangling.derive[2].from[0]: "later" is derived later (wrangling.derive[3])`,
		`wrangling.drop[0]: "zz" is not a stored field`,
		`t.yaml:35: extra: unknown key "extra"`,
	}
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("missing problem %q", w)
		}
	}
	if t.Failed() {
		t.Logf("got:\n%s", all)
	}
}

func TestValidateCases(t *testing.T) {
	tests := []struct {
		name, extra, want string
	}{
		{"key must be required", "  key: [opt]\n", `sink.key[0]: "opt" is a key field, so sink.schema must mark "opt" required`},
		{"key dropped", "  key: [id]\nwrangling:\n  drop: [id]\n", `sink.key[0]: "id" is dropped`},
		{"drop everything", "wrangling:\n  drop: [id, opt, n]\n", `wrangling.drop: drops every field`},
		{"copy needs one", "wrangling:\n  derive: [{name: x, op: copy, from: [id, opt]}]\n", `copy needs exactly one field, has 2`},
		{"sep without concat", "wrangling:\n  derive: [{name: x, op: constant, value: v, sep: \"-\"}]\n", `only concat uses sep`},
		{"rename onto another field", "wrangling:\n  rename: {opt: id}\n", `stored name "id" clashes with sink.schema[0].name`},
		{"rename to _id", "wrangling:\n  rename: {opt: _id}\n", `"_id" is reserved`},
		{"dates on an int", "wrangling:\n  dates: {n: d/m/yyyy}\n", `"n" is a int field`},
		{"repeated key", "  collection: again\n", `sink.collection: repeated (first at line 4)`},
	}
	base := "tenant: acme\nsink:\n  schema: [{name: id, type: string, required: true}, {name: opt, type: string}, {name: n, type: int}]\n  collection: c\n"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(base+tt.extra), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestReservedCollections(t *testing.T) {
	for _, coll := range []string{"mysimbdp_ingestions", "mysimbdp_ingestion_slots", "mysimbdp_x"} {
		_, err := Parse([]byte(strings.Replace(minimal, "collection: things", "collection: "+coll, 1)), "acme.yaml")
		if err == nil || !strings.Contains(err.Error(), "are the platform's") {
			t.Errorf("sink.collection %s: %v, want refused as the platform's", coll, err)
		}
	}
}

func TestParseFileProblems(t *testing.T) {
	tests := map[string]string{
		"":                     "x.yaml: profile is empty",
		"tenant: [":            "x.yaml: not valid YAML",
		"tenant: a\n---\nb: 1": "more than one YAML document",
		"- 1\n- 2":             "want a mapping, found a list",
		"tenant: {a: 1}":       "tenant: want a single value, found a mapping",
	}
	for in, want := range tests {
		if _, err := Parse([]byte(in), "x.yaml"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", in, err, want)
		}
	}
	if _, err := Load("no/such/file.yaml"); err == nil || !strings.Contains(err.Error(), "read tenant profile") {
		t.Errorf("Load of a missing file: %v", err)
	}
}
