package quality

import (
	"fmt"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Result is the quality of a file or window: its metadata and whether a
// fail-file rule failed it.
type Result struct {
	// Quality is the metadata; its Lineage is left for the caller, who
	// knows where the rows came from.
	Quality contract.Quality
	// Failed lists the fail-file rules the file broke, in rule order;
	// empty when it passed.
	Failed []Failure
	// Warned lists the file-level rules of severity warn that the file
	// broke (a freshness rule): counted, and worth a line in the report,
	// but the file is stored.
	Warned []Failure
}

// OK reports whether no fail-file rule failed the file.
func (r Result) OK() bool { return len(r.Failed) == 0 }

// Reason is every failure's reason, joined by "; ", "" when the file
// passed: the text for the file's report.
func (r Result) Reason() string {
	rs := make([]string, len(r.Failed))
	for i, f := range r.Failed {
		rs[i] = f.Reason
	}
	return strings.Join(rs, "; ")
}

// Failure is a file-level rule that a file broke.
type Failure struct {
	Rule string
	// Failures of Rows broke the rule (Share of them), over the rule's
	// MaxShare. For a freshness rule all four are 0.
	Failures, Rows  int64
	Share, MaxShare float64
	// Reason says why, for the tenant: "quality rule
	// one_row_per_country_day failed on 12 of 100 rows (12.0%), over its
	// max_share of 1.0%".
	Reason string
}

// Result returns the metadata of the rows checked so far and the
// fail-file verdict; now is the time freshness is measured from. A file
// with no rows checked fails no rule.
func (f *File) Result(now time.Time) Result {
	c := f.c
	q := contract.Quality{
		RowsChecked:     f.rows,
		RowsQuarantined: f.quarantined,
		Rules:           make(map[string]contract.RuleCount, len(c.checks)),
		Fields:          make(map[string]contract.FieldQuality, len(c.fields)),
	}
	var res Result
	for i, ch := range c.checks {
		rc := contract.RuleCount{Severity: string(ch.severity), Failures: f.failures[i]}
		if s := f.sets[i]; s != nil && s.full {
			rc.Note = fmt.Sprintf("checked against the first %d distinct keys only (the memory bound); later keys were not remembered", s.n)
		}
		switch {
		case ch.kind == checkFreshness && f.rows > 0:
			if reason, stale := f.stale(ch, now); stale {
				rc.Failures = 1
				if ch.severity == FailFile {
					res.Failed = append(res.Failed, Failure{Rule: ch.name, Reason: reason})
				} else {
					res.Warned = append(res.Warned, Failure{Rule: ch.name, Reason: reason})
				}
			}
		case ch.severity == FailFile && f.rows > 0:
			share := float64(f.failures[i]) / float64(f.rows)
			if f.failures[i] > 0 && share > ch.maxShare {
				res.Failed = append(res.Failed, Failure{
					Rule: ch.name, Failures: f.failures[i], Rows: f.rows, Share: share, MaxShare: ch.maxShare,
					Reason: fmt.Sprintf("quality rule %s failed on %d of %d rows (%s), over its max_share of %s",
						ch.name, f.failures[i], f.rows, percent(share), percent(ch.maxShare)),
				})
			}
		}
		q.Rules[ch.name] = rc
	}
	stored := f.rows - f.quarantined
	for i, fd := range c.fields {
		fq := contract.FieldQuality{Present: f.present[i]}
		if stored > 0 {
			fq.Completeness = float64(f.present[i]) / float64(stored)
		}
		if f.hasNum[i] {
			lo, hi := f.min[i], f.max[i]
			fq.Min, fq.Max = &lo, &hi
		}
		if f.hasTime[i] {
			lo, hi := f.minT[i], f.maxT[i]
			fq.MinTime, fq.MaxTime = &lo, &hi
		}
		if s := f.sketches[i]; s != nil {
			fq.Sketch = append(contract.Sketch(nil), s...)
			fq.Distinct = s.Estimate()
		}
		q.Fields[fd.name] = fq
	}
	res.Quality = q
	return res
}

// stale reports whether a freshness check fails: the newest value of its
// field among the stored rows is more than its max_age before now, or
// there is none.
func (f *File) stale(ch *check, now time.Time) (string, bool) {
	i := ch.field
	prefix := "quality rule " + ch.name + ": "
	if !f.hasTime[i] {
		return prefix + "no stored row has a " + ch.label + ", so the data cannot be shown to be fresh", true
	}
	newest := f.maxT[i]
	age := now.Sub(newest)
	if age <= ch.maxAge {
		return "", false
	}
	return fmt.Sprintf("%sthe newest %s is %s, %s old, older than its max_age of %s",
		prefix, ch.label, showTime(newest), showAge(age), Duration(ch.maxAge)), true
}

// showAge renders an age in days and hours, or as Go does when under a day.
func showAge(d time.Duration) string {
	if d < day {
		return d.Round(time.Second).String()
	}
	days, hours := d/day, (d%day)/time.Hour
	if hours == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, hours)
}

func percent(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }
