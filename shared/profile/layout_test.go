package profile

import (
	"strings"
	"testing"
)

func TestLayoutParse(t *testing.T) {
	tests := []struct {
		layout, in, want string // want "" means no match
	}{
		{"d/m/yyyy", "6/07/2020", "2020-07-06T00:00:00Z"},
		{"d/m/yyyy", "20/05/2020", "2020-05-20T00:00:00Z"},
		{"d/m/yyyy", "1/1/2020", "2020-01-01T00:00:00Z"},
		{"d/m/yyyy", "31/02/2020", ""},
		{"d/m/yyyy", "29/02/2020", "2020-02-29T00:00:00Z"},
		{"d/m/yyyy", "29/02/2019", ""},
		{"d/m/yyyy", "6/13/2020", ""},
		{"d/m/yyyy", "6/07/20", ""},
		{"d/m/yyyy", "6/07/2020x", ""},
		{"d/m/yyyy", "", ""},
		{"dd/mm/yyyy", "6/07/2020", ""},
		{"dd/mm/yyyy", "06/07/2020", "2020-07-06T00:00:00Z"},
		{"yyyy-mm-dd", "2020-07-06", "2020-07-06T00:00:00Z"},
		{"yyyy-mm-dd HH:MI:SS", "2020-07-06 13:04:05", "2020-07-06T13:04:05Z"},
		{"yyyy-mm-dd HH:MI:SS", "2020-07-06 24:04:05", ""},
		{"rfc3339", "2020-07-06T13:04:05+02:00", "2020-07-06T11:04:05Z"},
		{"rfc3339", "2020-07-06", ""},
	}
	for _, tt := range tests {
		l, err := ParseLayout(tt.layout)
		if err != nil {
			t.Fatalf("ParseLayout(%q): %v", tt.layout, err)
		}
		got, ok := l.Parse(tt.in)
		switch {
		case tt.want == "" && ok:
			t.Errorf("%q.Parse(%q) = %v, want no match", tt.layout, tt.in, got)
		case tt.want != "" && (!ok || got.UTC().Format("2006-01-02T15:04:05Z07:00") != tt.want):
			t.Errorf("%q.Parse(%q) = %v, %v; want %s", tt.layout, tt.in, got, ok, tt.want)
		}
	}
}

func TestParseLayoutErrors(t *testing.T) {
	bad := map[string]string{
		"d/m/yy":        "not a token",
		"m/yyyy":        "needs a year",
		"dm/yyyy":       "separator",
		"d/m/yyyy d":    "twice",
		"d/m/yyyy 2":    "not a token",
		"yyyy-mm-dd MI": "minutes need hours",
		"":              "needs a year",
	}
	for in, want := range bad {
		if _, err := ParseLayout(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseLayout(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}
