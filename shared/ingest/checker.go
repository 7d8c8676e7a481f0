package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mysimbdp/mysimbdp/shared/checker"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/dataset"
)

// checked is what a tenant's own quality checker said of a file: the
// lines its reject rules quarantine and its rules' totals.
type checked struct {
	fn         string
	rejections map[int][]checker.Rejection
	tally      checker.Tally
}

// checkers makes a client for each checker the tenant's datasets name.
// A checker that cannot be reached from here (its key not given) is an
// error for that dataset's files, not for the function: the others go on.
func newCheckers(env contract.Env, sets *dataset.Sets) (map[string]*checker.Client, map[string]error) {
	clients, errs := map[string]*checker.Client{}, map[string]error{}
	for _, set := range sets.All() {
		fn := set.Spec.QualityChecker.Function
		if fn == "" || clients[fn] != nil || errs[fn] != nil {
			continue
		}
		cfg, err := checker.ConfigFromEnv(env, fn)
		if err == nil {
			clients[fn], err = checker.New(cfg)
		}
		if err != nil {
			errs[fn] = err
		}
	}
	return clients, errs
}

// askChecker sends the tenant's checker the file's first rows (its
// sample) or all of them, in requests of at most contract.CheckMaxRows,
// before any row is stored. A checker that is unavailable makes the file
// wait (ErrUnavailable); one that answers outside the contract is the
// file's rejection reason, returned as bad.
func (b *Batch) askChecker(ctx context.Context, set *dataset.Set, rep *contract.BatchReport) (c *checked, bad string, err error) {
	fn := set.Spec.QualityChecker.Function
	client := b.checkers[fn]
	if client == nil {
		return nil, "", fmt.Errorf("quality checker %s: %w", fn, b.checkerErrs[fn])
	}
	obj, err := b.open(ctx, rep)
	if err != nil {
		return nil, "", err
	}
	defer obj.Close()
	c = &checked{fn: fn, rejections: map[int][]checker.Rejection{}}
	sample := int(set.Spec.QualityChecker.Sample)
	req := contract.CheckRequest{Tenant: rep.Tenant, Dataset: set.Spec.Name, Bucket: rep.Bucket, Key: rep.Key, ETag: rep.ETag, Sample: sample > 0}
	sent := 0
	send := func() error {
		if len(req.Rows) == 0 {
			return nil
		}
		ans, err := client.Check(ctx, req)
		if err == nil {
			err = c.tally.Add(len(req.Rows), ans)
		}
		if err != nil {
			return err
		}
		for line, rs := range checker.Rejections(ans) {
			c.rejections[line] = append(c.rejections[line], rs...)
		}
		req.Rows = req.Rows[:0]
		return nil
	}
	for rec, rerr := range set.Plan.NewReader(obj, rep.Key).All() {
		if rerr != nil {
			if !isFileLevel(rerr) {
				return nil, "", rerr
			}
			break // the reading pass reports it
		}
		if rec.Err != nil {
			continue
		}
		row, err := checker.Row(rec.Line, rec.Doc)
		if err != nil {
			return nil, "", fmt.Errorf("quality checker %s: line %d: %w", fn, rec.Line, err)
		}
		req.Rows = append(req.Rows, row)
		sent++
		if len(req.Rows) == contract.CheckMaxRows {
			if err := send(); err != nil {
				break
			}
		}
		if sample > 0 && sent == sample {
			break
		}
	}
	err = send()
	switch {
	case err == nil:
		return c, "", nil
	case errors.Is(err, checker.ErrUnavailable):
		return nil, "", err // unavailable: the file waits for it
	case errors.Is(err, checker.ErrBadAnswer), errors.Is(err, checker.ErrTooLarge):
		return nil, err.Error() + "; no row of the file was stored", nil
	}
	return nil, "", err
}

// rejected returns the reason the checker's reject rules quarantine a
// line for, "" when they do not.
func (c *checked) rejected(line int) string {
	if c == nil {
		return ""
	}
	var rs []string
	for _, r := range c.rejections[line] {
		rs = append(rs, fmt.Sprintf("quality rule %s of checker %s: %s", r.Rule, c.fn, r.Reason))
	}
	return strings.Join(rs, "; ")
}

// into adds the checker's rules to a file's quality metadata, named
// <checker>/<rule> so that they never clash with the platform's.
func (c *checked) into(q *contract.Quality) {
	if q.Rules == nil {
		q.Rules = map[string]contract.RuleCount{}
	}
	for _, r := range c.tally.Rules() {
		q.Rules[c.fn+"/"+r.Name] = contract.RuleCount{Severity: r.Severity, Failures: r.Failures}
	}
}
