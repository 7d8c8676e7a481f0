package quality

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Option tunes Compile.
type Option func(*options)

type options struct {
	keys       []string
	uniqueKeys int
}

// KeyFields names the fields whose distinct values are estimated (the
// dataset's business key, typically), each on its own.
func KeyFields(names ...string) Option {
	return func(o *options) { o.keys = append(o.keys, names...) }
}

// UniqueKeys bounds how many keys each uniqueness rule remembers per file
// or window (DefaultUniqueKeys when not given); n < 1 counts as 1.
func UniqueKeys(n int) Option {
	return func(o *options) { o.uniqueKeys = max(n, 1) }
}

// Checker is a dataset's compiled rules. It is immutable and safe for
// concurrent use; each file or window gets its own File.
type Checker struct {
	fields     []field // sorted by name
	index      map[string]int
	checks     []*check
	uniqueKeys int
	freshness  bool // some check is a freshness check
}

type field struct {
	name string
	kind Kind
	key  bool
}

type checkKind int

const (
	checkRange checkKind = iota
	checkRequired
	checkAllowed
	checkRegex
	checkUnique
	checkDateParts
	checkCompare
	checkFreshness
)

// check is one compiled rule.
type check struct {
	name     string
	severity Severity
	maxShare float64
	kind     checkKind
	// field is the checked field's index: the field of a one-field check,
	// the date of date_parts, the left of compare, the freshness field.
	field int
	// label is Violation.Field.
	label string

	min, max       float64
	hasMin, hasMax bool

	allowed     map[string]bool // by canonical text: strings as is, numbers as showNumber, bools
	allowedText string          // for reasons

	re *regexp.Regexp

	unique []int

	day, month, year int // field indexes, -1 when not checked

	op    string
	right int

	maxAge time.Duration
}

var ruleName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// Compile checks rules against the dataset's stored fields (by stored
// name, with their kinds) and compiles them. Its error lists every
// problem, each naming the rule and what is wrong with it.
func Compile(rules []Rule, fields map[string]Kind, opts ...Option) (*Checker, error) {
	o := options{uniqueKeys: DefaultUniqueKeys}
	for _, opt := range opts {
		opt(&o)
	}
	c := &Checker{index: make(map[string]int, len(fields)), uniqueKeys: o.uniqueKeys}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for i, n := range names {
		k := fields[n]
		if k < KindString || k > KindTime {
			errs = append(errs, fmt.Errorf("quality: field %q has no kind (%s)", n, k))
		}
		c.fields = append(c.fields, field{name: n, kind: k})
		c.index[n] = i
	}
	for _, k := range o.keys {
		i, ok := c.index[k]
		if !ok {
			errs = append(errs, fmt.Errorf("quality: key field %q is not a stored field (%s)", k, c.known()))
			continue
		}
		c.fields[i].key = true
	}
	seen := map[string]int{}
	for i, r := range rules {
		label := r.Name
		if label == "" {
			label = "#" + strconv.Itoa(i+1)
		}
		ch, problems := c.compile(r)
		switch {
		case r.Name == "":
			problems = append([]string{"has no name"}, problems...)
		case !ruleName.MatchString(r.Name):
			problems = append([]string{"name must be 1 to 64 of a-z, 0-9, '_' and '-'"}, problems...)
		default:
			if first, dup := seen[r.Name]; dup {
				problems = append([]string{fmt.Sprintf("name is used by rule #%d too", first)}, problems...)
			}
			seen[r.Name] = i + 1
		}
		for _, p := range problems {
			errs = append(errs, fmt.Errorf("quality rule %s: %s", label, p))
		}
		if len(problems) == 0 {
			c.checks = append(c.checks, ch)
			c.freshness = c.freshness || ch.kind == checkFreshness
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// known lists the stored fields, for errors.
// FileLevel reports whether a rule judges the file as a whole (severity
// fail-file, or a freshness rule): such a file must be read through once
// before any of its rows is stored, so that a failed file stores nothing.
func (c *Checker) FileLevel() bool {
	for _, ch := range c.checks {
		if ch.severity == FailFile || ch.kind == checkFreshness {
			return true
		}
	}
	return false
}

func (c *Checker) known() string {
	if len(c.fields) == 0 {
		return "the dataset stores no fields"
	}
	const most = 20
	var b strings.Builder
	b.WriteString("the dataset stores ")
	for i, f := range c.fields {
		if i == most {
			fmt.Fprintf(&b, " and %d more", len(c.fields)-most)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.name)
	}
	return b.String()
}

// compile compiles one rule, returning what is wrong with it.
func (c *Checker) compile(r Rule) (*check, []string) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	// lookup finds a field by stored name; what says what the rule uses it
	// for, in the error.
	lookup := func(name, what string) (int, Kind, bool) {
		if name == "" {
			bad("%s names no field", what)
			return -1, 0, false
		}
		i, ok := c.index[name]
		if !ok {
			bad("%s: unknown field %q (%s)", what, name, c.known())
			return -1, 0, false
		}
		return i, c.fields[i].kind, true
	}

	var kinds []string
	if !r.Min.IsZero() || !r.Max.IsZero() {
		kinds = append(kinds, "min/max")
	}
	if r.Required {
		kinds = append(kinds, "required")
	}
	if r.Allowed != nil {
		kinds = append(kinds, "allowed")
	}
	if r.Regex != "" {
		kinds = append(kinds, "regex")
	}
	if r.Unique != nil {
		kinds = append(kinds, "unique")
	}
	if !r.DateParts.IsZero() {
		kinds = append(kinds, "date_parts")
	}
	if !r.Compare.IsZero() {
		kinds = append(kinds, "compare")
	}
	if !r.Freshness.IsZero() {
		kinds = append(kinds, "freshness")
	}
	switch len(kinds) {
	case 0:
		bad("has no check (want one of min/max, required, allowed, regex, unique, date_parts, compare, freshness)")
		return nil, problems
	case 1:
	default:
		bad("has %d checks (%s); write one rule per check", len(kinds), strings.Join(kinds, ", "))
		return nil, problems
	}

	ch := &check{name: r.Name, severity: r.Severity, field: -1, right: -1, day: -1, month: -1, year: -1}
	switch ch.severity {
	case "":
		ch.severity = Reject
		if !r.Freshness.IsZero() {
			ch.severity = FailFile
		}
	case Reject, Warn, FailFile:
	default:
		bad("severity %q is not one of reject, warn, fail-file", r.Severity)
	}
	if share, ok := r.MaxShare.Get(); ok {
		switch {
		case ch.severity != FailFile:
			bad("max_share goes only with severity fail-file")
		case !r.Freshness.IsZero():
			bad("max_share does not apply to freshness, which is checked once per file")
		case share < 0 || share >= 1:
			bad("max_share %s is not from 0 up to (not including) 1", r.MaxShare)
		default:
			ch.maxShare = share
		}
	}
	oneField := kinds[0] == "min/max" || kinds[0] == "required" || kinds[0] == "allowed" || kinds[0] == "regex"
	if r.Field != "" && !oneField {
		bad("field goes with min/max, required, allowed or regex, not with %s", kinds[0])
	}

	switch kinds[0] {
	case "min/max":
		ch.kind = checkRange
		if i, k, ok := lookup(r.Field, "min/max"); ok {
			ch.field, ch.label = i, r.Field
			if k != KindNumber {
				bad("min/max needs a number field; %s is a %s", r.Field, k)
			}
		}
		ch.min, ch.hasMin = r.Min.Get()
		ch.max, ch.hasMax = r.Max.Get()
		if ch.hasMin && ch.hasMax && ch.min > ch.max {
			bad("min %s is above max %s", r.Min, r.Max)
		}
	case "required":
		ch.kind = checkRequired
		if i, _, ok := lookup(r.Field, "required"); ok {
			ch.field, ch.label = i, r.Field
		}
	case "allowed":
		ch.kind = checkAllowed
		i, k, ok := lookup(r.Field, "allowed")
		if ok {
			ch.field, ch.label = i, r.Field
		}
		if len(r.Allowed) == 0 {
			bad("allowed lists no value")
			break
		}
		ch.allowed = make(map[string]bool, len(r.Allowed))
		for _, a := range r.Allowed {
			canon := a
			switch k {
			case KindNumber:
				f, err := strconv.ParseFloat(strings.TrimSpace(a), 64)
				if err != nil {
					bad("allowed value %q is not a number, and %s is a number field", a, r.Field)
					continue
				}
				canon = showNumber(f)
			case KindBool:
				b, err := strconv.ParseBool(a)
				if err != nil {
					bad("allowed value %q is not true or false, and %s is a bool field", a, r.Field)
					continue
				}
				canon = strconv.FormatBool(b)
			case KindTime:
				if ok {
					bad("allowed does not apply to date field %s (use freshness or compare)", r.Field)
				}
			}
			ch.allowed[canon] = true
		}
		ch.allowedText = listValues(r.Allowed, k == KindString)
	case "regex":
		ch.kind = checkRegex
		if i, k, ok := lookup(r.Field, "regex"); ok {
			ch.field, ch.label = i, r.Field
			if k != KindString {
				bad("regex needs a string field; %s is a %s", r.Field, k)
			}
		}
		re, err := regexp.Compile(r.Regex)
		if err != nil {
			bad("regex %q does not compile: %s", r.Regex, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		ch.re = re
	case "unique":
		ch.kind = checkUnique
		if len(r.Unique) == 0 {
			bad("unique lists no field")
		}
		dup := map[string]bool{}
		for _, f := range r.Unique {
			if dup[f] {
				bad("unique names %s twice", f)
				continue
			}
			dup[f] = true
			if i, _, ok := lookup(f, "unique"); ok {
				ch.unique = append(ch.unique, i)
			}
		}
		ch.label = strings.Join(r.Unique, ",")
		if len(ch.unique) > 0 {
			ch.field = ch.unique[0]
		}
	case "date_parts":
		ch.kind = checkDateParts
		d := r.DateParts
		if i, k, ok := lookup(d.Date, "date_parts.date"); ok {
			ch.field, ch.label = i, d.Date
			if k != KindTime {
				bad("date_parts.date needs a date field; %s is a %s", d.Date, k)
			}
		}
		if d.Day == "" && d.Month == "" && d.Year == "" {
			bad("date_parts names none of day, month, year")
		}
		part := func(name, what string) int {
			if name == "" {
				return -1
			}
			i, k, ok := lookup(name, what)
			if !ok {
				return -1
			}
			if k != KindNumber && k != KindString {
				bad("%s needs a number (or string) field; %s is a %s", what, name, k)
			}
			return i
		}
		ch.day = part(d.Day, "date_parts.day")
		ch.month = part(d.Month, "date_parts.month")
		ch.year = part(d.Year, "date_parts.year")
	case "compare":
		ch.kind = checkCompare
		cmp := r.Compare
		li, lk, lok := lookup(cmp.Left, "compare.left")
		ri, rk, rok := lookup(cmp.Right, "compare.right")
		ch.field, ch.right, ch.op, ch.label = li, ri, cmp.Op, cmp.Left
		ordering := false
		switch cmp.Op {
		case "<", "<=", ">=", ">":
			ordering = true
		case "==", "!=":
		default:
			bad("compare.op %q is not one of <, <=, ==, !=, >=, >", cmp.Op)
		}
		switch {
		case !lok || !rok:
		case cmp.Left == cmp.Right:
			bad("compare.left and compare.right are both %s", cmp.Left)
		case lk != rk:
			bad("compare: %s is a %s and %s a %s; compare fields of one kind", cmp.Left, lk, cmp.Right, rk)
		case ordering && lk != KindNumber && lk != KindTime:
			bad("compare.op %s needs number or date fields; %s and %s are %ss (use == or !=)", cmp.Op, cmp.Left, cmp.Right, lk)
		}
	case "freshness":
		ch.kind = checkFreshness
		fr := r.Freshness
		if i, k, ok := lookup(fr.Field, "freshness.field"); ok {
			ch.field, ch.label = i, fr.Field
			if k != KindTime {
				bad("freshness needs a date field; %s is a %s", fr.Field, k)
			}
		}
		if fr.MaxAge <= 0 {
			bad("freshness.max_age must be above zero (e.g. 72h or 7d)")
		}
		ch.maxAge = fr.MaxAge.D()
		if ch.severity == Reject {
			bad("freshness is checked once per file, so its severity is warn or fail-file, not reject")
		}
	}
	return ch, problems
}

// listValues renders allowed values for a reason, quoting strings.
func listValues(vals []string, quote bool) string {
	const most = 10
	if len(vals) > most {
		return fmt.Sprintf("the %d allowed values", len(vals))
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = v
		if quote {
			out[i] = strconv.Quote(v)
		}
	}
	return strings.Join(out, ", ")
}
