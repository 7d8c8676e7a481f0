package records

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
	"time"
)

func gzipped(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.String()
}

func TestReadCSV(t *testing.T) {
	q := ecdcQuirks()
	tests := []struct {
		name, object, input string
		good                int
		rejected            []string // RowError texts, in order (substring match)
		err                 error    // file-level error, for errors.Is
		errText             string   // and a piece of its text
	}{
		{name: "real quirks", input: ecdcFile(q...), good: 5},
		{name: "LF line ends, no BOM, no final newline", input: ecdcHeader + "\n" + q[0] + "\n" + q[1], good: 2},
		{name: "blank lines are skipped", input: ecdcFile(q[0], "", q[1]), good: 2},
		{
			name:     "bad int",
			input:    ecdcFile(q[0], strings.Replace(q[2], "11801151", "3x", 1)),
			good:     1,
			rejected: []string{`line 3: field popData2019: "3x" is not an int`},
		},
		{
			name:     "impossible date and empty required",
			input:    ecdcFile(strings.Replace(q[0], "6/07", "31/02", 1), strings.Replace(q[2], "Benin", "", 1), q[4]),
			good:     1,
			rejected: []string{`line 2: field dateRep: "31/02/2020" is not a date in layout d/m/yyyy`, `line 3: field countriesAndTerritories: is required but empty`},
		},
		{
			name:     "unterminated quote costs one row",
			input:    ecdcFile(q[0], `6/07/2020,6,7,2020,0,0,"Bonaire, Saint,BQ,BES,25983,America`, q[2], q[3], q[4]),
			good:     4,
			rejected: []string{`line 3: unterminated quoted field in column 7; lines 4-6 are read again as rows`},
		},
		{
			name:     "stray quote closed by a later one",
			input:    ecdcFile(`6/07/2020,6,7,2020,0,0,"Bonaire,BQ,BES,25983,America`, q[0], q[1], q[2]),
			good:     3,
			rejected: []string{`line 2: unexpected 'B' after the closing quote of column 7; lines 3-4 are read again`},
		},
		{
			name:     "bare quote",
			input:    ecdcFile(q[0], `6/07/2020,6,7,2020,0,0,Bon"aire,BQ,BES,25983,America`, q[2]),
			good:     2,
			rejected: []string{`line 3: bare quote in unquoted column 7`},
		},
		{
			name:     "quoted line break stays in the field",
			input:    ecdcFile(`6/07/2020,6,7,2020,0,0,"Bonaire,`+"\r\n"+`Saba",BQ,BES,25983,America`, q[0], `x`),
			good:     2,
			rejected: []string{`line 5: has 1 fields, want 11`},
		},
		{
			name:     "wrong field count",
			input:    ecdcFile(q[0], q[1]+",extra", q[2]),
			good:     2,
			rejected: []string{`line 3: has 12 fields, want 11`},
		},
		{
			name:     "invalid UTF-8",
			input:    ecdcFile(q[0], strings.Replace(q[4], "ç", "\xe7", 1), q[2]),
			good:     2,
			rejected: []string{`line 3: invalid UTF-8 at byte 28 of the row`},
		},
		{name: "gzip", object: "x.csv.gz", input: gzipped(ecdcFile(q...)), good: 5},
		{name: "gzip sniffed without .gz", input: gzipped(ecdcFile(q...)), good: 5},
		{name: "header only", input: "\ufeff" + ecdcHeader + "\r\n"},
		{name: "empty", input: "", err: ErrEmpty, errText: "read x.csv: file is empty"},
		{name: "BOM only", input: "\ufeff", err: ErrEmpty},
		{name: "blank lines only", input: "\r\n\r\n  \n", err: ErrEmpty},
		{name: "empty gzip", object: "x.csv.gz", input: gzipped(""), err: ErrEmpty},
		{name: "not gzip despite the name", object: "x.csv.gz", input: ecdcFile(q...), err: ErrFormat, errText: "not gzip"},
		{name: "no BOM", input: strings.TrimPrefix(ecdcFile(q...), "\ufeff"), good: 5},
		{
			name:    "renamed columns",
			input:   strings.Replace(strings.Replace(ecdcFile(q...), "geoId", "geoid", 1), "deaths", "died", 1),
			err:     ErrHeader,
			errText: `header does not match the schema: missing required columns "deaths", "geoId"; unexpected columns "died", "geoid"; "geoid" is "geoId" in the schema: names are case-sensitive`,
		},
		{
			name:    "binary garbage",
			input:   "\x00\x01\x02\xff\xfe\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
			err:     ErrHeader,
			errText: "not valid UTF-8",
		},
		{
			name:    "unterminated quote in the header",
			input:   `"dateRep,day` + "\n" + q[0],
			err:     ErrHeader,
			errText: "cannot read the header row (line 1): unterminated quoted field",
		},
	}
	pl := compile(t, ecdcProfile(""))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			object := tt.object
			if object == "" {
				object = "x.csv"
			}
			rd := pl.NewReader(strings.NewReader(tt.input), object)
			good, bad, err := readAll(t, rd)
			if len(good) != tt.good {
				t.Errorf("%d good rows, want %d", len(good), tt.good)
			}
			if len(bad) != len(tt.rejected) {
				t.Errorf("rejected %v, want %d", bad, len(tt.rejected))
			}
			for i := 0; i < len(bad) && i < len(tt.rejected); i++ {
				if !strings.Contains(bad[i].Error(), tt.rejected[i]) {
					t.Errorf("rejection %d = %q, want it to contain %q", i, bad[i].Error(), tt.rejected[i])
				}
				if bad[i].Raw == "" {
					t.Errorf("rejection %d has no raw text", i)
				}
			}
			switch {
			case tt.err == nil && tt.errText == "" && err != nil:
				t.Errorf("file error %v", err)
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Errorf("file error %v, want %v", err, tt.err)
			case tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)):
				t.Errorf("file error %v, want it to contain %q", err, tt.errText)
			}
			st := rd.Stats()
			if st.Good != len(good) || st.Rejected != len(bad) || st.Rows != st.Good+st.Rejected {
				t.Errorf("stats %+v for %d good, %d rejected", st, len(good), len(bad))
			}
		})
	}
}

func TestCSVValuesAndLines(t *testing.T) {
	pl := compile(t, ecdcProfile(""))
	in := ecdcFile(ecdcQuirks()[0], `6/07/2020,6,7,2020,0,0,"Bonaire, ""Saint""`+"\r\n"+`Saba",BQ,BES,25983,America`, ecdcQuirks()[3], ecdcQuirks()[4])
	good, bad, err := readAll(t, pl.NewReader(strings.NewReader(in), "x.csv"))
	if err != nil || len(bad) > 0 || len(good) != 4 {
		t.Fatalf("good %d, bad %v, err %v", len(good), bad, err)
	}
	lines := []int{good[0].Line, good[1].Line, good[2].Line, good[3].Line}
	if lines[0] != 2 || lines[1] != 3 || lines[2] != 5 || lines[3] != 6 {
		t.Errorf("lines %v, want [2 3 5 6] (a quoted line break takes a line)", lines)
	}
	get := func(r Record, k string) any {
		for _, e := range r.Doc {
			if e.Key == k {
				return e.Value
			}
		}
		t.Fatalf("no field %s in %v", k, r.Doc)
		return nil
	}
	checks := []struct {
		rec  Record
		key  string
		want any
	}{
		{good[0], "dateRep", time.Date(2020, 7, 6, 0, 0, 0, 0, time.UTC)},
		{good[0], "cases", int64(279)},
		{good[1], "countriesAndTerritories", "Bonaire, \"Saint\"\nSaba"},
		{good[2], "cases", int64(-9)},
		{good[2], "countryterritoryCode", nil},
		{good[2], "popData2019", nil},
		{good[3], "countriesAndTerritories", "Curaçao"},
	}
	for _, c := range checks {
		if got := get(c.rec, c.key); got != c.want {
			t.Errorf("line %d %s = %#v, want %#v", c.rec.Line, c.key, got, c.want)
		}
	}
	if k := good[0].Key; len(k) != 2 || k[0] != "AF" || k[1] != "2020-07-06" {
		t.Errorf("key %v", k)
	}
}

func TestCSVOptions(t *testing.T) {
	pl := compile(t, ecdcProfile("batch:\n  gzip: false\n  formats: [csv]\n  csv: {delimiter: \";\", header: false}\n"))
	row := strings.ReplaceAll(ecdcQuirks()[0], ",", ";")
	good, bad, err := readAll(t, pl.NewReader(strings.NewReader(row+"\n"+row+";x\n"), "data"))
	if err != nil || len(good) != 1 || len(bad) != 1 || good[0].Line != 1 {
		t.Errorf("good %v, bad %v, err %v", good, bad, err)
	}
	_, _, err = readAll(t, pl.NewReader(strings.NewReader(gzipped(row)), "x.csv.gz"))
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "batch.gzip") {
		t.Errorf("gzip when not allowed: %v", err)
	}
	_, _, err = readAll(t, pl.NewReader(strings.NewReader(`[{"a":1}]`), "x.json"))
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "json files are not accepted") {
		t.Errorf("json when not accepted: %v", err)
	}
}

func TestLongLinesAndTooLarge(t *testing.T) {
	pl := compile(t, ecdcProfile("batch:\n  max_file_size: 100KB\n"))
	pl.maxRecord = 1000
	long := ecdcQuirks()[0] + strings.Repeat("x", 5000)
	good, bad, err := readAll(t, pl.NewReader(strings.NewReader(ecdcFile(long, ecdcQuirks()[1])), "x.csv"))
	if err != nil || len(good) != 1 || len(bad) != 1 || !strings.Contains(bad[0].Error(), "line 2: line is longer than 1000 bytes") || len(bad[0].Raw) > MaxRaw+4 {
		t.Errorf("good %d, bad %v, err %v", len(good), bad, err)
	}
	rd := pl.NewReader(newECDCStream(10_000), "big.csv")
	good, _, err = readAll(t, rd)
	if !errors.Is(err, ErrTooLarge) || len(good) == 0 {
		t.Errorf("over max_file_size: %d rows then %v", len(good), err)
	}
}
