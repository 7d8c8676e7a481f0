package quality

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Violation is one rule a row broke.
type Violation struct {
	Rule     string
	Severity Severity
	// Field is the field checked: the one field of a one-field check, the
	// date of date_parts, the left of compare, the unique fields joined
	// by commas.
	Field string
	// Reason says, for the tenant, what is wrong: "quality rule
	// cases_not_negative: cases is -3, below the minimum 0".
	Reason string
}

// Doc is a stored document as the rules read it: its fields in order.
// The package takes no database driver, so that what only reads profiles
// (the connector) links none; shared/dataset adapts bson.D.
type Doc interface {
	Len() int
	Field(i int) (key string, value any)
}

// File checks the rows of one file or stream window and gathers their
// metadata. It is not safe for concurrent use.
type File struct {
	c *Checker

	// The current row's value of each field, by field index, and whether
	// the row has the field at all (to tell absent from null).
	vals []any
	has  []bool

	rows, quarantined int64
	failures          []int64 // by check
	present           []int64 // by field
	min, max          []float64
	hasNum            []bool
	minT, maxT        []time.Time
	hasTime           []bool
	sketches          []contract.Sketch // by field, nil when not a key field

	sets   []*keySet // by check, nil when not a uniqueness check
	hashes []uint64  // by check, this row's key hash
	buf    []byte
}

// NewFile starts checking a file or window.
func (c *Checker) NewFile() *File {
	nf, nc := len(c.fields), len(c.checks)
	f := &File{
		c:        c,
		vals:     make([]any, nf),
		has:      make([]bool, nf),
		failures: make([]int64, nc),
		present:  make([]int64, nf),
		min:      make([]float64, nf),
		max:      make([]float64, nf),
		hasNum:   make([]bool, nf),
		minT:     make([]time.Time, nf),
		maxT:     make([]time.Time, nf),
		hasTime:  make([]bool, nf),
		sketches: make([]contract.Sketch, nf),
		sets:     make([]*keySet, nc),
		hashes:   make([]uint64, nc),
	}
	for i, fd := range c.fields {
		if fd.key {
			f.sketches[i] = contract.NewSketch()
		}
	}
	for i, ch := range c.checks {
		if ch.kind == checkUnique {
			f.sets[i] = newKeySet(c.uniqueKeys)
		}
	}
	return f
}

// Check runs the row rules on one stored document, line being where it
// came from (the file's line or record number; the window's message
// number), and returns the rules it broke, nil when none. The row is
// quarantined if one of them has severity reject; it then counts in the
// rows checked and the failures per rule but not in the field metadata,
// and its key does not count for uniqueness (it is not stored). Every
// check but required passes on a missing value (absent, null or ""):
// pair a rule with a required rule to ask for the value.
func (f *File) Check(line int, doc Doc) []Violation { return f.check(line, doc, false) }

// Quarantine checks a row that is quarantined whatever the rules say (a
// tenant's own checker rejected it): its failures count like Check's,
// but it is counted quarantined, left out of the field metadata and not
// remembered for uniqueness.
func (f *File) Quarantine(line int, doc Doc) []Violation { return f.check(line, doc, true) }

func (f *File) check(line int, doc Doc, quarantined bool) []Violation {
	c := f.c
	clear(f.vals)
	clear(f.has)
	for k := range doc.Len() {
		key, value := doc.Field(k)
		// The first of repeated keys, as a document read back would hold.
		if i, ok := c.index[key]; ok && !f.has[i] {
			f.vals[i], f.has[i] = value, true
		}
	}
	f.rows++
	var out []Violation
	rejected := quarantined
	fail := func(i int, ch *check, reason string) {
		f.failures[i]++
		if ch.severity == Reject {
			rejected = true
		}
		out = append(out, Violation{Rule: ch.name, Severity: ch.severity, Field: ch.label, Reason: "quality rule " + ch.name + ": " + reason})
	}
	for i, ch := range c.checks {
		switch ch.kind {
		case checkUnique, checkFreshness:
			continue
		}
		if reason, ok := f.eval(ch); !ok {
			fail(i, ch, reason)
		}
	}
	// Uniqueness last: a row quarantined by any rule is not stored, so its
	// key must not make a later row a repeat.
	for i, ch := range c.checks {
		if ch.kind != checkUnique {
			continue
		}
		f.hashes[i] = 0
		h, ok := f.keyHash(ch)
		if !ok {
			continue
		}
		f.hashes[i] = h
		if first, dup := f.sets[i].lookup(h); dup {
			fail(i, ch, f.repeats(ch, first))
		}
	}
	if rejected {
		f.quarantined++
		return out
	}
	for i, ch := range c.checks {
		if ch.kind == checkUnique && f.hashes[i] != 0 {
			if _, dup := f.sets[i].lookup(f.hashes[i]); !dup {
				f.sets[i].add(f.hashes[i], line)
			}
		}
	}
	f.measure()
	return out
}

// eval runs a row check, returning the reason when the row breaks it.
func (f *File) eval(ch *check) (string, bool) {
	v := f.vals[ch.field]
	name := ch.label
	switch ch.kind {
	case checkRequired:
		if missing(v) {
			return name + " is " + absence(v, f.has[ch.field]), false
		}
	case checkRange:
		if missing(v) {
			break
		}
		x, ok := asNumber(v)
		switch {
		case !ok:
			return fmt.Sprintf("%s is %s, not a number", name, show(v)), false
		case math.IsNaN(x):
			return name + " is NaN, not a number", false
		case ch.hasMin && x < ch.min:
			return fmt.Sprintf("%s is %s, below the minimum %s", name, show(v), showNumber(ch.min)), false
		case ch.hasMax && x > ch.max:
			return fmt.Sprintf("%s is %s, above the maximum %s", name, show(v), showNumber(ch.max)), false
		}
	case checkAllowed:
		if missing(v) {
			break
		}
		// Canonical text by the field's kind, as Compile wrote the list:
		// a string "3" is not the number 3.
		canon, ok := "", false
		switch f.c.fields[ch.field].kind {
		case KindString:
			canon, ok = v.(string)
		case KindBool:
			var b bool
			if b, ok = v.(bool); ok {
				canon = strconv.FormatBool(b)
			}
		case KindNumber:
			var n float64
			if n, ok = asNumber(v); ok {
				canon = showNumber(n)
			}
		}
		if !ok || !ch.allowed[canon] {
			return fmt.Sprintf("%s is %s, not one of %s", name, show(v), ch.allowedText), false
		}
	case checkRegex:
		if missing(v) {
			break
		}
		s, ok := v.(string)
		if !ok {
			return fmt.Sprintf("%s is %s, not a string", name, show(v)), false
		}
		if !ch.re.MatchString(s) {
			return fmt.Sprintf("%s is %s, which does not match %s", name, show(v), ch.re), false
		}
	case checkDateParts:
		if missing(v) {
			break
		}
		t, ok := asTime(v)
		if !ok {
			return fmt.Sprintf("%s is %s, not a date", name, show(v)), false
		}
		t = t.UTC()
		var wrong []string
		for _, p := range []struct {
			idx  int
			want int
		}{{ch.day, t.Day()}, {ch.month, int(t.Month())}, {ch.year, t.Year()}} {
			if p.idx < 0 || missing(f.vals[p.idx]) {
				continue
			}
			pv := f.vals[p.idx]
			if got, ok := asWhole(pv); !ok || got != p.want {
				wrong = append(wrong, fmt.Sprintf("%s is %s", f.c.fields[p.idx].name, show(pv)))
			}
		}
		if len(wrong) > 0 {
			return fmt.Sprintf("%s is %s but %s", name, showTime(t), strings.Join(wrong, ", ")), false
		}
	case checkCompare:
		l, r := v, f.vals[ch.right]
		if missing(l) || missing(r) {
			break
		}
		holds, ok := compare(l, r, ch.op, f.c.fields[ch.field].kind)
		right := f.c.fields[ch.right].name
		if !ok {
			return fmt.Sprintf("%s (%s) and %s (%s) cannot be compared", name, show(l), right, show(r)), false
		}
		if !holds {
			return fmt.Sprintf("%s (%s) is not %s %s (%s)", name, show(l), ch.op, right, show(r)), false
		}
	}
	return "", true
}

func absence(v any, has bool) string {
	switch {
	case !has:
		return "missing"
	case v == "":
		return "empty"
	}
	return "null"
}

// asWhole reads a date part: a whole number, or a string holding one.
func asWhole(v any) (int, bool) {
	if s, ok := v.(string); ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		return n, err == nil
	}
	x, ok := asNumber(v)
	if !ok || x != math.Trunc(x) || math.Abs(x) > 1e9 {
		return 0, false
	}
	return int(x), true
}

// compare evaluates l op r for fields of kind k; ok is false when the
// values are not of that kind.
func compare(l, r any, op string, k Kind) (holds, ok bool) {
	var c int
	switch k {
	case KindNumber:
		a, aok := asNumber(l)
		b, bok := asNumber(r)
		if !aok || !bok || math.IsNaN(a) || math.IsNaN(b) {
			return false, false
		}
		c = cmpOrder(a < b, a > b)
	case KindTime:
		a, aok := asTime(l)
		b, bok := asTime(r)
		if !aok || !bok {
			return false, false
		}
		c = a.Compare(b)
	case KindString:
		a, aok := l.(string)
		b, bok := r.(string)
		if !aok || !bok {
			return false, false
		}
		c = strings.Compare(a, b)
	case KindBool:
		a, aok := l.(bool)
		b, bok := r.(bool)
		if !aok || !bok {
			return false, false
		}
		c = cmpOrder(!a && b, a && !b)
	}
	switch op {
	case "<":
		return c < 0, true
	case "<=":
		return c <= 0, true
	case "==":
		return c == 0, true
	case "!=":
		return c != 0, true
	case ">=":
		return c >= 0, true
	case ">":
		return c > 0, true
	}
	return false, false
}

func cmpOrder(less, more bool) int {
	switch {
	case less:
		return -1
	case more:
		return 1
	}
	return 0
}

// keyHash hashes a uniqueness check's key; ok is false when a part is
// missing (such rows are not checked, as SQL's UNIQUE ignores nulls).
func (f *File) keyHash(ch *check) (uint64, bool) {
	f.buf = f.buf[:0]
	for _, i := range ch.unique {
		v := f.vals[i]
		if missing(v) {
			return 0, false
		}
		f.buf = appendKey(f.buf, v, f.c.fields[i].kind)
	}
	// Never 0, which marks "no key" in f.hashes.
	return nonZero(contract.SketchHash(f.buf)), true
}

func (f *File) repeats(ch *check, first int) string {
	parts := make([]string, len(ch.unique))
	for j, i := range ch.unique {
		parts[j] = f.c.fields[i].name + " " + show(f.vals[i])
	}
	return fmt.Sprintf("%s repeats line %d", strings.Join(parts, ", "), first)
}

// measure adds a stored row to the field metadata.
func (f *File) measure() {
	for i, fd := range f.c.fields {
		v := f.vals[i]
		if missing(v) {
			continue
		}
		f.present[i]++
		switch fd.kind {
		case KindNumber:
			if x, ok := asNumber(v); ok && !math.IsNaN(x) && !math.IsInf(x, 0) {
				if !f.hasNum[i] || x < f.min[i] {
					f.min[i] = x
				}
				if !f.hasNum[i] || x > f.max[i] {
					f.max[i] = x
				}
				f.hasNum[i] = true
			}
		case KindTime:
			if t, ok := asTime(v); ok {
				if !f.hasTime[i] || t.Before(f.minT[i]) {
					f.minT[i] = t
				}
				if !f.hasTime[i] || t.After(f.maxT[i]) {
					f.maxT[i] = t
				}
				f.hasTime[i] = true
			}
		}
		if s := f.sketches[i]; s != nil {
			f.buf = appendKey(f.buf[:0], v, fd.kind)
			s.Add(f.buf)
		}
	}
}
