package records

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// csvScanner splits CSV into records (RFC 4180: quoted fields may hold
// delimiters, doubled quotes and line breaks; CRLF or LF line ends; no lazy
// quotes). It is written here rather than taken from encoding/csv because
// the quarantine needs each bad row's raw text, and because one stray quote
// must not swallow the rest of the file: when a record that spans several
// lines turns out broken, only its first line is rejected and the lines
// after it are read again.
type csvScanner struct {
	lines *lines
	delim byte
	max   int

	rec    []byte // the record's raw bytes
	starts []int  // offset in rec of each physical line
	nums   []int  // number of each physical line
	field  []byte // unescaped field contents, back to back
	ends   []int  // end offset in field of each field
}

// scan reads the next record. It returns the record's first line and, for a
// broken record, the reason; io.EOF at the end of input.
func (s *csvScanner) scan() (int, string, error) {
	for {
		s.rec, s.starts, s.nums = s.rec[:0], s.starts[:0], s.nums[:0]
		s.field, s.ends = s.field[:0], s.ends[:0]
		rec, n, err := s.lines.appendLine(s.rec)
		s.rec = rec
		switch {
		case errors.Is(err, errLineTooLong):
			return n, fmt.Sprintf("line is longer than %d bytes", s.max), nil
		case err != nil:
			return n, "", err
		}
		s.starts, s.nums = append(s.starts, 0), append(s.nums, n)
		if len(trimEOL(s.rec)) == 0 {
			continue // blank lines are not records
		}
		reason, err := s.parse()
		return s.nums[0], reason, err
	}
}

const (
	fieldStart = iota
	unquoted
	quoted
	quoteSeen // a quote inside a quoted field: closing, or the first of ""
)

func (s *csvScanner) parse() (string, error) {
	state, col := fieldStart, 1
	for i := 0; ; i++ {
		if i == len(s.rec) {
			if state != quoted {
				s.ends = append(s.ends, len(s.field))
				return "", nil
			}
			// The line ended inside quotes: the field goes on.
			if len(s.rec) >= s.max {
				return s.broken(fmt.Sprintf("quoted field in column %d runs past %d bytes (unterminated quote?)", col, s.max)), nil
			}
			start := len(s.rec)
			rec, n, err := s.lines.appendLine(s.rec)
			s.rec = rec
			switch {
			case errors.Is(err, io.EOF):
				return s.broken(fmt.Sprintf("unterminated quoted field in column %d", col)), nil
			case errors.Is(err, errLineTooLong):
				return fmt.Sprintf("quoted field in column %d runs into a line longer than %d bytes", col, s.max), nil
			case err != nil:
				return "", err
			}
			s.starts, s.nums = append(s.starts, start), append(s.nums, n)
		}
		c := s.rec[i]
		eol := c == '\n' || c == '\r' && i+1 < len(s.rec) && s.rec[i+1] == '\n'
		switch state {
		case fieldStart, unquoted:
			switch {
			case c == '"' && state == fieldStart:
				state = quoted
			case c == '"':
				return s.broken(fmt.Sprintf(`bare quote in unquoted column %d (a field with quotes must be quoted, its quotes doubled: "a ""b"" c")`, col)), nil
			case c == s.delim:
				s.ends = append(s.ends, len(s.field))
				state, col = fieldStart, col+1
			case eol:
				s.ends = append(s.ends, len(s.field))
				return "", nil
			default:
				s.field = append(s.field, c)
				state = unquoted
			}
		case quoted:
			switch {
			case c == '"':
				state = quoteSeen
			case c == '\r' && eol:
				// CRLF inside a quoted field is stored as LF, as encoding/csv does.
			default:
				s.field = append(s.field, c)
			}
		case quoteSeen:
			switch {
			case c == '"':
				s.field = append(s.field, '"')
				state = quoted
			case c == s.delim:
				s.ends = append(s.ends, len(s.field))
				state, col = fieldStart, col+1
			case eol:
				s.ends = append(s.ends, len(s.field))
				return "", nil
			default:
				return s.broken(fmt.Sprintf("unexpected %q after the closing quote of column %d", c, col)), nil
			}
		}
	}
}

// broken rejects the record. When it spans several lines, only the first
// is rejected: its other lines are pushed back to be read as records again,
// so that a stray quote costs one row, not the rest of the file.
func (s *csvScanner) broken(reason string) string {
	if len(s.starts) > 1 {
		again := make([]pushed, 0, len(s.starts)-1)
		for k := 1; k < len(s.starts); k++ {
			end := len(s.rec)
			if k+1 < len(s.starts) {
				end = s.starts[k+1]
			}
			again = append(again, pushed{text: append([]byte(nil), s.rec[s.starts[k]:end]...), n: s.nums[k]})
		}
		s.lines.pushBack(again)
		s.rec = s.rec[:s.starts[1]]
		reason += fmt.Sprintf("; lines %d-%d are read again as rows", s.nums[1], s.nums[len(s.nums)-1])
	}
	return reason
}

// fields returns the record's fields as substrings of one string, so a row
// costs one allocation however many fields it has.
func (s *csvScanner) fields(dst []string) []string {
	all := string(s.field)
	prev := 0
	for _, e := range s.ends {
		dst = append(dst, all[prev:e])
		prev = e
	}
	return dst
}

// csvSource reads CSV rows into schema slots.
type csvSource struct {
	sc     csvScanner
	plan   *Plan
	slotOf []int // CSV column → schema slot, or -1 to ignore
	fs     []string
}

func newCSVSource(l *lines, pl *Plan) (*csvSource, error) {
	s := &csvSource{sc: csvScanner{lines: l, delim: pl.delim, max: l.max}, plan: pl}
	if !pl.header {
		for i := range pl.columns {
			s.slotOf = append(s.slotOf, i)
		}
		return s, nil
	}
	line, reason, err := s.sc.scan()
	switch {
	case errors.Is(err, io.EOF):
		return nil, ErrEmpty
	case err != nil:
		return nil, err
	case reason != "":
		return nil, fmt.Errorf("%w: cannot read the header row (line %d): %s", ErrHeader, line, reason)
	case !utf8.Valid(s.sc.rec):
		return nil, fmt.Errorf("%w: the header row is not valid UTF-8 (is this a CSV file?)", ErrHeader)
	}
	header := s.sc.fields(nil)
	if err := s.mapHeader(header); err != nil {
		return nil, err
	}
	return s, nil
}

// mapHeader matches the header to the schema, naming every missing and
// unexpected column.
func (s *csvSource) mapHeader(header []string) error {
	pl := s.plan
	seen := map[string]bool{}
	var unexpected, repeated []string
	for _, h := range header {
		h = strings.TrimSpace(h)
		slot, ok := pl.slot[h]
		switch {
		case seen[h]:
			repeated = append(repeated, h)
			slot = -1
		case !ok:
			if pl.rejectUnknown {
				unexpected = append(unexpected, h)
			}
			slot = -1
		}
		seen[h] = true
		s.slotOf = append(s.slotOf, slot)
	}
	var missing []string
	for _, c := range pl.columns {
		if c.required && !seen[c.name] {
			missing = append(missing, c.name)
		}
	}
	if len(missing)+len(unexpected)+len(repeated) == 0 {
		return nil
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing required columns "+quoteList(missing))
	}
	if len(unexpected) > 0 {
		parts = append(parts, "unexpected columns "+quoteList(unexpected))
	}
	if len(repeated) > 0 {
		parts = append(parts, "repeated columns "+quoteList(repeated))
	}
	// Names differing only in case are a common slip; say so.
	for _, m := range missing {
		for _, u := range unexpected {
			if strings.EqualFold(m, u) {
				parts = append(parts, fmt.Sprintf("%q is %q in the schema: names are case-sensitive", u, m))
			}
		}
	}
	if len(header) > 0 && !utf8.ValidString(strings.Join(header, "")) {
		parts = append(parts, "the header is not valid UTF-8 (is this a CSV file?)")
	}
	return fmt.Errorf("%w: %s", ErrHeader, strings.Join(parts, "; "))
}

func quoteList(names []string) string {
	names = append([]string(nil), names...)
	sort.Strings(names)
	const show = 12
	var b strings.Builder
	for i, n := range names {
		if i == show {
			fmt.Fprintf(&b, " and %d more", len(names)-show)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(n))
	}
	return b.String()
}

func (s *csvSource) next(vals []any) (row, error) {
	line, reason, err := s.sc.scan()
	if err != nil {
		return row{}, err
	}
	r := row{line: line, raw: s.sc.rec}
	if reason != "" {
		r.reason = reason
		return r, nil
	}
	if !utf8.Valid(s.sc.rec) {
		r.reason = invalidUTF8(s.sc.rec)
		return r, nil
	}
	s.fs = s.sc.fields(s.fs[:0])
	if len(s.fs) != len(s.slotOf) {
		r.reason = fmt.Sprintf("has %d fields, want %d", len(s.fs), len(s.slotOf))
		return r, nil
	}
	for col, slot := range s.slotOf {
		if slot < 0 {
			continue
		}
		c := &s.plan.columns[slot]
		v, fe := c.fromText(s.fs[col])
		if fe != nil {
			r.field, r.reason = fe.field, fe.reason
			return r, nil
		}
		vals[slot] = v
	}
	return r, nil
}

func invalidUTF8(b []byte) string {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return fmt.Sprintf("invalid UTF-8 at byte %d of the row (the file must be UTF-8)", i+1)
		}
		i += size
	}
	return "invalid UTF-8"
}
