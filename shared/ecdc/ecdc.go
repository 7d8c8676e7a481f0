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
// range. After 100 years of days (219,000 rows) the dates start again and
// the geoId gets the cycle's number, so files of any size keep valid dates
// and distinct keys.
package ecdc

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// Header is the file's header row.
const Header = "dateRep,day,month,year,cases,deaths,countriesAndTerritories,geoId,countryterritoryCode,popData2019,continentExp"

// countries cycle through the quirky ones, as CSV fields from
// countriesAndTerritories on.
var countries = [...]struct{ csvName, csvRest, name, geo, code, pop, continent string }{
	{`Afghanistan`, `AFG,38041757,Asia`, "Afghanistan", "AF", "AFG", "38041757", "Asia"},
	{`"Bonaire, Saint Eustatius and Saba"`, `BES,25983,America`, "Bonaire, Saint Eustatius and Saba", "BQ", "BES", "25983", "America"},
	{`Benin`, `BEN,11801151,Africa`, "Benin", "BJ", "BEN", "11801151", "Africa"},
	{`Cases_on_an_international_conveyance_Japan`, `,,Other`, "Cases_on_an_international_conveyance_Japan", "JPG11668", "", "", "Other"},
	{`Curaçao`, `CUW,163423,America`, "Curaçao", "CW", "CUW", "163423", "America"},
	{`Côte d’Ivoire`, `CIV,25716554,Africa`, "Côte d’Ivoire", "CI", "CIV", "25716554", "Africa"},
}

// Countries is how many distinct countries rows cycle through.
const Countries = len(countries)

// cycleDays is how many days back the dates go before they start again.
const cycleDays = 36_500

// day is row i's date and date cycle.
func day(i int) (time.Time, int) {
	back := i / len(countries)
	return time.Date(2020, 7, 6-back%cycleDays, 0, 0, 0, 0, time.UTC), back / cycleDays
}

// geo is row i's geoId, numbered after the first date cycle.
func geo(i int, cycle int) string {
	g := countries[i%len(countries)].geo
	if cycle > 0 {
		g += strconv.Itoa(cycle)
	}
	return g
}

func cases(i int) int { return i%997 - 20 } // some negative corrections

// Row is the i-th row as a CSV line, without its line end.
func Row(i int) string { return string(AppendRow(nil, i)) }

// AppendRow appends Row(i) to dst; generating gigabytes goes at hundreds
// of thousands of rows per second this way.
func AppendRow(dst []byte, i int) []byte { return appendRow(dst, i, 0) }

// appendRow appends row i with its deaths raised by more, as a source's
// correction of an earlier day would.
func appendRow(dst []byte, i, more int) []byte {
	d, cycle := day(i)
	dd, mm, yy := int64(d.Day()), int64(d.Month()), int64(d.Year())
	dst = strconv.AppendInt(dst, dd, 10)
	dst = append(dst, '/')
	if mm < 10 {
		dst = append(dst, '0')
	}
	dst = strconv.AppendInt(dst, mm, 10)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, yy, 10)
	for _, v := range [...]int64{dd, mm, yy, int64(cases(i)), int64(i%13 + more)} {
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, v, 10)
	}
	c := countries[i%len(countries)]
	dst = append(dst, ',')
	dst = append(dst, c.csvName...)
	dst = append(dst, ',')
	dst = append(dst, geo(i, cycle)...)
	dst = append(dst, ',')
	return append(dst, c.csvRest...)
}

// Fields is the i-th row as a producer publishing rows one message each
// would send it: the file's field names, numbers as JSON numbers, except
// that odd rows carry day/month/year as strings (as ECDC's own JSON download
// does) and an unknown population is an empty string.
func Fields(i int) map[string]any {
	d, cycle := day(i)
	c := countries[i%len(countries)]
	row := map[string]any{
		"dateRep": fmt.Sprintf("%d/%02d/%d", d.Day(), int(d.Month()), d.Year()),
		"day":     d.Day(), "month": int(d.Month()), "year": d.Year(),
		"cases": cases(i), "deaths": i % 13,
		"countriesAndTerritories": c.name, "geoId": geo(i, cycle), "countryterritoryCode": c.code,
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
	// Correct, when above 0, raises deaths by one in every Correct-th row
	// (row i with i%Correct == 0): the same keys with 1/Correct of the
	// rows changed, as the next day's file of a daily source is.
	Correct int
}

// Reader generates a CSV file on the fly, so that a file of any size is
// never in memory.
type Reader struct {
	i, to   int
	limit   int64 // stop adding rows once this many bytes are out; <0: no limit
	n       int64
	pad     string
	correct int
	buf     []byte
	off     int
}

// NewReader returns the file of rows [from, to).
func NewReader(from, to int, o Options) *Reader {
	return &Reader{i: from, to: to, limit: -1, pad: o.Pad, correct: o.Correct, buf: []byte("\ufeff" + Header + o.ExtraHeader + "\r\n")}
}

// NewSizedReader returns a file of rows 0, 1, ... that ends with the first
// row that brings it to at least size bytes.
func NewSizedReader(size int64) *Reader {
	r := NewReader(0, math.MaxInt, Options{})
	r.limit = size
	return r
}

func (r *Reader) Read(p []byte) (int, error) {
	if r.off == len(r.buf) {
		r.buf, r.off = r.buf[:0], 0
		for len(r.buf) < 64<<10 && r.i < r.to && (r.limit < 0 || r.n+int64(len(r.buf)) < r.limit) {
			more := 0
			if r.correct > 0 && r.i%r.correct == 0 {
				more = 1
			}
			r.buf = appendRow(r.buf, r.i, more)
			r.buf = append(r.buf, r.pad...)
			r.buf = append(r.buf, '\r', '\n')
			r.i++
		}
		if len(r.buf) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	r.n += int64(n)
	return n, nil
}

// Rows is the index after the last row generated so far: with NewReader(0,
// …) or NewSizedReader, the number of rows once Read returned io.EOF.
func (r *Reader) Rows() int { return r.i }

// Bytes is the number of bytes read so far.
func (r *Reader) Bytes() int64 { return r.n }
