package records

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

func TestDemoTenantsWrangling(t *testing.T) {
	load := func(name string) *Plan {
		p, err := profile.Load(filepath.Join("..", "..", "tenants", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		pl, err := Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		return pl
	}
	in := ecdcFile(ecdcQuirks()...)

	good, bad, err := readAll(t, load("tenant1").NewReader(strings.NewReader(in), "incoming/ecdc.csv"))
	if err != nil || len(bad) > 0 || len(good) != 5 {
		t.Fatalf("tenant1: good %d, bad %v, err %v", len(good), bad, err)
	}

	good, bad, err = readAll(t, load("tenant2").NewReader(strings.NewReader(in), "incoming/ecdc.csv"))
	if err != nil || len(bad) > 0 || len(good) != 5 {
		t.Fatalf("tenant2: good %d, bad %v, err %v", len(good), bad, err)
	}
	var keys []string
	for _, e := range good[3].Doc {
		keys = append(keys, e.Key)
	}
	want := "report_date cases deaths country geo_id country_code population_2019 continent record_id source"
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("tenant2 fields:\n got %s\nwant %s", got, want)
	}
	if id := good[3].Doc[8].Value; id != "JPG11668:2020-03-10" {
		t.Errorf("record_id = %v", id)
	}
	if src := good[3].Doc[9].Value; src != "ecdc" {
		t.Errorf("source = %v", src)
	}
	if k := good[3].Key; len(k) != 2 || k[0] != "JPG11668" || k[1] != "2020-03-10" {
		t.Errorf("key = %v", k)
	}
}

func TestDerive(t *testing.T) {
	pl := compile(t, ecdcUnwrangled(`wrangling:
  dates: {dateRep: [d/m/yyyy]}
  rename: {cases: n}
  derive:
    - {name: pop, op: copy, from: [popData2019]}
    - {name: label, op: concat, from: [geoId, n, pop, countryterritoryCode], sep: "|"}
  drop: [popData2019]
`))
	rec := pl.Message(1, []byte(jpJSON))
	if rec.Err != nil {
		t.Fatal(rec.Err)
	}
	m := map[string]any{}
	for _, e := range rec.Doc {
		m[e.Key] = e.Value
	}
	if m["label"] != "JPG11668|-9||" || m["pop"] != nil || m["n"] != int64(-9) {
		t.Errorf("derived %v", rec.Doc)
	}
	if _, ok := m["popData2019"]; ok {
		t.Error("popData2019 not dropped")
	}
}
