package checker

import (
	"fmt"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Rejection is a row a checker's reject rule quarantines.
type Rejection struct {
	Rule, Reason string
}

// Rejections are the rows an answer quarantines, by line, with every
// reject rule each broke, in the answer's order. Rows of warn and
// fail-file rules are stored: they are not here.
func Rejections(ans contract.CheckResponse) map[int][]Rejection {
	out := map[int][]Rejection{}
	for _, r := range ans.Rules {
		if r.Severity != contract.CheckReject {
			continue
		}
		for _, f := range r.Failures {
			out[f.Line] = append(out[f.Line], Rejection{Rule: r.Name, Reason: f.Reason})
		}
	}
	return out
}

// Tally adds up a checker's answers over the requests of one file (a
// sample is one request; a whole file larger than contract.CheckMaxRows
// takes several), and judges its fail-file rules over the rows sent, as
// the platform judges its own rules over the rows checked. The zero
// value is empty and ready.
type Tally struct {
	rows  int64
	rules []RuleTotal
	index map[string]int
}

// RuleTotal is one rule's failures over every answer.
type RuleTotal struct {
	Name, Severity string
	MaxShare       float64
	Failures       int64
}

// FileFailure is a fail-file rule that failed the file: Failures of Rows
// sent broke it (Share), over its MaxShare.
type FileFailure struct {
	Rule            string
	Failures, Rows  int64
	Share, MaxShare float64
	// Reason says so, for the tenant's report.
	Reason string
}

// Add counts ans, the validated answer to a request of rows rows. A rule
// that changes its severity or max_share between answers of one file is
// ErrBadAnswer: its failures could not be judged together.
func (t *Tally) Add(rows int, ans contract.CheckResponse) error {
	for _, r := range ans.Rules {
		i, ok := t.index[r.Name]
		if !ok {
			if t.index == nil {
				t.index = map[string]int{}
			}
			i = len(t.rules)
			t.index[r.Name] = i
			t.rules = append(t.rules, RuleTotal{Name: r.Name, Severity: r.Severity, MaxShare: r.MaxShare})
		}
		tot := &t.rules[i]
		if tot.Severity != r.Severity || tot.MaxShare != r.MaxShare {
			return fmt.Errorf("%w: rule %s was %s (max_share %v) and is now %s (max_share %v)", ErrBadAnswer, r.Name, tot.Severity, tot.MaxShare, r.Severity, r.MaxShare)
		}
		tot.Failures += int64(len(r.Failures))
	}
	t.rows += int64(rows)
	return nil
}

// Rows is how many rows were sent.
func (t *Tally) Rows() int64 { return t.rows }

// Rules are the rules answered, in the order first seen, with their
// failures.
func (t *Tally) Rules() []RuleTotal { return append([]RuleTotal(nil), t.rules...) }

// Failed lists the fail-file rules that more than their max_share of the
// rows sent broke (with max_share 0, one row is enough), in the order
// first seen; empty when the file passes. checker names the checker in
// the reasons.
func (t *Tally) Failed(checker string) []FileFailure {
	var out []FileFailure
	for _, r := range t.rules {
		if r.Severity != contract.CheckFailFile || r.Failures == 0 || t.rows == 0 {
			continue
		}
		share := float64(r.Failures) / float64(t.rows)
		if share <= r.MaxShare {
			continue
		}
		out = append(out, FileFailure{Rule: r.Name, Failures: r.Failures, Rows: t.rows, Share: share, MaxShare: r.MaxShare,
			Reason: fmt.Sprintf("quality rule %s of checker %s failed on %d of %d rows sent (%.1f%%), over its max_share of %.1f%%",
				r.Name, checker, r.Failures, t.rows, 100*share, 100*r.MaxShare)})
	}
	return out
}
