package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// jsonArraySource reads a JSON array of objects element by element with
// json.Decoder, so only one element is in memory at a time. A syntax error
// ends the file (a JSON decoder cannot resynchronise), after the elements
// before it have been yielded.
type jsonArraySource struct {
	dec  *json.Decoder
	in   *elementBound
	plan *Plan
	n    int
	raw  json.RawMessage
}

// elementBound stops the decoder's reading once it has read more than
// max (plus its read-ahead) past the start of the element it decodes: the
// decoder holds an element whole, so without it one huge element would
// take all the memory there is.
type elementBound struct {
	r           io.Reader
	read, start int64
	max         int64
}

func (b *elementBound) Read(p []byte) (int, error) {
	room := b.max - (b.read - b.start)
	if room <= 0 {
		return 0, errElementTooLarge
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	return n, err
}

var errElementTooLarge = errors.New("element too large")

func newJSONArraySource(r io.Reader, pl *Plan, maxElement int) (*jsonArraySource, error) {
	// The decoder reads ahead of the element it decodes, at most its
	// buffer, which grows to about twice the largest element it held: an
	// element over maxElement but within this bound is read whole and
	// becomes a bad row; past it the file ends.
	in := &elementBound{r: r, max: 4*int64(maxElement) + bufSize}
	dec := json.NewDecoder(in)
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("%w: want a JSON array of objects, found %v", ErrFormat, tok)
	}
	return &jsonArraySource{dec: dec, in: in, plan: pl}, nil
}

func (s *jsonArraySource) next(vals []any) (row, error) {
	s.in.start = s.dec.InputOffset()
	if !s.dec.More() {
		if _, err := s.dec.Token(); err != nil {
			return row{}, s.syntax(err)
		}
		if tok, err := s.dec.Token(); !errors.Is(err, io.EOF) {
			return row{}, fmt.Errorf("%w: unexpected %v after the closing ] of the array", ErrSyntax, tok)
		}
		return row{}, io.EOF
	}
	s.n++
	s.raw = s.raw[:0]
	if err := s.dec.Decode(&s.raw); err != nil {
		if errors.Is(err, errElementTooLarge) {
			return row{}, fmt.Errorf("%w (%s): element %d; a JSON array cannot be read past it",
				ErrRecordTooLarge, profile.Size(s.plan.maxRecord), s.n)
		}
		return row{}, s.syntax(err)
	}
	r := row{line: s.n, raw: s.raw}
	if len(s.raw) > s.plan.maxRecord {
		r.reason = fmt.Sprintf("element is longer than %d bytes (batch.max_record_size)", s.plan.maxRecord)
		return r, nil
	}
	obj, reason := decodeObject(s.raw)
	if reason != "" {
		r.reason = reason
		return r, nil
	}
	r.field, r.reason = s.plan.fromObject(obj, vals)
	return r, nil
}

func (s *jsonArraySource) syntax(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%w in element %d, at byte %d: %v", ErrSyntax, s.n, se.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Errorf("%w: the array ends early, in or after element %d (truncated file?)", ErrSyntax, s.n)
	}
	return err // a read error
}

// ndjsonSource reads one JSON object per line; a bad line is a bad row.
type ndjsonSource struct {
	lines *lines
	plan  *Plan
	buf   []byte
}

func (s *ndjsonSource) next(vals []any) (row, error) {
	for {
		buf, n, err := s.lines.appendLine(s.buf[:0])
		s.buf = buf
		switch {
		case errors.Is(err, errLineTooLong):
			return row{line: n, raw: s.buf, reason: fmt.Sprintf("line is longer than %d bytes", s.lines.max)}, nil
		case err != nil:
			return row{}, err
		}
		text := bytes.TrimSpace(s.buf)
		if len(text) == 0 {
			continue
		}
		r := row{line: n, raw: text}
		if !utf8.Valid(text) {
			r.reason = invalidUTF8(text)
			return r, nil
		}
		obj, reason := decodeObject(text)
		if reason != "" {
			r.reason = reason
			return r, nil
		}
		r.field, r.reason = s.plan.fromObject(obj, vals)
		return r, nil
	}
}

// decodeObject decodes one JSON object, keeping numbers exact.
func decodeObject(b []byte) (map[string]any, string) {
	if !utf8.Valid(b) {
		// encoding/json would quietly turn bad bytes into U+FFFD.
		return nil, invalidUTF8(b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, "not valid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, "more than one JSON value"
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Sprintf("is %s, not a JSON object", jsonKind(v))
	}
	return obj, ""
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a bool"
	}
	return "null"
}

// fromObject coerces an object's fields into vals, in schema order so that
// the reason for a row with several bad fields does not depend on map order.
func (pl *Plan) fromObject(obj map[string]any, vals []any) (field, reason string) {
	known := 0
	for i := range pl.columns {
		c := &pl.columns[i]
		v, ok := obj[c.name]
		if !ok {
			if c.required {
				return c.name, "is required but missing"
			}
			continue
		}
		known++
		val, fe := c.fromJSON(v)
		if fe != nil {
			return fe.field, fe.reason
		}
		vals[i] = val
	}
	if pl.rejectUnknown && known < len(obj) {
		var extra []string
		for k := range obj {
			if _, ok := pl.slot[k]; !ok {
				extra = append(extra, k)
			}
		}
		sort.Strings(extra)
		return "", "unexpected fields " + quoteList(extra)
	}
	return "", ""
}
