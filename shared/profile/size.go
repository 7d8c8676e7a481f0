package profile

import (
	"fmt"
	"math"
	"strings"
)

// Size is a number of bytes, written in profiles as a human string such as
// "4GB", "512MiB" or "10 KiB". Decimal units (kB, KB, MB, GB, TB, PB) are
// powers of 1000 and binary units (KiB ... PiB) powers of 1024, so "4GB" is
// exactly the seed system's 4 000 000 000 bytes.
type Size int64

type sizeUnit struct {
	name string
	mult int64
}

// sizeUnits lists the accepted units. It is a function, not a variable, so
// that no caller can change the table.
func sizeUnits() [12]sizeUnit {
	return [...]sizeUnit{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"PiB", 1 << 50},
		{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"PB", 1e15},
		{"B", 1},
	}
}

// ParseSize parses a size such as "4GB", "512MiB", "10 KiB", "1.5GB" or a
// bare number of bytes ("1024"). Anything else — an unknown unit, a sign,
// more than one space, a fraction of a byte — is an error.
func ParseSize(s string) (Size, error) {
	bad := fmt.Errorf("%q is not a size (want e.g. 4GB, 512MiB)", s)
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%q is negative: sizes are zero or more bytes", s)
	}
	num, unit := s, ""
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != '.' {
			num, unit = s[:i], s[i:]
			break
		}
	}
	unit = strings.TrimPrefix(unit, " ")
	mult := int64(-1)
	if unit == "" {
		mult = 1
	}
	for _, u := range sizeUnits() {
		if unit == u.name {
			mult = u.mult
		}
	}
	if mult < 0 || num == "" {
		return 0, bad
	}
	whole, frac, hasFrac := strings.Cut(num, ".")
	if whole == "" || (hasFrac && (frac == "" || strings.Contains(frac, "."))) {
		return 0, bad
	}
	var n int64
	for _, c := range whole {
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, fmt.Errorf("%q is too large", s)
		}
		n = n*10 + d
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	total := n * mult
	// The fraction is applied with integer arithmetic so that "1.5GB" is
	// exactly 1 500 000 000, and a fraction of a byte is refused.
	if hasFrac {
		num, den := int64(0), int64(1)
		for _, c := range frac {
			if den > math.MaxInt64/10/mult {
				return 0, bad
			}
			num, den = num*10+int64(c-'0'), den*10
		}
		if (num*mult)%den != 0 {
			return 0, fmt.Errorf("%q is not a whole number of bytes", s)
		}
		add := num * mult / den
		if total > math.MaxInt64-add {
			return 0, fmt.Errorf("%q is too large", s)
		}
		total += add
	}
	return Size(total), nil
}

// String renders the size in the largest unit that divides it exactly, so
// that a size read from a profile prints the way it was written.
func (s Size) String() string {
	if s == 0 {
		return "0B"
	}
	best, bestMult := "B", int64(1)
	for _, u := range sizeUnits() {
		if u.mult > bestMult && int64(s)%u.mult == 0 {
			best, bestMult = u.name, u.mult
		}
	}
	return fmt.Sprintf("%d%s", int64(s)/bestMult, best)
}

// UnmarshalText implements encoding.TextUnmarshaler (and so YAML and JSON
// decoding of sizes).
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
