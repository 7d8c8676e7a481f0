// Package ecdc generates data shaped like the seed dataset, the ECDC
// COVID-19 daily case file, with that file's real quirks: a UTF-8 BOM, CRLF
// line ends, a quoted name holding a comma ("Bonaire, Saint Eustatius and
// Saba"), empty country code and population, negative daily counts (the
// source's corrections) and non-ASCII names. Tests, the demo and the
// benchmarks use it, so that none of them needs the real file.
//
// Row i is country i%6 on the (i/6)-th day back from 2020-07-06, so every
// (geoId, dateRep) pair — the dataset's business key — is distinct for
// distinct i. Rows [from, to) of one dataset never collide with another
// range.
package ecdc

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Header is the file's header row.
const Header = "dateRep,day,month,year,cases,deaths,countriesAndTerritories,geoId,countryterritoryCode,popData2019,continentExp"

// countries cycle through the quirky ones, as CSV fields from
// countriesAndTerritories on.
var countries = [...]struct{ csv, name, geo, code, pop, continent string }{
	{`Afghanistan,AF,AFG,38041757,Asia`, "Afghanistan", "AF", "AFG", "38041757", "Asia"},
	{`"Bonaire, Saint Eustatius and Saba",BQ,BES,25983,America`, "Bonaire, Saint Eustatius and Saba", "BQ", "BES", "25983", "America"},
	{`Benin,BJ,BEN,11801151,Africa`, "Benin", "BJ", "BEN", "11801151", "Africa"},
	{`Cases_on_an_international_conveyance_Japan,JPG11668,,,Other`, "Cases_on_an_international_conveyance_Japan", "JPG11668", "", "", "Other"},
	{`Curaçao,CW,CUW,163423,America`, "Curaçao", "CW", "CUW", "163423", "America"},
	{`Côte d’Ivoire,CI,CIV,25716554,Africa`, "Côte d’Ivoire", "CI", "CIV", "25716554", "Africa"},
}

// Countries is how many distinct countries rows cycle through.
const Countries = len(countries)

func day(i int) time.Time {
	return time.Date(2020, 7, 6, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -i/len(countries))
}

func cases(i int) int { return i%997 - 20 } // some negative corrections

// Row is the i-th row as a CSV line, without its line end.
func Row(i int) string {
	d := day(i)
	return fmt.Sprintf("%d/%02d/%d,%d,%d,%d,%d,%d,%s", d.Day(), int(d.Month()), d.Year(),
		d.Day(), int(d.Month()), d.Year(), cases(i), i%13, countries[i%len(countries)].csv)
}

// Fields is the i-th row as a producer publishing rows one message each
// would send it: the file's field names, numbers as JSON numbers, except
// that odd rows carry day/month/year as strings (as ECDC's own JSON download
// does) and an unknown population is an empty string.
func Fields(i int) map[string]any {
	d := day(i)
	c := countries[i%len(countries)]
	row := map[string]any{
		"dateRep": fmt.Sprintf("%d/%02d/%d", d.Day(), int(d.Month()), d.Year()),
		"day":     d.Day(), "month": int(d.Month()), "year": d.Year(),
		"cases": cases(i), "deaths": i % 13,
		"countriesAndTerritories": c.name, "geoId": c.geo, "countryterritoryCode": c.code,
		"continentExp": c.continent,
	}
	if i%2 == 1 {
		row["day"], row["month"], row["year"] = fmt.Sprint(d.Day()), fmt.Sprint(int(d.Month())), fmt.Sprint(d.Year())
	}
	if c.pop == "" {
		row["popData2019"] = ""
	} else {
		row["popData2019"] = json.Number(c.pop)
	}
	return row
}

// JSON is Fields(i) encoded: one message's payload.
func JSON(i int) []byte {
	b, _ := json.Marshal(Fields(i))
	return b
}

// CSV is a whole file of rows [from, to): BOM, header, CRLF line ends.
func CSV(from, to int) []byte {
	b, _ := io.ReadAll(NewReader(from, to, Options{}))
	return b
}

// Options vary a generated file.
type Options struct {
	// ExtraHeader is appended to the header row (e.g. ",padding") and Pad
	// to every row, to make large files from fewer rows.
	ExtraHeader, Pad string
}

// Reader generates a CSV file on the fly, so that a file of any size is
// never in memory.
type Reader struct {
	i, to int
	pad   string
	buf   []byte
}

// NewReader returns the file of rows [from, to).
func NewReader(from, to int, o Options) *Reader {
	return &Reader{i: from, to: to, pad: o.Pad, buf: []byte("\ufeff" + Header + o.ExtraHeader + "\r\n")}
}

func (r *Reader) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) && r.i < r.to {
		r.buf = append(r.buf, Row(r.i)...)
		r.buf = append(r.buf, r.pad...)
		r.buf = append(r.buf, '\r', '\n')
		r.i++
	}
	if len(r.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.buf)
	r.buf = r.buf[:copy(r.buf, r.buf[n:])]
	return n, nil
}
