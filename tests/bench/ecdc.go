package bench

import (
	"io"
	"strconv"
	"time"
)

// ECDC-shaped data, as tests/batch generates it (a copy: test files are
// not importable): a UTF-8 BOM, CRLF line ends, a quoted name holding a
// comma, empty country code and population, negative daily counts and
// non-ASCII names. About 72 bytes a row; 60 000 rows make the seed's
// 4.3 MB file.

// ECDCHeader is the header line of the ECDC daily case distribution.
const ECDCHeader = "dateRep,day,month,year,cases,deaths,countriesAndTerritories,geoId,countryterritoryCode,popData2019,continentExp"

// ecdcDays is how many days back from 2020-07-06 rows go before the
// countries' geoIds get a cycle suffix: 100 years keeps every date a
// plausible four-digit year however large the file, and the business key
// (geoId, dateRep) distinct.
const ecdcDays = 36_500

// ecdcCountry returns country i%6 as the name column, its geoId and the
// columns after the geoId.
func ecdcCountry(i int) (name, geo, rest string) {
	switch i % 6 {
	case 0:
		return `Afghanistan`, `AF`, `AFG,38041757,Asia`
	case 1:
		return `"Bonaire, Saint Eustatius and Saba"`, `BQ`, `BES,25983,America`
	case 2:
		return `Benin`, `BJ`, `BEN,11801151,Africa`
	case 3:
		return `Cases_on_an_international_conveyance_Japan`, `JPG11668`, `,,Other`
	case 4:
		return `Curaçao`, `CW`, `CUW,163423,America`
	default:
		return `Côte d’Ivoire`, `CI`, `CIV,25716554,Africa`
	}
}

// appendECDCRow appends row i (without its line end): country i%6 on the
// (i/6)-th day back from 2020-07-06, so that every (geoId, dateRep) is
// distinct; past ecdcDays days the geoId takes the cycle's number.
func appendECDCRow(dst []byte, i int) []byte {
	day := i / 6
	cycle, back := day/ecdcDays, day%ecdcDays
	d := time.Date(2020, 7, 6-back, 0, 0, 0, 0, time.UTC)
	dd, mm, yy := int64(d.Day()), int64(d.Month()), int64(d.Year())
	dst = strconv.AppendInt(dst, dd, 10)
	dst = append(dst, '/')
	if mm < 10 {
		dst = append(dst, '0')
	}
	dst = strconv.AppendInt(dst, mm, 10)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, yy, 10)
	for _, v := range [...]int64{dd, mm, yy, int64(i%997 - 20), int64(i % 13)} {
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, v, 10)
	}
	name, geo, rest := ecdcCountry(i)
	dst = append(dst, ',')
	dst = append(dst, name...)
	dst = append(dst, ',')
	dst = append(dst, geo...)
	if cycle > 0 {
		dst = strconv.AppendInt(dst, int64(cycle), 10)
	}
	dst = append(dst, ',')
	return append(dst, rest...)
}

// ECDCFile is a whole file of rows [from, to): BOM, header, CRLF.
func ECDCFile(from, to int) []byte {
	b := make([]byte, 0, (to-from)*76+len(ECDCHeader)+8)
	b = append(b, "\ufeff"+ECDCHeader+"\r\n"...)
	for i := from; i < to; i++ {
		b = append(appendECDCRow(b, i), '\r', '\n')
	}
	return b
}

// ECDCStream generates an ECDC file on the fly, row after row, until it is
// at least Size bytes long (whole rows only), so that a file of any size is
// never in memory. Rows says how many rows it has produced.
type ECDCStream struct {
	size, n int64
	rows    int
	buf     []byte
	off     int
}

// NewECDCStream returns a stream of at least size bytes.
func NewECDCStream(size int64) *ECDCStream {
	return &ECDCStream{size: size, buf: []byte("\ufeff" + ECDCHeader + "\r\n")}
}

// Read implements io.Reader.
func (s *ECDCStream) Read(p []byte) (int, error) {
	if s.off == len(s.buf) {
		s.buf, s.off = s.buf[:0], 0
		for len(s.buf) < 64<<10 && s.n+int64(len(s.buf)) < s.size {
			s.buf = append(appendECDCRow(s.buf, s.rows), '\r', '\n')
			s.rows++
		}
		if len(s.buf) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(p, s.buf[s.off:])
	s.off += n
	s.n += int64(n)
	return n, nil
}

// Rows is the number of rows generated so far (all of them once Read has
// returned io.EOF).
func (s *ECDCStream) Rows() int { return s.rows }

// Bytes is the number of bytes read so far.
func (s *ECDCStream) Bytes() int64 { return s.n }
