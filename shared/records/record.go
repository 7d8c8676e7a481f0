package records

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// MaxRaw caps the raw text kept with a rejected row: enough to see what was
// wrong, never a whole runaway record.
const MaxRaw = 4 << 10

// Record is one record read from a file or message: a document when the
// row is good, a RowError when it is not.
type Record struct {
	// Line is where the record starts: the physical line for CSV and
	// NDJSON, the 1-based element index for a JSON array.
	Line int
	// Doc is the document to store, in schema order (stored names), then
	// derived fields. Nil when the row was rejected.
	Doc bson.D
	// Key holds the business-key values, in sink.key order, for KeyID.
	Key []any
	// Err says why the row was rejected; nil for a good row.
	Err *RowError
	// Raw is a good record's text as read, when the plan keeps it
	// (Plan.KeepRaw); a CSV record without its line break.
	Raw []byte
}

// RowError is a rejected row: where it was, why, and its raw text for the
// quarantine.
type RowError struct {
	Line int
	// Unit names what Line counts: "line", "element" or "message".
	Unit string
	// Field is the source field at fault, if one is.
	Field  string
	Reason string
	// Raw is the row as read, at most MaxRaw bytes, made valid UTF-8 so
	// that it can itself be stored; "…" marks a cut.
	Raw string
}

func (e *RowError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s %d: field %s: %s", e.Unit, e.Line, e.Field, e.Reason)
	}
	return fmt.Sprintf("%s %d: %s", e.Unit, e.Line, e.Reason)
}

// rawText makes the quarantine copy of a row.
func rawText(b []byte) string {
	cut := len(b) > MaxRaw
	if cut {
		b = b[:MaxRaw]
		// Back up to a rune boundary so the cut adds no invalid byte.
		for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.RuneStart(b[len(b)-1]); i++ {
			b = b[:len(b)-1]
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if cut {
		s += "…"
	}
	return s
}

// quote renders a value for a reason, short enough to read.
func quote(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q…", rawText([]byte(s[:64])))
	}
	return fmt.Sprintf("%q", s)
}

// Stats counts what a Reader has read so far.
type Stats struct {
	Rows     int   // records yielded, good and rejected
	Good     int   // records that became documents
	Rejected int   // rejected rows
	Bytes    int64 // bytes of the object read, as stored (compressed if gzip)
}

// File-level failures, for errors.Is. A file-level error ends the file;
// the rows yielded before it stand.
var (
	ErrEmpty    = errors.New("file is empty")
	ErrHeader   = errors.New("header does not match the schema")
	ErrFormat   = errors.New("unsupported file")
	ErrSyntax   = errors.New("syntax error")
	ErrTooLarge = errors.New("file is larger than batch.max_file_size")
	// ErrInflates: a gzip file grew past batch.max_gzip_ratio times its
	// compressed size (a decompression bomb, or a limit set too low).
	ErrInflates = errors.New("gzip file inflates more than batch.max_gzip_ratio allows")
	// ErrRecordTooLarge: a JSON array element over batch.max_record_size;
	// the array cannot be read past it. (An over-long CSV record or NDJSON
	// line is only a bad row: reading goes on at the next line.)
	ErrRecordTooLarge = errors.New("record is larger than batch.max_record_size")
)
