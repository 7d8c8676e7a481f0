package records

import (
	"errors"
	"strings"
	"testing"
)

const (
	afJSON = `{"dateRep":"6/07/2020","day":6,"month":7,"year":2020,"cases":279,"deaths":38,"countriesAndTerritories":"Afghanistan","geoId":"AF","countryterritoryCode":"AFG","popData2019":38041757,"continentExp":"Asia"}`
	jpJSON = `{"dateRep":"10/03/2020","day":"10","month":3.0,"year":2020,"cases":-9,"deaths":1,"countriesAndTerritories":"Cases_on_an_international_conveyance_Japan","geoId":"JPG11668","countryterritoryCode":null,"continentExp":"Other"}`
)

func TestReadJSON(t *testing.T) {
	tests := []struct {
		name, object, input string
		good                int
		rejected            []string
		err                 error
		errText             string
	}{
		{name: "array", object: "x.json", input: "\ufeff[\n" + afJSON + ",\n" + jpJSON + "\n]\n", good: 2},
		{name: "array sniffed", object: "data", input: "[" + afJSON + "]", good: 1},
		{name: "empty array", object: "x.json", input: "[]"},
		{
			name:     "bad elements",
			object:   "x.json",
			input:    "[" + afJSON + ", 5, " + strings.Replace(afJSON, "279", "2.5", 1) + "," + strings.Replace(afJSON, `"Asia"}`, `"Asia","extra":1}`, 1) + "," + strings.Replace(afJSON, `"AF"`, "\"A\xffF\"", 1) + "]",
			good:     1,
			rejected: []string{"element 2: is a number, not a JSON object", "element 3: field cases: 2.5 is not an int", `element 4: unexpected fields "extra"`, "element 5: invalid UTF-8"},
		},
		{
			name:     "syntax error mid-array",
			object:   "x.json",
			input:    "[" + afJSON + "," + jpJSON + ", {\"dateRep\": oops}, " + afJSON + "]",
			good:     2,
			err:      ErrSyntax,
			errText:  "syntax error in element 3",
			rejected: nil,
		},
		{name: "truncated array", object: "x.json", input: "[" + afJSON + "," + afJSON[:40], good: 1, err: ErrSyntax, errText: "ends early"},
		{name: "not an array", object: "x.json", input: `"hello"`, err: ErrFormat, errText: "want a JSON array of objects"},
		{name: "trailing data", object: "x.json", input: "[" + afJSON + "] []", good: 1, err: ErrSyntax, errText: "after the closing ]"},
		{name: "ndjson", object: "x.ndjson", input: afJSON + "\r\n\r\n" + jpJSON + "\n", good: 2},
		{name: "json lines named .json", object: "x.json", input: afJSON + "\n" + jpJSON, good: 2},
		{
			name:     "ndjson bad lines",
			object:   "x.jsonl",
			input:    afJSON + "\n{\"dateRep\": oops}\n[1]\n" + jpJSON + " " + jpJSON + "\n" + strings.Replace(afJSON, `"cases":279,`, ``, 1) + "\n" + jpJSON + "\n",
			good:     2,
			rejected: []string{"line 2: not valid JSON", "line 3: is an array, not a JSON object", "line 4: more than one JSON value", "line 5: field cases: is required but missing"},
		},
		{name: "ndjson empty", object: "x.ndjson", input: "\n\n", err: ErrEmpty},
		{name: "ndjson garbage", object: "x.ndjson", input: "\x00\x01\x02\n\xff\xfe\n", rejected: []string{"line 1: not valid JSON", "line 2: invalid UTF-8"}},
	}
	pl := compile(t, ecdcProfile(""))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good, bad, err := readAll(t, pl.NewReader(strings.NewReader(tt.input), tt.object))
			if len(good) != tt.good {
				t.Errorf("%d good rows, want %d (rejected %v, err %v)", len(good), tt.good, bad, err)
			}
			if len(bad) != len(tt.rejected) {
				t.Errorf("rejected %v, want %d", bad, len(tt.rejected))
			}
			for i := 0; i < len(bad) && i < len(tt.rejected); i++ {
				if !strings.Contains(bad[i].Error(), tt.rejected[i]) {
					t.Errorf("rejection %d = %q, want it to contain %q", i, bad[i].Error(), tt.rejected[i])
				}
			}
			switch {
			case tt.err == nil && err != nil:
				t.Errorf("file error %v", err)
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Errorf("file error %v, want %v", err, tt.err)
			case tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)):
				t.Errorf("file error %v, want it to contain %q", err, tt.errText)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	pl := compile(t, ecdcProfile(""))
	rec := pl.Message(7, []byte(jpJSON))
	if rec.Err != nil || rec.Line != 7 || len(rec.Doc) != 11 {
		t.Fatalf("good message: %+v", rec)
	}
	if v := rec.Doc[2].Value; v != int64(3) {
		t.Errorf("month 3.0 became %#v, want int64(3)", v)
	}
	rec = pl.Message(8, []byte(`{"dateRep": "6/07/2020"`))
	if rec.Err == nil || !strings.HasPrefix(rec.Err.Error(), "message 8: not valid JSON") || rec.Err.Raw == "" {
		t.Errorf("bad message: %+v", rec.Err)
	}
}
