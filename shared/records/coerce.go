package records

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// fieldError is a value that does not fit its field; the reader turns it
// into a RowError with the row's line.
type fieldError struct {
	field, reason string
}

func (c *column) fail(format string, args ...any) *fieldError {
	return &fieldError{field: c.name, reason: fmt.Sprintf(format, args...)}
}

func (c *column) missing(what string) (any, *fieldError) {
	if c.required {
		return nil, c.fail("is required but %s", what)
	}
	return nil, nil
}

// fromText coerces a value written as text (a CSV field, or a JSON string).
// Empty means null: CSV cannot tell the two apart.
func (c *column) fromText(s string) (any, *fieldError) {
	if c.typ == profile.TypeString {
		if s == "" {
			return c.missing("empty")
		}
		return s, nil
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return c.missing("empty")
	}
	switch c.typ {
	case profile.TypeInt:
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return nil, c.fail("%s is out of range for an int", quote(s))
			}
			return nil, c.fail("%s is not an int", quote(s))
		}
		return n, nil
	case profile.TypeFloat:
		f, err := strconv.ParseFloat(t, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, c.fail("%s is not a finite float", quote(s))
		}
		return f, nil
	case profile.TypeBool:
		b, err := strconv.ParseBool(t)
		if err != nil {
			return nil, c.fail("%s is not a bool (want true or false)", quote(s))
		}
		return b, nil
	case profile.TypeDate, profile.TypeDateString, profile.TypeDatetime:
		for _, l := range c.layouts {
			if tm, ok := l.Parse(t); ok {
				switch c.typ {
				case profile.TypeDateString:
					return tm.Format("2006-01-02"), nil
				case profile.TypeDate:
					// The day alone: a layout with a time of day still
					// names that day.
					y, m, d := tm.UTC().Date()
					return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
				}
				return tm.UTC(), nil
			}
		}
		return nil, c.fail("%s is not a %s in layout %s", quote(s), c.typ, c.layoutNames)
	}
	return nil, c.fail("has unknown type %q", c.typ)
}

// fromJSON coerces a value decoded from JSON with UseNumber. Strings are
// read as text, so "42" is a fine int; a number is not a string, though:
// silently turning 42 into "42" would hide a producer's mistake.
func (c *column) fromJSON(v any) (any, *fieldError) {
	switch v := v.(type) {
	case nil:
		return c.missing("null")
	case string:
		return c.fromText(v)
	case json.Number:
		switch c.typ {
		case profile.TypeInt:
			if n, err := v.Int64(); err == nil {
				return n, nil
			}
			// 3.0 and 1e3 are whole numbers too.
			f, err := v.Float64()
			if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return nil, c.fail("%s is not an int", v)
			}
			return int64(f), nil
		case profile.TypeFloat:
			f, err := v.Float64()
			if err != nil || math.IsInf(f, 0) {
				return nil, c.fail("%s is not a finite float", v)
			}
			return f, nil
		}
		return nil, c.fail("is a number (%s), not a %s", v, c.typ)
	case bool:
		if c.typ == profile.TypeBool {
			return v, nil
		}
		return nil, c.fail("is a bool, not a %s", c.typ)
	case map[string]any:
		return nil, c.fail("is an object, not a %s", c.typ)
	case []any:
		return nil, c.fail("is an array, not a %s", c.typ)
	}
	return nil, c.fail("has an unexpected JSON value %T", v)
}
