package records

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"iter"
	"path"
	"strings"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// row is what a source yields: a record's line, raw text (valid until the
// next call) and, when it is bad, why. Good values are in the vals passed in.
type row struct {
	line          int
	raw           []byte
	field, reason string
}

type source interface {
	next(vals []any) (row, error)
}

// Reader reads one file's records. It is not safe for concurrent use.
type Reader struct {
	plan   *Plan
	in     io.Reader
	name   string
	count  *counter
	src    source
	format profile.Format
	unit   string
	vals   []any
	stats  Stats
	err    error // sticky: io.EOF or the file-level error
}

// NewReader returns a Reader of the object called name (its key: the name
// decides the format and whether it is gzip, see Next) read from r.
// Nothing is read until the first call to Next.
func (pl *Plan) NewReader(r io.Reader, name string) *Reader {
	return &Reader{plan: pl, in: r, name: name, vals: make([]any, pl.slots())}
}

// Next returns the next record, good or rejected. It returns io.EOF after
// the last record, and any other error when the file as a whole cannot be
// read further (see ErrEmpty, ErrHeader, ErrFormat, ErrSyntax, ErrTooLarge);
// the records returned before such an error stand. After an error, Next
// keeps returning it.
//
// The format comes from the name (.csv, .json, .ndjson or .jsonl, with an
// optional .gz) or, for other names, from the first byte of the content
// ('[' is JSON, '{' NDJSON, anything else CSV). A .json file whose content
// starts with '{' is read as NDJSON. Gzip is recognised by its magic bytes.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	if r.src == nil {
		if err := r.open(); err != nil {
			r.err = fmt.Errorf("read %s: %w", r.name, err)
			return Record{}, r.err
		}
	}
	clear(r.vals)
	rw, err := r.src.next(r.vals)
	r.stats.Bytes = r.count.n
	if err != nil {
		r.err = io.EOF
		if !errors.Is(err, io.EOF) {
			r.err = fmt.Errorf("read %s: %w", r.name, err)
		}
		return Record{}, r.err
	}
	r.stats.Rows++
	rec := Record{Line: rw.line}
	if rw.reason != "" {
		r.stats.Rejected++
		rec.Err = &RowError{Line: rw.line, Unit: r.unit, Field: rw.field, Reason: rw.reason, Raw: rawText(rw.raw)}
		return rec, nil
	}
	r.stats.Good++
	rec.Doc, rec.Key = r.plan.document(r.vals)
	if r.plan.keepRaw {
		rec.Raw = bytes.Clone(bytes.TrimRight(rw.raw, "\r\n"))
	}
	return rec, nil
}

// All ranges over the records; a file-level error comes last, with a zero
// Record.
func (r *Reader) All() iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(rec, err) || err != nil {
				return
			}
		}
	}
}

// Unit names what a record's Line counts: "line" or "element" (a JSON
// array's); empty before the first record.
func (r *Reader) Unit() string { return r.unit }

// Stats returns the counts so far.
func (r *Reader) Stats() Stats { return r.stats }

// Format is the format the file is read as, once Next has been called.
func (r *Reader) Format() profile.Format { return r.format }

const bufSize = 64 << 10

func (r *Reader) open() error {
	r.count = &counter{r: r.in, max: r.plan.maxFileSize}
	br := bufio.NewReaderSize(r.count, bufSize)
	name := strings.ToLower(r.name)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	isGzip := bytes.Equal(magic, []byte{0x1f, 0x8b})
	body := br
	switch {
	case strings.HasSuffix(name, ".gz") && !isGzip && len(magic) > 0:
		return fmt.Errorf("%w: the name ends in .gz but the content is not gzip", ErrFormat)
	case isGzip && !r.plan.gzip:
		return fmt.Errorf("%w: the file is gzip-compressed and the profile does not allow gzip (batch.gzip)", ErrFormat)
	case isGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%w: bad gzip header: %v", ErrFormat, err)
		}
		body = bufio.NewReaderSize(&inflated{r: zr, compressed: r.count, max: r.plan.maxFileSize, ratio: r.plan.maxGzipRatio}, bufSize)
		name = strings.TrimSuffix(name, ".gz")
	}
	if b, _ := body.Peek(3); bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		if _, err := body.Discard(3); err != nil {
			return err
		}
	}
	first, err := firstNonSpace(body)
	if errors.Is(err, io.EOF) {
		return ErrEmpty
	} else if err != nil {
		return err
	}
	switch path.Ext(name) {
	case ".csv", ".tsv", ".txt":
		r.format = profile.FormatCSV
	case ".json":
		r.format = profile.FormatJSON
		if first == '{' {
			r.format = profile.FormatNDJSON
		}
	case ".ndjson", ".jsonl":
		r.format = profile.FormatNDJSON
	default:
		switch first {
		case '[':
			r.format = profile.FormatJSON
		case '{':
			r.format = profile.FormatNDJSON
		default:
			r.format = profile.FormatCSV
		}
	}
	if !r.plan.accepts(r.format) {
		return fmt.Errorf("%w: %s files are not accepted (batch.formats: %v)", ErrFormat, r.format, r.plan.formats)
	}
	l := &lines{br: body, max: r.plan.maxRecord}
	r.unit = "line"
	switch r.format {
	case profile.FormatJSON:
		r.unit = "element"
		r.src, err = newJSONArraySource(body, r.plan, r.plan.maxRecord)
	case profile.FormatNDJSON:
		r.src = &ndjsonSource{lines: l, plan: r.plan}
	default:
		r.src, err = newCSVSource(l, r.plan)
	}
	return err
}

func (pl *Plan) accepts(f profile.Format) bool {
	for _, a := range pl.formats {
		if a == f {
			return true
		}
	}
	return false
}

// firstNonSpace peeks at the first byte that is not white space; io.EOF
// means the input holds nothing else.
func firstNonSpace(br *bufio.Reader) (byte, error) {
	for n := 1; n <= br.Size(); n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			return 0, err
		}
		switch c := b[n-1]; c {
		case ' ', '\t', '\r', '\n':
		default:
			return c, nil
		}
	}
	return ' ', nil // a buffer full of white space: not empty
}

// counter counts the object's bytes and enforces batch.max_file_size while
// streaming, in case the object grew after its size was checked.
type counter struct {
	r   io.Reader
	n   int64
	max int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.max > 0 && c.n > c.max {
		return n, fmt.Errorf("%w (%s)", ErrTooLarge, profile.Size(c.max))
	}
	return n, err
}

// ratioGrace is how much a gzip file may inflate before its ratio is
// judged: a file's first block can be far more compressible than the rest.
const ratioGrace = 1 << 20

// inflated counts a gzip file's decompressed bytes and enforces
// batch.max_file_size on them, and batch.max_gzip_ratio against the
// compressed bytes read so far, so that a small file cannot expand into
// more than a large one may hold.
type inflated struct {
	r          io.Reader
	compressed *counter
	n          int64
	max, ratio int64
}

func (f *inflated) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	f.n += int64(n)
	if f.max > 0 && f.n > f.max {
		return n, fmt.Errorf("%w (%s), decompressed", ErrTooLarge, profile.Size(f.max))
	}
	if f.ratio > 0 && f.n > ratioGrace && f.n > f.ratio*f.compressed.n {
		return n, fmt.Errorf("%w: %d bytes from %d compressed, over %d times", ErrInflates, f.n, f.compressed.n, f.ratio)
	}
	return n, err
}

// Message reads one JSON object, such as a stream message's payload, into a
// Record. n numbers it in the RowError (e.g. its index in the batch).
func (pl *Plan) Message(n int, data []byte) Record {
	vals := make([]any, pl.slots())
	rec := Record{Line: n}
	obj, reason := decodeObject(bytes.TrimSpace(data))
	field := ""
	if reason == "" {
		field, reason = pl.fromObject(obj, vals)
	}
	if reason != "" {
		rec.Err = &RowError{Line: n, Unit: "message", Field: field, Reason: reason, Raw: rawText(data)}
		return rec
	}
	rec.Doc, rec.Key = pl.document(vals)
	if pl.keepRaw {
		rec.Raw = data
	}
	return rec
}
