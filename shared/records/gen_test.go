package records

import (
	"io"
	"strings"
	"testing"

	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// Test data is generated here, with the quirks of the real ECDC file: a
// UTF-8 BOM, CRLF line ends, a quoted name holding a comma, an empty
// country code and population, negative corrections and non-ASCII names.

const ecdcHeader = ecdc.Header

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

// newECDCStream generates a CSV file of n rows on the fly (shared/ecdc), so
// that tests can read a large file without it ever being in memory.
func newECDCStream(n int) io.Reader { return ecdc.NewReader(0, n, ecdc.Options{}) }

// ecdcProfile is tenants/tenant1.yaml's shape (shared/ecdc.Profile),
// whose last section is its wrangling (dateRep from d/m/yyyy); extra is
// appended to the YAML: more wrangling lines indented by two, or more
// top-level sections.
func ecdcProfile(extra string) string {
	return ecdc.Profile("tenant1", ecdc.SourceNames, extra)
}

// ecdcUnwrangled is ecdcProfile without its wrangling section, for tests
// of wrangling itself; extra is appended.
func ecdcUnwrangled(extra string) string {
	sink, _, _ := strings.Cut(ecdcProfile(""), "wrangling:\n")
	return sink + extra
}

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
