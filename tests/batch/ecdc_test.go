package batch

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// ECDC-shaped data, generated with the real file's quirks: a UTF-8 BOM,
// CRLF line ends, a quoted name holding a comma, empty country code and
// population, negative daily counts (the source's corrections) and
// non-ASCII names.

const ecdcHeader = "dateRep,day,month,year,cases,deaths,countriesAndTerritories,geoId,countryterritoryCode,popData2019,continentExp"

// countries cycle through the quirky ones.
var countries = [...]string{
	`Afghanistan,AF,AFG,38041757,Asia`,
	`"Bonaire, Saint Eustatius and Saba",BQ,BES,25983,America`,
	`Benin,BJ,BEN,11801151,Africa`,
	`Cases_on_an_international_conveyance_Japan,JPG11668,,,Other`,
	`Curaçao,CW,CUW,163423,America`,
	`Côte d’Ivoire,CI,CIV,25716554,Africa`,
}

// ecdcRow is the i-th row of a dataset: country i%6 on the (i/6)-th day
// back from 2020-07-06, so that every (geoId, dateRep) — the business key —
// is distinct. offset shifts whole datasets apart.
func ecdcRow(i int) string {
	d := time.Date(2020, 7, 6, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -i/len(countries))
	cases := i%997 - 20 // some negative corrections
	return fmt.Sprintf("%d/%02d/%d,%d,%d,%d,%d,%d,%s", d.Day(), int(d.Month()), d.Year(),
		d.Day(), int(d.Month()), d.Year(), cases, i%13, countries[i%len(countries)])
}

// ecdcCSV is a whole file of rows [from, to): BOM, header, CRLF.
func ecdcCSV(from, to int) []byte {
	var b strings.Builder
	b.WriteString("\ufeff" + ecdcHeader + "\r\n")
	for i := from; i < to; i++ {
		b.WriteString(ecdcRow(i))
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

// ecdcStream generates rows [0, n) on the fly, each followed by pad, so a
// large upload is never in memory.
type ecdcStream struct {
	n, i int
	pad  string
	buf  []byte
}

func newECDCStream(n int, extraHeader, pad string) *ecdcStream {
	return &ecdcStream{n: n, pad: pad, buf: []byte("\ufeff" + ecdcHeader + extraHeader + "\r\n")}
}

func (s *ecdcStream) Read(p []byte) (int, error) {
	for len(s.buf) < len(p) && s.i < s.n {
		s.buf = append(s.buf, ecdcRow(s.i)...)
		s.buf = append(s.buf, s.pad...)
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

// Profiles: tenant1's and tenant2's shapes (tenants/*.yaml), under a
// tenant id of the test's own so that tests share no bucket or database.
// batch is the YAML of the batch section's limits.

func tenant1Profile(tenant, batch string) string {
	return `tenant: ` + tenant + `
batch:
` + batch + `
sink:
  collection: covid_daily
  unknown_fields: reject
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
wrangling:
  dates:
    dateRep: d/m/yyyy
`
}

func tenant2Profile(tenant, batch string) string {
	return `tenant: ` + tenant + `
batch:
` + batch + `
sink:
  collection: ecdc_cases
  unknown_fields: ignore
  schema:
    - {name: dateRep, type: date, required: true}
    - {name: day, type: int}
    - {name: month, type: int}
    - {name: year, type: int}
    - {name: cases, type: int, required: true}
    - {name: deaths, type: int, required: true}
    - {name: countriesAndTerritories, type: string, required: true}
    - {name: geoId, type: string, required: true}
    - {name: countryterritoryCode, type: string}
    - {name: popData2019, type: int}
    - {name: continentExp, type: string}
  key: [geo_id, report_date]
wrangling:
  rename:
    dateRep: report_date
    countriesAndTerritories: country
    geoId: geo_id
    countryterritoryCode: country_code
    popData2019: population_2019
    continentExp: continent
  dates:
    dateRep: [d/m/yyyy, yyyy-mm-dd]
  derive:
    - {name: record_id, op: concat, from: [geo_id, report_date], sep: ":"}
    - {name: source, op: constant, value: ecdc}
  drop: [day, month, year]
`
}

// defaultLimits are generous limits for tests that are not about quotas.
const defaultLimits = `  max_file_size: 64MiB
  max_files_per_window: 100
  window: 1m
  formats: [csv, json, ndjson]`
