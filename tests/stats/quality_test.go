package stats

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/dataset"
	"github.com/mysimbdp/mysimbdp/shared/quality"
	"github.com/mysimbdp/mysimbdp/shared/stats"
)

// measured is the quality metadata of rows as shared/quality measures it:
// lab results, some with no count, some negative.
func measured(t *testing.T, ds string, labs []string, counts []any) contract.Quality {
	t.Helper()
	c, err := quality.Compile([]quality.Rule{
		{Name: "count_not_negative", Field: "count", Min: quality.N(0), Severity: quality.Warn},
		{Name: "has_count", Field: "count", Required: true},
	}, map[string]quality.Kind{"lab": quality.KindString, "count": quality.KindNumber}, quality.KeyFields("lab"))
	if err != nil {
		t.Fatal(err)
	}
	f := c.NewFile()
	for i, lab := range labs {
		f.Check(i+1, dataset.Fields{{Key: "lab", Value: lab}, {Key: "count", Value: counts[i]}})
	}
	q := f.Result(time.Now()).Quality
	q.Lineage = contract.Lineage{Dataset: ds, App: "mysimbdp/batch-ingest", AppVersion: "test"}
	return q
}

// TestQualityPerDataset: the quality metadata of a tenant's files and
// stream windows is kept and shown per dataset, merged over the range, in
// JSON and in the table; a tenant's reader sees only its own.
func TestQualityPerDataset(t *testing.T) {
	p := startPlatform(t, "10s")
	p.onboard(t, "qual-a", generous)
	p.onboard(t, "qual-b", generous)
	now := time.Now().Add(-time.Second)

	f1 := fileReport("qual-a", "labs/1.csv", "e1", contract.StatusDone, 3, 1, 10, now)
	f1.Dataset = "labs"
	q1 := measured(t, "labs", []string{"north", "south", "east", "west"}, []any{int64(3), int64(-1), nil, int64(5)})
	f1.Quality = &q1
	f2 := fileReport("qual-a", "labs/2.csv", "e2", contract.StatusDone, 2, 0, 10, now)
	f2.Dataset = "labs"
	q2 := measured(t, "labs", []string{"north", "central"}, []any{int64(7), int64(8)})
	f2.Quality = &q2
	w := windowReport("qual-a", 3, 300, now, 5*time.Second)
	wq := measured(t, "vitals", []string{"x", "y", "z"}, []any{int64(-2), int64(-3), int64(1)})
	w.Quality = map[string]contract.Quality{"vitals": wq}
	other := fileReport("qual-b", "secret.csv", "e3", contract.StatusDone, 1, 0, 10, now)
	ob := measured(t, "default", []string{"hidden"}, []any{int64(1)})
	other.Quality = &ob
	resp := p.post(t, record("R:1", f1), record("R:2", f2), record("R:3", w), record("R:4", other), record("R:1", f1))
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("reports refused: %v", failures(resp))
	}

	sm := p.summary(t)
	got := map[string]stats.DatasetQuality{}
	for _, d := range sm.Quality {
		got[d.Tenant+"/"+d.Dataset] = d
	}
	labs := got["qual-a/labs"]
	if len(sm.Quality) != 3 || labs.Files != 2 || labs.Windows != 0 {
		t.Fatalf("quality %+v, want labs (2 files), vitals (1 window) and qual-b's default", sm.Quality)
	}
	q := labs.Quality
	if q.RowsChecked != 6 || q.RowsQuarantined != 1 || q.Rules["count_not_negative"].Failures != 1 || q.Rules["has_count"].Failures != 1 {
		t.Errorf("labs: %+v, want 6 rows checked, 1 quarantined (no count), 1 negative", q)
	}
	// east had no count: quarantined, so not among the stored rows.
	if l := q.Fields["lab"]; l.Distinct != 4 || l.Sketch != nil {
		t.Errorf("labs' distinct labs %d (sketch %d bytes), want 4 over both files (north twice, east quarantined), no sketch shown", l.Distinct, len(l.Sketch))
	}
	if c := q.Fields["count"]; c.Min == nil || *c.Min != -1 || *c.Max != 8 {
		t.Errorf("labs' count min/max %v/%v, want -1/8", c.Min, c.Max)
	}
	if v := got["qual-a/vitals"]; v.Windows != 1 || v.Quality.Rules["count_not_negative"].Failures != 2 {
		t.Errorf("vitals: %+v", v)
	}

	_, table := p.get(t, "", "")
	for _, want := range []string{"QUALITY", "qual-a  labs", "count_not_negative(warn)=1 has_count(reject)=1", "qual-a  vitals"} {
		if !strings.Contains(strings.Join(strings.Fields(table), "  "), strings.Join(strings.Fields(want), "  ")) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}

	// qual-a's reader: its datasets only.
	req, err := http.NewRequest(http.MethodGet, p.url+"?format=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+stats.TenantToken(p.key, "qual-a"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var own stats.Summary
	if err := json.Unmarshal(body, &own); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("tenant reader: %d %s", res.StatusCode, body)
	}
	if len(own.Quality) != 2 || strings.Contains(string(body), "qual-b") || strings.Contains(string(body), "hidden") {
		t.Errorf("qual-a's reader sees %+v", own.Quality)
	}
}
