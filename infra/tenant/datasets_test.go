package tenant

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// dataset is one entry of a profile's datasets: list.
func dataset(name, coll, extra string) string {
	return "  - name: " + name + "\n    sink:\n      collection: " + coll + "\n      schema: [{name: id, type: string, required: true}]\n" + extra
}

func withDatasets(t *testing.T, db string, datasets ...string) *profile.Profile {
	t.Helper()
	y := "tenant: acme\n"
	if db != "" {
		y += "sink: {database: " + db + "}\n"
	}
	y += "datasets:\n" + strings.Join(datasets, "")
	p, err := profile.Parse([]byte(y), "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDeploymentsPerDataset: the platform's batch function is deployed
// when at least one dataset's files are the platform app's, its stream
// function when at least one dataset's records are; each subscribes to
// the tenant's whole bucket or every subject, the catch-all.
func TestDeploymentsPerDataset(t *testing.T) {
	for _, tc := range []struct {
		name     string
		datasets []string
		want     map[string]string // function -> topic
	}{
		{"two datasets, platform apps", []string{dataset("cases", "cases", ""), dataset("vacc", "vacc", "")},
			map[string]string{"acme-batch-ingest": "s3:acme", "acme-stream-ingest": "ingest.acme.>"}},
		{"own batch app on one", []string{dataset("cases", "cases", ""), dataset("vacc", "vacc", "    apps: {batch: own}\n")},
			map[string]string{"acme-batch-ingest": "s3:acme", "acme-stream-ingest": "ingest.acme.>"}},
		{"own batch apps on both", []string{dataset("cases", "cases", "    apps: {batch: own}\n"), dataset("vacc", "vacc", "    apps: {batch: own}\n")},
			map[string]string{"acme-stream-ingest": "ingest.acme.>"}},
		{"own stream apps on both", []string{dataset("cases", "cases", "    apps: {stream: own}\n"), dataset("vacc", "vacc", "    apps: {stream: own}\n")},
			map[string]string{"acme-batch-ingest": "s3:acme"}},
		{"own batch on one, own stream on the other", []string{dataset("cases", "cases", "    apps: {stream: own}\n"), dataset("vacc", "vacc", "    apps: {batch: own}\n")},
			map[string]string{"acme-batch-ingest": "s3:acme", "acme-stream-ingest": "ingest.acme.>"}},
		{"own apps only", []string{dataset("cases", "cases", "    apps: {batch: own, stream: own}\n")}, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			for _, d := range Deployments(withDatasets(t, "", tc.datasets...), FunctionEnv{}) {
				got[d.Service] = (*d.Annotations)["topic"]
			}
			if len(got) != len(tc.want) {
				t.Errorf("functions %v, want %v", got, tc.want)
			}
			for fn, topic := range tc.want {
				if got[fn] != topic {
					t.Errorf("%s: topic %q, want %q (functions %v)", fn, got[fn], topic, got)
				}
			}
		})
	}
}

func TestOwnAppTopic(t *testing.T) {
	p := withDatasets(t, "", dataset("vacc", "vacc", "    apps: {batch: own, stream: own}\n"))
	d := p.AllDatasets()[0]
	if got := OwnAppTopic(p, d, false); got != "s3:acme/incoming/vacc/" {
		t.Errorf("batch topic %q", got)
	}
	if got := OwnAppTopic(p, d, true); got != "ingest.acme.vacc,ingest.acme.vacc.>" {
		t.Errorf("stream topic %q", got)
	}
	def, err := profile.Parse([]byte(profileYAML("acme", "acme")), "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if b, s := OwnAppTopic(def, def.AllDatasets()[0], false), OwnAppTopic(def, def.AllDatasets()[0], true); b != "s3:acme" || s != "ingest.acme.>" {
		t.Errorf("default dataset's topics %q, %q", b, s)
	}
}

func TestRemovedDatasets(t *testing.T) {
	def, err := profile.Parse([]byte(profileYAML("acme", "acme")), "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	two := withDatasets(t, "acme", dataset("cases", "cases", ""), dataset("vacc", "vacc", ""))
	one := withDatasets(t, "acme", dataset("vacc", "vacc", ""))
	for _, tc := range []struct {
		name     string
		old, cur *profile.Profile
		want     []string
	}{
		{"first apply", nil, two, nil},
		{"same", two, two, nil},
		{"no datasets, again", def, def, nil},
		{"one removed", two, one, []string{"cases"}},
		{"one added", one, two, nil},
		{"datasets declared at last", def, two, []string{"default"}},
		{"back to none", two, def, []string{"cases", "vacc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, d := range removedDatasets(tc.old, tc.cur) {
				got = append(got, d.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("removed %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTearDownDatasets (real FerretDB), as a run of applies: a dataset
// that left the profile keeps its collections, rows and all, and is
// remembered until the operator asks them dropped, at that apply or a
// later one; then its sink, quarantine and fan-out go, and nothing else:
// not another dataset's, not one the profile still writes. A dataset that
// comes back takes its collections back.
func TestTearDownDatasets(t *testing.T) {
	mc := startFerret(t)
	old := withDatasets(t, "acme",
		dataset("cases", "cases", "    fanout: [{collection: cases_raw, form: raw}]\n"),
		dataset("vacc", "vacc", ""),
		dataset("tests", "tests", ""))
	// cases leaves; tests is renamed "checks" and keeps its collection.
	next := withDatasets(t, "acme", dataset("vacc", "vacc", ""), dataset("checks", "tests", ""))
	moved := withDatasets(t, "acme2", dataset("vacc", "vacc", ""), dataset("checks", "tests", ""))
	all := []string{"cases", "cases_rejected", "cases_raw", "vacc", "vacc_rejected", "tests", "tests_rejected"}
	for _, c := range all {
		if _, err := mc.Database("acme").Collection(c).InsertOne(t.Context(), bson.D{{Key: "n", Value: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(c string) bool {
		names, err := mc.Database("acme").ListCollectionNames(t.Context(), bson.D{{Key: "name", Value: c}})
		if err != nil {
			t.Fatal(err)
		}
		return len(names) == 1
	}
	casesColls := "cases,cases_rejected,cases_raw"
	show := func(rs []RemovedDataset) string {
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%s earlier=%v %s %s dropped=%v note=%q", r.Name, r.Earlier, r.Database, strings.Join(r.Collections, ","), r.Dropped, r.Note))
		}
		return strings.Join(out, "; ")
	}
	pl := Platform{Store: Store{Dir: t.TempDir()}, Mongo: mc}
	for _, step := range []struct {
		name      string
		old, cur  *profile.Profile
		drop      bool
		want      string
		gone      []string
		remembers bool
	}{
		{"removed, kept", old, next, false,
			`cases earlier=false acme ` + casesColls + ` dropped=false note=""; tests earlier=false acme  dropped=false note=""`, nil, true},
		{"a later apply remembers", next, next, false, `cases earlier=true acme ` + casesColls + ` dropped=false note=""`, nil, true},
		{"another database: not dropped", next, moved, true,
			`cases earlier=true acme ` + casesColls + ` dropped=false note="they are in database acme, no longer the tenant's (acme2): not dropped"`, nil, true},
		{"dropped at a later apply", next, next, true, `cases earlier=true acme ` + casesColls + ` dropped=true note=""`, strings.Split(casesColls, ","), false},
		{"nothing left to say", next, next, true, ``, strings.Split(casesColls, ","), false},
	} {
		t.Run(step.name, func(t *testing.T) {
			got, err := pl.tearDownDatasets(t.Context(), step.old, step.cur, step.drop)
			if err != nil {
				t.Fatal(err)
			}
			if show(got) != step.want {
				t.Errorf("removed:\n got %s\nwant %s", show(got), step.want)
			}
			for _, c := range all {
				if gone := slices.Contains(step.gone, c); exists(c) == gone {
					t.Errorf("collection %s exists %v, want %v", c, !gone, !gone)
				}
			}
			k, err := pl.Store.removedData("acme")
			if err != nil || (len(k) > 0) != step.remembers {
				t.Errorf("record %v, %v; want one: %v", k, err, step.remembers)
			}
		})
	}

	// A dataset that comes back takes its collections back: a later
	// --drop-removed-data does not drop them.
	back := Platform{Store: Store{Dir: t.TempDir()}, Mongo: mc}
	for _, step := range []struct{ old, cur *profile.Profile }{{old, next}, {next, old}, {old, old}} {
		if _, err := back.tearDownDatasets(t.Context(), step.old, step.cur, step.old == step.cur); err != nil {
			t.Fatal(err)
		}
	}
	if k, err := back.Store.removedData("acme"); err != nil || len(k) != 0 {
		t.Errorf("a dataset that came back is still recorded removed: %v, %v", k, err)
	}
	if !exists("vacc") || !exists("tests") {
		t.Error("a collection of a dataset still in the profile was dropped")
	}
}
