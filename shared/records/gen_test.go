package records

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// Test data is generated here, with the quirks of the real ECDC file: a
// UTF-8 BOM, CRLF line ends, a quoted name holding a comma, an empty
// country code and population, negative corrections and non-ASCII names.

const ecdcHeader = "dateRep,day,month,year,cases,deaths,countriesAndTerritories,geoId,countryterritoryCode,popData2019,continentExp"

// ecdcQuirks are rows from the real file, one per quirk.
func ecdcQuirks() []string {
	return []string{
		`6/07/2020,6,7,2020,279,38,Afghanistan,AF,AFG,38041757,Asia`,
		`6/07/2020,6,7,2020,0,0,"Bonaire, Saint Eustatius and Saba",BQ,BES,25983,America`,
		`20/05/2020,20,5,2020,-209,0,Benin,BJ,BEN,11801151,Africa`,
		`10/03/2020,10,3,2020,-9,1,Cases_on_an_international_conveyance_Japan,JPG11668,,,Other`,
		`6/07/2020,6,7,2020,0,0,Curaçao,CW,CUW,163423,America`,
	}
}

// ecdcFile is a whole file: BOM, header and rows, CRLF-terminated.
func ecdcFile(rows ...string) string {
	return "\ufeff" + ecdcHeader + "\r\n" + strings.Join(rows, "\r\n") + "\r\n"
}

// ecdcRow is the i-th row of a generated file: a country cycling through
// the quirky ones, a date walking back from 2020-07-06.
func ecdcRow(i int) string {
	countries := [...]string{
		`Afghanistan,AF,AFG,38041757,Asia`,
		`"Bonaire, Saint Eustatius and Saba",BQ,BES,25983,America`,
		`Benin,BJ,BEN,11801151,Africa`,
		`Cases_on_an_international_conveyance_Japan,JPG11668,,,Other`,
		`Curaçao,CW,CUW,163423,America`,
		`Côte_d’Ivoire,CI,CIV,25716554,Africa`,
	}
	day := 1 + i%28
	month := 1 + (i/28)%12
	cases := i%997 - 20 // some negative corrections
	return fmt.Sprintf("%d/%02d/2020,%d,%d,2020,%d,%d,%s", day, month, day, month, cases, i%13, countries[i%len(countries)])
}

// ecdcStream generates a CSV file of n rows on the fly, so that tests can
// read a large file without it ever being in memory.
type ecdcStream struct {
	n, i int
	buf  []byte
}

func newECDCStream(n int) *ecdcStream {
	return &ecdcStream{n: n, buf: []byte("\ufeff" + ecdcHeader + "\r\n")}
}

func (s *ecdcStream) Read(p []byte) (int, error) {
	for len(s.buf) < len(p) && s.i < s.n {
		s.buf = append(s.buf, ecdcRow(s.i)...)
		s.buf = append(s.buf, '\r', '\n')
		s.i++
	}
	if len(s.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.buf)
	s.buf = s.buf[:copy(s.buf, s.buf[n:])]
	return n, nil
}

// ecdcProfile is tenant1's profile as the tests need it; extra is appended
// to the YAML (e.g. a wrangling section).
func ecdcProfile(extra string) string {
	return `tenant: tenant1
sink:
  collection: covid_daily
  schema:
    - {name: dateRep, type: date, required: true}
    - {name: day, type: int, required: true}
    - {name: month, type: int, required: true}
    - {name: year, type: int, required: true}
    - {name: cases, type: int, required: true}
    - {name: deaths, type: int, required: true}
    - {name: countriesAndTerritories, type: string, required: true}
    - {name: geoId, type: string, required: true}
    - {name: countryterritoryCode, type: string}
    - {name: popData2019, type: int}
    - {name: continentExp, type: string, required: true}
  key: [geoId, dateRep]
` + extra
}

const ecdcDates = `wrangling:
  dates: {dateRep: d/m/yyyy}
`

func compile(t testing.TB, yaml string) *Plan {
	t.Helper()
	p, err := profile.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pl, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// readAll reads every record, failing the test if the reader does not
// terminate.
func readAll(t testing.TB, rd *Reader) (good []Record, bad []*RowError, err error) {
	t.Helper()
	for i := 0; ; i++ {
		if i > 10_000_000 {
			t.Fatal("reader does not terminate")
		}
		rec, e := rd.Next()
		if e == io.EOF {
			return good, bad, nil
		}
		if e != nil {
			return good, bad, e
		}
		if rec.Err != nil {
			bad = append(bad, rec.Err)
		} else {
			good = append(good, rec)
		}
	}
}
