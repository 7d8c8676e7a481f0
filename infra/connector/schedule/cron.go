package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// minEvery is the shortest @every interval.
const minEvery = time.Second

// schedule tells the next tick after a time.
type schedule interface {
	next(after time.Time) time.Time
}

// every ticks at the multiples of its interval (counted from Go's zero
// time, as time.Truncate does), so that every connector replica computes
// the same ticks; cron/v3's own @every counts from whenever it is asked,
// which replicas would not agree on.
type every time.Duration

func (e every) next(after time.Time) time.Time {
	d := time.Duration(e)
	return after.Truncate(d).Add(d)
}

// cronSchedule is a cron/v3 schedule, in UTC.
type cronSchedule struct{ cron.Schedule }

func (c cronSchedule) next(after time.Time) time.Time { return c.Next(after) }

// parser reads five fields (minute hour day-of-month month day-of-week)
// with names (JAN, MON-FRI) and the descriptors (@hourly, @daily, …).
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parseSchedule reads a schedule annotation: "@every <Go duration>" (at
// least 1s), a descriptor such as @hourly, or five cron fields with *,
// lists, ranges, steps and names, in UTC. Day-of-week 7 is Sunday too,
// as in Vixie cron. Each field is checked here first, so that an error
// names the field.
func parseSchedule(s string) (schedule, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil || d < minEvery {
			return nil, fmt.Errorf("schedule %q: want @every <duration of at least %s>, e.g. @every 10s", s, minEvery)
		}
		return every(d), nil
	}
	spec := s
	if !strings.HasPrefix(s, "@") {
		f := strings.Fields(s)
		if len(f) != 5 {
			return nil, fmt.Errorf("schedule %q: want five cron fields (minute hour day-of-month month day-of-week) or @every <duration>", s)
		}
		var errs []error
		for i, fd := range fields {
			if err := fd.check(f[i]); err != nil {
				errs = append(errs, fmt.Errorf("%s field %q: %w", fd.name, f[i], err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("schedule %q: %w", s, err)
		}
		f[4] = sundayAsZero(f[4])
		spec = strings.Join(f, " ")
	}
	cs, err := parser.Parse("CRON_TZ=UTC " + spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", s, err)
	}
	if cs.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("schedule %q never fires", s)
	}
	return cronSchedule{cs}, nil
}

// field is one cron field's bounds and names.
type field struct {
	name   string
	lo, hi int
	names  []string // names[i] stands for lo+i
}

var fields = []field{
	{name: "minute", lo: 0, hi: 59},
	{name: "hour", lo: 0, hi: 23},
	{name: "day-of-month", lo: 1, hi: 31},
	{name: "month", lo: 1, hi: 12, names: strings.Fields("jan feb mar apr may jun jul aug sep oct nov dec")},
	{name: "day-of-week", lo: 0, hi: 7, names: strings.Fields("sun mon tue wed thu fri sat")},
}

// check reads s: "*", "?", "*/n", "a", "a-b", "a-b/n", "a/n" (a and b
// numbers or names), or a comma-separated list of those.
func (fd field) check(s string) error {
	for part := range strings.SplitSeq(s, ",") {
		if _, err := fd.values(part); err != nil {
			return err
		}
	}
	return nil
}

// values lists the values one part of a field stands for.
func (fd field) values(part string) ([]int, error) {
	rng, stepStr, hasStep := strings.Cut(part, "/")
	step := 1
	if hasStep {
		n, err := strconv.Atoi(stepStr)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("step %q is not a positive number", stepStr)
		}
		step = n
	}
	from, to := fd.lo, fd.hi
	if rng != "*" && rng != "?" {
		a, b, isRange := strings.Cut(rng, "-")
		var err error
		if from, err = fd.value(a); err != nil {
			return nil, err
		}
		to = from
		if isRange {
			if to, err = fd.value(b); err != nil {
				return nil, err
			}
		} else if hasStep {
			to = fd.hi
		}
	}
	if from < fd.lo || to > fd.hi || from > to {
		return nil, fmt.Errorf("%d-%d is outside %d-%d", from, to, fd.lo, fd.hi)
	}
	var out []int
	for v := from; v <= to; v += step {
		out = append(out, v)
	}
	return out, nil
}

func (fd field) value(s string) (int, error) {
	for i, n := range fd.names {
		if strings.EqualFold(s, n) {
			return fd.lo + i, nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}

// sundayAsZero rewrites the parts of a checked day-of-week field that
// name 7 as lists of values with 7 as 0, which cron/v3 understands.
func sundayAsZero(dow string) string {
	fd := fields[4]
	parts := strings.Split(dow, ",")
	for i, part := range parts {
		vs, _ := fd.values(part)
		if len(vs) == 0 || vs[len(vs)-1] != 7 || strings.HasPrefix(part, "*") || strings.HasPrefix(part, "?") {
			continue
		}
		list := make([]string, len(vs))
		for j, v := range vs {
			list[j] = strconv.Itoa(v % 7)
		}
		parts[i] = strings.Join(list, ",")
	}
	return strings.Join(parts, ",")
}
