package quality

import (
	"math"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// FuzzParseDuration: whatever parses renders back to the same duration.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"72h", "7d", "1d12h", "1.5d", "0", "90m", "1e3d", "d", "-1d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("%q parsed as negative %v", s, d.D())
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("%q parsed as %v, rendered %q, which parses as %v, %v", s, d.D(), d, back.D(), err)
		}
	})
}

// FuzzCheck feeds rows of any values of any type to the documented rules:
// no panic, and the metadata counts what Check returned.
func FuzzCheck(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("FR2020-03-01 Europe 12 -3"))
	c := mustCompile(f, covidYAML, KeyFields("geoId", "dateRep", "cases"))
	names := []string{"dateRep", "day", "month", "year", "cases", "deaths", "geoId", "continentExp", "official", "other"}
	f.Fuzz(func(t *testing.T, data []byte) {
		file := c.NewFile()
		var violations, rejected int64
		for row := 0; len(data) > 0; row++ {
			var doc bson.D
			for _, name := range names {
				if len(data) < 2 {
					data = nil
					break
				}
				b, n := data[0], data[1]
				data = data[2:]
				var v any
				switch b % 10 {
				case 0:
					continue // absent
				case 1:
					v = nil
				case 2:
					v = int64(int8(n))
				case 3:
					v = float64(int8(n)) / 4
				case 4:
					v = []any{math.NaN(), math.Inf(1), math.Inf(-1), 1e300}[n%4]
				case 5:
					v = string([]byte{'A' + n%26, 'A' + n/26%26})
				case 6:
					v = date("2020-03-01").AddDate(0, 0, int(n))
				case 7:
					v = bson.NewDateTimeFromTime(date("2020-03-01").Add(time.Duration(n) * time.Hour))
				case 8:
					v = n%2 == 0
				case 9:
					v = []string{"", "2020-03-01", "Europe", "x", "2020-03-01T10:00:00Z"}[n%5]
				}
				doc = append(doc, bson.E{Key: name, Value: v})
			}
			vs := file.Check(row+1, bdoc(doc))
			violations += int64(len(vs))
			for _, v := range vs {
				if v.Severity == Reject {
					rejected++
					break
				}
			}
		}
		res := file.Result(date("2020-03-05"))
		var failures int64
		for name, rc := range res.Quality.Rules {
			if name != "fresh" {
				failures += rc.Failures
			}
		}
		if failures != violations || res.Quality.RowsQuarantined != rejected {
			t.Fatalf("metadata counts %d failures and %d quarantined, Check returned %d violations and %d rejected rows", failures, res.Quality.RowsQuarantined, violations, rejected)
		}
		for name, fq := range res.Quality.Fields {
			if fq.Completeness < 0 || fq.Completeness > 1 || fq.Min != nil && (math.IsInf(*fq.Min, 0) || math.IsNaN(*fq.Min)) {
				t.Fatalf("field %s: %+v", name, fq)
			}
		}
	})
}
