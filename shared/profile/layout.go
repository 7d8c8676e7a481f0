package profile

import (
	"fmt"
	"strings"
	"time"
)

// Layout is a compiled date layout such as "d/m/yyyy" or
// "yyyy-mm-dd HH:MI:SS". Its tokens are:
//
//	yyyy  four-digit year
//	mm    two-digit month        m   month, one or two digits
//	dd    two-digit day          d   day, one or two digits
//	HH    two-digit hour (0-23)  MI  two-digit minute  SS  two-digit second
//
// Any other character must be punctuation or a space and is matched as is.
// The single word "rfc3339" stands for RFC 3339 timestamps with an offset.
// Layouts without an offset are read as UTC.
//
// The platform has its own tokens rather than Go's reference time because
// tenants write profiles, and "d/m/yyyy" is what they already know.
type Layout struct {
	text    string
	items   []layoutItem
	rfc3339 bool
}

type layoutPart int

const (
	partLiteral layoutPart = iota
	partYear
	partMonth
	partDay
	partHour
	partMinute
	partSecond
)

type layoutItem struct {
	part     layoutPart
	lit      byte
	min, max int // digits, for numeric parts
}

// ISODate is the layout dates are stored in.
const ISODate = "yyyy-mm-dd"

// ParseLayout compiles a layout.
func ParseLayout(s string) (Layout, error) {
	if s == "rfc3339" {
		return Layout{text: s, rfc3339: true}, nil
	}
	l := Layout{text: s}
	seen := map[layoutPart]bool{}
	tokens := [...]struct {
		tok      string
		part     layoutPart
		min, max int
	}{
		{"yyyy", partYear, 4, 4}, {"mm", partMonth, 2, 2}, {"m", partMonth, 1, 2},
		{"dd", partDay, 2, 2}, {"d", partDay, 1, 2}, {"HH", partHour, 2, 2},
		{"MI", partMinute, 2, 2}, {"SS", partSecond, 2, 2},
	}
next:
	for i := 0; i < len(s); {
		for _, t := range tokens {
			if strings.HasPrefix(s[i:], t.tok) {
				if seen[t.part] {
					return Layout{}, fmt.Errorf("layout %q has %q twice", s, t.tok)
				}
				seen[t.part] = true
				l.items = append(l.items, layoutItem{part: t.part, min: t.min, max: t.max})
				i += len(t.tok)
				continue next
			}
		}
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c > '~' || c < ' ' {
			return Layout{}, fmt.Errorf("layout %q: %q at byte %d is not a token (want yyyy, mm, m, dd, d, HH, MI, SS, or punctuation)", s, c, i)
		}
		l.items = append(l.items, layoutItem{part: partLiteral, lit: c})
		i++
	}
	// Two numeric parts side by side ("dm") could not be told apart when
	// one has a variable width.
	for i := 1; i < len(l.items); i++ {
		a, b := l.items[i-1], l.items[i]
		if a.part != partLiteral && b.part != partLiteral && (a.min != a.max || b.min != b.max) {
			return Layout{}, fmt.Errorf("layout %q: a one-or-two-digit part needs a separator next to it", s)
		}
	}
	if !seen[partYear] || !seen[partMonth] || !seen[partDay] {
		return Layout{}, fmt.Errorf("layout %q needs a year (yyyy), a month (mm or m) and a day (dd or d)", s)
	}
	if seen[partMinute] && !seen[partHour] || seen[partSecond] && !seen[partMinute] {
		return Layout{}, fmt.Errorf("layout %q: minutes need hours (HH) and seconds need minutes (MI)", s)
	}
	return l, nil
}

// String returns the layout as written.
func (l Layout) String() string { return l.text }

// Parse reads v in the layout. It reports false when v does not match or
// names a day that does not exist (31/02/2020).
func (l Layout) Parse(v string) (time.Time, bool) {
	if l.rfc3339 {
		t, err := time.Parse(time.RFC3339Nano, v)
		return t, err == nil
	}
	var n [partSecond + 1]int
	i := 0
	for _, it := range l.items {
		if it.part == partLiteral {
			if i >= len(v) || v[i] != it.lit {
				return time.Time{}, false
			}
			i++
			continue
		}
		val, digits := 0, 0
		for digits < it.max && i < len(v) && v[i] >= '0' && v[i] <= '9' {
			val = val*10 + int(v[i]-'0')
			i++
			digits++
		}
		if digits < it.min {
			return time.Time{}, false
		}
		n[it.part] = val
	}
	if i != len(v) {
		return time.Time{}, false
	}
	y, mo, d, h, mi, s := n[partYear], n[partMonth], n[partDay], n[partHour], n[partMinute], n[partSecond]
	if mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC)
	if t.Day() != d { // time.Date normalises 31/02 to 2/03
		return time.Time{}, false
	}
	return t, true
}
