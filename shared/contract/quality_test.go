package contract_test

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// TestSketchEstimate holds the sketch to its promise over the whole
// range, small sets (where plain HyperLogLog is biased) included: within
// 3% (about two standard errors) of the true count, exact for tiny sets.
func TestSketchEstimate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		prefix string
		tol    float64
	}{
		{"empty", 0, "k", 0},
		{"one", 1, "k", 0},
		{"ten", 10, "k", 0},
		{"hundred", 100, "k", 0.02},
		{"thousand", 1000, "row-", 0.03},
		{"five-thousand", 5000, "k", 0.03},      // where raw HyperLogLog turns from linear counting
		{"twenty-thousand", 20000, "geo", 0.03}, // and is most biased without correction
		{"hundred-thousand", 100_000, "k", 0.03},
		{"hundred-thousand-other", 100_000, "FR-2020-03-", 0.03},
		{"million", 1_000_000, "id", 0.03},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := contract.NewSketch()
			if len(s) > 4096 {
				t.Fatalf("a sketch is %d bytes, over 4 KiB", len(s))
			}
			buf := []byte(tc.prefix)
			for i := 0; i < tc.n; i++ {
				// Every value twice: repeats must not count.
				v := strconv.AppendInt(buf[:len(tc.prefix)], int64(i), 10)
				s.Add(v)
				s.Add(v)
			}
			got := s.Estimate()
			if err := math.Abs(float64(got)-float64(tc.n)) / math.Max(float64(tc.n), 1); err > tc.tol {
				t.Errorf("estimate %d for %d distinct values: error %.2f%%, over %.1f%%", got, tc.n, 100*err, 100*tc.tol)
			}
			t.Logf("%d distinct: estimate %d", tc.n, got)
		})
	}
}

// TestSketchErrorSpread: over many different sets, the error's root mean
// square is near the 1.6% the precision promises, so the hash spreads
// real keys (short, alike) as well as HyperLogLog assumes.
func TestSketchErrorSpread(t *testing.T) {
	const sets, n = 60, 10_000
	var sum float64
	for k := 0; k < sets; k++ {
		s := contract.NewSketch()
		prefix := []byte(strconv.Itoa(k) + "-")
		for i := 0; i < n; i++ {
			s.Add(strconv.AppendInt(prefix, int64(i), 10))
		}
		e := (float64(s.Estimate()) - n) / n
		sum += e * e
	}
	if rms := math.Sqrt(sum / sets); rms > 0.022 {
		t.Errorf("error RMS %.2f%% over %d sets of %d, want about 1.6%%", 100*rms, sets, n)
	} else {
		t.Logf("error RMS %.2f%% over %d sets of %d", 100*rms, sets, n)
	}
}

// TestSketchMerge: the merge of two sketches is the sketch of the union,
// register for register, and refuses a sketch of another layout.
func TestSketchMerge(t *testing.T) {
	a, b, whole := contract.NewSketch(), contract.NewSketch(), contract.NewSketch()
	for i := 0; i < 30000; i++ {
		v := []byte("v" + strconv.Itoa(i))
		whole.Add(v)
		if i < 20000 { // overlapping halves
			a.Add(v)
		}
		if i >= 10000 {
			b.Add(v)
		}
	}
	if !a.Merge(b) {
		t.Fatal("Merge refused two sketches from NewSketch")
	}
	if !bytes.Equal(a, whole) {
		t.Error("merged sketch differs from the sketch of the union")
	}
	if a.Merge(contract.Sketch(make([]byte, 16))) {
		t.Error("Merge accepted a 16-byte sketch")
	}
	bad := contract.NewSketch()
	bad[7] = 200 // no rank is that large
	if a.Merge(bad) || bad.Estimate() != 0 {
		t.Error("a sketch with an impossible register was taken as valid")
	}
}

// TestQualityMerge: merging two halves gives what one whole gives, and
// merging into a zero Quality copies without aliasing.
func TestQualityMerge(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tm := func(s string) *time.Time {
		v, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	sketchOf := func(from, to int) contract.Sketch {
		s := contract.NewSketch()
		for i := from; i < to; i++ {
			s.Add([]byte(strconv.Itoa(i)))
		}
		return s
	}
	lineage := contract.Lineage{Bucket: "t1", Key: "incoming/a.csv", ETag: "e1", Dataset: "covid", App: "batch", AppVersion: "v1"}
	first := contract.Quality{
		RowsChecked: 10, RowsQuarantined: 2,
		Rules: map[string]contract.RuleCount{"pos": {Severity: "reject", Failures: 2}, "fresh": {Severity: "warn"}},
		Fields: map[string]contract.FieldQuality{
			"cases":   {Present: 8, Completeness: 1, Min: f(0), Max: f(50)},
			"dateRep": {Present: 6, Completeness: 0.75, MinTime: tm("2020-03-01"), MaxTime: tm("2020-03-05")},
			"geoId":   {Present: 8, Completeness: 1, Distinct: 600, Sketch: sketchOf(0, 600)},
		},
		Lineage: lineage,
	}
	second := contract.Quality{
		RowsChecked: 20, RowsQuarantined: 0,
		Rules: map[string]contract.RuleCount{"pos": {Severity: "reject"}, "fresh": {Severity: "warn", Failures: 1}, "uniq": {Severity: "warn", Failures: 3, Note: "partial"}},
		Fields: map[string]contract.FieldQuality{
			"cases":   {Present: 20, Completeness: 1, Min: f(-1), Max: f(7)},
			"dateRep": {Present: 20, Completeness: 1, MinTime: tm("2020-03-03"), MaxTime: tm("2020-03-09")},
			"geoId":   {Present: 20, Completeness: 1, Distinct: 600, Sketch: sketchOf(300, 900)},
		},
		Lineage: contract.Lineage{Bucket: "t1", Key: "incoming/b.csv", ETag: "e2", Dataset: "covid", App: "batch", AppVersion: "v1"},
	}
	var got contract.Quality
	got.Merge(first)
	got.Merge(second)

	if got.RowsChecked != 30 || got.RowsQuarantined != 2 {
		t.Errorf("rows: checked %d, quarantined %d; want 30, 2", got.RowsChecked, got.RowsQuarantined)
	}
	wantRules := map[string]contract.RuleCount{"pos": {Severity: "reject", Failures: 2}, "fresh": {Severity: "warn", Failures: 1}, "uniq": {Severity: "warn", Failures: 3, Note: "partial"}}
	if !reflect.DeepEqual(got.Rules, wantRules) {
		t.Errorf("rules %+v, want %+v", got.Rules, wantRules)
	}
	cases := got.Fields["cases"]
	if cases.Present != 28 || cases.Completeness != 1 || *cases.Min != -1 || *cases.Max != 50 {
		t.Errorf("cases %+v (min %v max %v), want present 28, completeness 1, min -1, max 50", cases, *cases.Min, *cases.Max)
	}
	dates := got.Fields["dateRep"]
	if dates.Present != 26 || math.Abs(dates.Completeness-26.0/28) > 1e-12 || !dates.MinTime.Equal(*tm("2020-03-01")) || !dates.MaxTime.Equal(*tm("2020-03-09")) {
		t.Errorf("dateRep %+v (%v to %v), want present 26 of 28 stored, 2020-03-01 to 2020-03-09", dates, dates.MinTime, dates.MaxTime)
	}
	geo := got.Fields["geoId"]
	if !bytes.Equal(geo.Sketch, sketchOf(0, 900)) || math.Abs(float64(geo.Distinct)-900) > 900*0.03 {
		t.Errorf("geoId distinct %d, want about 900 and the sketch of the union", geo.Distinct)
	}
	wantLineage := contract.Lineage{Bucket: "t1", Dataset: "covid", App: "batch", AppVersion: "v1"}
	if got.Lineage != wantLineage {
		t.Errorf("lineage %+v, want what both files share: %+v", got.Lineage, wantLineage)
	}
	// Nothing aliased: first and second are as they were.
	if *first.Fields["cases"].Min != 0 || !bytes.Equal(first.Fields["geoId"].Sketch, sketchOf(0, 600)) {
		t.Error("Merge changed the Quality it merged from")
	}
	*got.Fields["cases"].Max = 99
	if *first.Fields["cases"].Max != 50 {
		t.Error("the merged Quality aliases its first half's Max")
	}

	// A sketch of another layout: a lower bound, no sketch.
	odd := contract.Quality{RowsChecked: 1, Fields: map[string]contract.FieldQuality{"geoId": {Present: 1, Distinct: 5000, Sketch: make([]byte, 16)}}}
	q := contract.Quality{RowsChecked: 1, Fields: map[string]contract.FieldQuality{"geoId": {Present: 1, Distinct: 600, Sketch: sketchOf(0, 600)}}}
	q.Merge(odd)
	if g := q.Fields["geoId"]; g.Sketch != nil || g.Distinct != 5000 {
		t.Errorf("merging a malformed sketch gave distinct %d, sketch of %d bytes; want 5000 and none", g.Distinct, len(g.Sketch))
	}
}

// TestQualityJSON: the wire form is snake_case, omits what is unset, and
// comes back as it went.
func TestQualityJSON(t *testing.T) {
	lo, hi := 0.0, 5.0
	s := contract.NewSketch()
	s.Add([]byte("FR"))
	q := contract.Quality{
		RowsChecked: 3, RowsQuarantined: 1,
		Rules:   map[string]contract.RuleCount{"r": {Severity: "warn", Failures: 1}},
		Fields:  map[string]contract.FieldQuality{"cases": {Present: 2, Completeness: 1, Min: &lo, Max: &hi}, "geoId": {Present: 2, Completeness: 1, Distinct: 1, Sketch: s}},
		Lineage: contract.Lineage{Dataset: "covid", AppVersion: "v2"},
	}
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"rows_checked":3`, `"rows_quarantined":1`, `"app_version":"v2"`, `"completeness":1`, `"min":0`, `"sketch":"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
	for _, absent := range []string{`"min_time"`, `"bucket"`, `"note"`} {
		if bytes.Contains(b, []byte(absent)) {
			t.Errorf("JSON holds unset %s: %s", absent, b)
		}
	}
	var back contract.Quality
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, q) {
		t.Errorf("round trip gave %+v, want %+v", back, q)
	}
}
