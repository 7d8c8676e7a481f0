package function

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func rowsOf(t *testing.T, docs ...string) []row {
	t.Helper()
	var out []row
	for i, d := range docs {
		dec := json.NewDecoder(strings.NewReader(d))
		dec.UseNumber()
		doc := map[string]any{}
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		out = append(out, row{line: i + 2, doc: doc})
	}
	return out
}

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		name        string
		docs        []string
		caps, spike []int // failing lines
	}{
		{name: "all fine", docs: []string{`{"countriesAndTerritories":"Afghanistan","cases":10}`, `{"countriesAndTerritories":"United_States_of_America","cases":90}`}},
		{name: "all caps, accents too", docs: []string{`{"countriesAndTerritories":"FRANCE"}`, `{"countriesAndTerritories":"ÉGYPTE"}`, `{"countriesAndTerritories":"Égypte"}`}, caps: []int{2, 3}},
		{name: "no letters is not caps", docs: []string{`{"countriesAndTerritories":"123_-"}`, `{"countriesAndTerritories":""}`}},
		{name: "not a string passes", docs: []string{`{"countriesAndTerritories":42}`, `{"cases":"many"}`, `{}`}},
		{name: "over 10x the median, odd count", docs: []string{`{"cases":10}`, `{"cases":11}`, `{"cases":12}`, `{"cases":120}`, `{"cases":121}`}, spike: []int{6}},
		{name: "even count: the mean of the middle two", docs: []string{`{"cases":10}`, `{"cases":12}`, `{"cases":14}`, `{"cases":131}`, `{"cases":130}`, `{"cases":9}`}, spike: []int{5}},
		{name: "a quiet sample: median below 1 counts as 1", docs: []string{`{"cases":0}`, `{"cases":0}`, `{"cases":10}`, `{"cases":11}`, `{"cases":0}`}, spike: []int{5}},
		{name: "negative corrections are not spikes", docs: []string{`{"cases":5}`, `{"cases":-300}`, `{"cases":5}`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ans := Check(rowsOf(t, tt.docs...))
			if len(ans.Rules) != 2 || ans.Rules[0].Name != "country_not_all_caps" || ans.Rules[1].Name != "cases_within_10x_median" {
				t.Fatalf("rules %+v", ans.Rules)
			}
			for i, want := range [][]int{tt.caps, tt.spike} {
				var got []int
				for _, f := range ans.Rules[i].Failures {
					got = append(got, f.Line)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("rule %s failed lines %v, want %v", ans.Rules[i].Name, got, want)
				}
			}
		})
	}
}
