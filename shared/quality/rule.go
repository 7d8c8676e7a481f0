package quality

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Rule is one quality rule of a dataset, as written under its `quality:`
// key. It holds exactly one check: Field with Min and/or Max, Field with
// Required, Field with Allowed, Field with Regex, Unique, DateParts,
// Compare or Freshness. Fields are named by their stored names (after
// wrangling). The types decode with gopkg.in/yaml.v3 and with
// shared/profile's decoder alike (scalars through encoding.TextUnmarshaler,
// no pointers).
type Rule struct {
	// Name names the rule in violations, quarantined rows and metadata:
	// lower-case letters, digits, '_' and '-', unique in the dataset.
	Name string `yaml:"name"`
	// Field is the one field that min/max, required, allowed and regex
	// check.
	Field string `yaml:"field,omitempty"`
	// Min and Max bound a number field, inclusive.
	Min Number `yaml:"min,omitempty"`
	Max Number `yaml:"max,omitempty"`
	// Required asks for a value: not absent, not null, not "".
	Required bool `yaml:"required,omitempty"`
	// Allowed lists the values a string, number or bool field may hold.
	Allowed []string `yaml:"allowed,omitempty"`
	// Regex is an RE2 expression a string field's value must match
	// (anchor it with ^ and $ to match the whole value).
	Regex string `yaml:"regex,omitempty"`
	// Unique lists the fields whose values together appear at most once
	// in a file or stream window.
	Unique    []string  `yaml:"unique,omitempty"`
	DateParts DateParts `yaml:"date_parts,omitempty"`
	Compare   Compare   `yaml:"compare,omitempty"`
	Freshness Freshness `yaml:"freshness,omitempty"`
	// Severity is what breaking the rule does; reject when not given
	// (fail-file for a freshness rule).
	Severity Severity `yaml:"severity,omitempty"`
	// MaxShare is, for a fail-file rule, the share of rows (0 to 1,
	// exclusive) that may break it before the file fails; 0 when not
	// given: any row fails the file.
	MaxShare Number `yaml:"max_share,omitempty"`
}

// DateParts checks that the day, month and year fields agree with a date
// field (in UTC). Any of Day, Month, Year may be left out, not all.
type DateParts struct {
	Date  string `yaml:"date,omitempty"`
	Day   string `yaml:"day,omitempty"`
	Month string `yaml:"month,omitempty"`
	Year  string `yaml:"year,omitempty"`
}

// IsZero reports whether no part is set (yaml.v3's omitempty).
func (d DateParts) IsZero() bool { return d == DateParts{} }

// Compare checks Left Op Right on two fields of one row: numbers or dates
// with any of < <= == != >= >, strings or bools with == and != only.
type Compare struct {
	Left  string `yaml:"left,omitempty"`
	Op    string `yaml:"op,omitempty"`
	Right string `yaml:"right,omitempty"`
}

// IsZero reports whether no part is set (yaml.v3's omitempty).
func (c Compare) IsZero() bool { return c == Compare{} }

// Freshness checks, once per file or window, that the newest value of a
// date field among the stored rows is at most MaxAge before now.
type Freshness struct {
	Field  string   `yaml:"field,omitempty"`
	MaxAge Duration `yaml:"max_age,omitempty"`
}

// IsZero reports whether no part is set (yaml.v3's omitempty).
func (f Freshness) IsZero() bool { return f == Freshness{} }

// Severity is what breaking a rule does.
type Severity string

// The severities.
const (
	// Reject quarantines the row, with the rule's name; it is not stored.
	Reject Severity = "reject"
	// Warn stores the row and counts the failure.
	Warn Severity = "warn"
	// FailFile stores the row and counts the failure, and rejects the
	// whole file (or marks the window failed) when more than the rule's
	// MaxShare of its rows break the rule.
	FailFile Severity = "fail-file"
)

// UnmarshalText implements encoding.TextUnmarshaler, refusing unknown
// severities.
func (s *Severity) UnmarshalText(b []byte) error {
	switch v := Severity(b); v {
	case Reject, Warn, FailFile:
		*s = v
		return nil
	}
	return fmt.Errorf("%q is not a severity (want reject, warn or fail-file)", b)
}

// Kind is the type of a stored field, as the rules see it. The caller maps
// its schema's types onto these (int and float are numbers, date and
// datetime are times).
type Kind int

// The kinds.
const (
	KindString Kind = iota + 1
	KindNumber
	KindBool
	KindTime
)

func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindNumber:
		return "number"
	case KindBool:
		return "bool"
	case KindTime:
		return "date"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Number is a finite number that may be left out (min, max, max_share).
// It is a struct rather than a pointer so that shared/profile's decoder,
// which takes scalars through encoding.TextUnmarshaler, decodes it.
type Number struct {
	v   float64
	set bool
}

// N returns the number v, set.
func N(v float64) Number { return Number{v: v, set: true} }

// Get returns the number and whether it is set.
func (n Number) Get() (float64, bool) { return n.v, n.set }

// IsZero reports whether the number is left out (yaml.v3's omitempty).
func (n Number) IsZero() bool { return !n.set }

// String renders the number as written in a profile, "" when unset.
func (n Number) String() string {
	if !n.set {
		return ""
	}
	return strconv.FormatFloat(n.v, 'g', -1, 64)
}

// UnmarshalText implements encoding.TextUnmarshaler: a finite decimal.
func (n *Number) UnmarshalText(b []byte) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("%q is not a number", b)
	}
	*n = N(f)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (n Number) MarshalText() ([]byte, error) { return []byte(n.String()), nil }

// Duration is a non-negative time.Duration written as a Go duration
// ("72h", "90m") or with a leading count of days ("7d", "1d12h", "1.5d"):
// ages of data are counted in days. A bare number is refused, as in
// shared/profile.
type Duration time.Duration

const day = 24 * time.Hour

// ParseDuration parses a Duration.
func ParseDuration(s string) (Duration, error) {
	bad := fmt.Errorf("%q is not a duration (want e.g. 7d, 72h, 1d12h)", s)
	var d time.Duration
	rest, hasDays := s, false
	if days, after, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) || n > float64(math.MaxInt64/int64(day)) {
			return 0, bad
		}
		d, rest, hasDays = time.Duration(n*float64(day)), after, true
	}
	if rest != "" || !hasDays {
		more, err := time.ParseDuration(rest)
		if err != nil {
			return 0, bad
		}
		if more < 0 || d > math.MaxInt64-more {
			return 0, fmt.Errorf("%q is negative or too long", s)
		}
		d += more
	}
	return Duration(d), nil
}

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String renders whole days as "7d", anything else as Go does.
func (d Duration) String() string {
	if td := time.Duration(d); td > 0 && td%day == 0 {
		return strconv.FormatInt(int64(td/day), 10) + "d"
	}
	return time.Duration(d).String()
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
