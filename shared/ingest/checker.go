package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mysimbdp/mysimbdp/shared/checker"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/dataset"
	"github.com/mysimbdp/mysimbdp/shared/quality"
)

// checked is what a tenant's own quality checker said of a file: the
// lines its reject rules quarantine and its rules' totals.
type checked struct {
	fn         string
	rejections map[int][]checker.Rejection
	tally      checker.Tally
}

// newCheckers makes a client for each checker the tenant's datasets name.
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

// prepass reads the file once before any of its rows is stored, when
// its dataset has rules that judge the file as a whole (all rows go
// through them) or a checker of the tenant's (its sample, or all rows in
// requests of at most contract.CheckMaxRows, go to it). It returns the
// rules' result (nil without file-level rules) and the checker's verdict
// (nil without a checker). A checker that is unavailable makes the file
// wait (the error is checker.ErrUnavailable); one that answers outside
// the contract is the file's rejection reason, returned as bad.
func (b *Batch) prepass(ctx context.Context, set *dataset.Set, rep *contract.BatchReport) (res *quality.Result, c *checked, bad string, err error) {
	var qf *quality.File
	if set.Checker != nil && set.Checker.FileLevel() {
		qf = set.Checker.NewFile()
	}
	fn := set.Spec.QualityChecker.Function
	var client *checker.Client
	if fn != "" {
		if client = b.checkers[fn]; client == nil {
			return nil, nil, "", fmt.Errorf("quality checker %s: %w", fn, b.checkerErrs[fn])
		}
		c = &checked{fn: fn, rejections: map[int][]checker.Rejection{}}
	}
	if qf == nil && c == nil {
		return nil, nil, "", nil
	}
	obj, err := b.open(ctx, rep)
	if err != nil {
		return nil, nil, "", err
	}
	defer obj.Close()

	sample := int(set.Spec.QualityChecker.Sample) // AllRows (-1): every row
	req := contract.CheckRequest{Tenant: rep.Tenant, Dataset: set.Spec.Name, Bucket: rep.Bucket, Key: rep.Key, ETag: rep.ETag, Sample: sample > 0}
	send := func() error {
		if c == nil || len(req.Rows) == 0 {
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
	sent := 0
	var checkErr error
	for rec, rerr := range set.Plan.NewReader(obj, rep.Key).All() {
		if rerr != nil {
			if !isFileLevel(rerr) {
				return nil, nil, "", rerr
			}
			break // the reading pass reports it
		}
		if rec.Err != nil {
			continue
		}
		if qf != nil {
			qf.Check(rec.Line, dataset.Fields(rec.Doc))
		}
		if c == nil || checkErr != nil || sent == sample {
			if qf == nil {
				break // the checker has its sample and no rule needs the rest
			}
			continue
		}
		row, err := checker.Row(rec.Line, rec.Doc)
		if err != nil {
			return nil, nil, "", fmt.Errorf("quality checker %s: line %d: %w", fn, rec.Line, err)
		}
		req.Rows = append(req.Rows, row)
		sent++
		if len(req.Rows) == contract.CheckMaxRows {
			checkErr = send()
		}
	}
	if checkErr == nil {
		checkErr = send()
	}
	switch {
	case checkErr == nil:
	case errors.Is(checkErr, checker.ErrUnavailable):
		return nil, nil, "", checkErr // unavailable: the file waits for it
	case errors.Is(checkErr, checker.ErrBadAnswer), errors.Is(checkErr, checker.ErrTooLarge):
		return nil, nil, checkErr.Error() + "; no row of the file was stored", nil
	default:
		return nil, nil, "", checkErr
	}
	if qf != nil {
		r := qf.Result(b.clock())
		res = &r
	}
	return res, c, "", nil
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
