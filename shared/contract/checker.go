package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// A tenant's own quality checker is a function of the tenant, named in a
// dataset's profile, that the platform's batch app invokes (signed with
// the checker's invocation key, with HeaderTenant) with rows of a file:
// a sample or all of them. It answers with rule results in the shape of
// the platform's own quality rules, and the platform then treats each as
// one of its own: failures of a reject rule are quarantined under the
// rule's name, those of a warn rule counted, and a fail-file rule fails
// the file when more than MaxShare of the rows sent break it.

// Bounds of a checker's request and answer.
const (
	// CheckDefaultSample is how many rows a sample holds when the profile
	// does not say.
	CheckDefaultSample = 1000
	// CheckMaxRows bounds the rows of one request; a whole file larger
	// than that is sent in several requests.
	CheckMaxRows = 10000
	// CheckMaxRequestBytes bounds a request's JSON body.
	CheckMaxRequestBytes = 16 << 20
	// CheckMaxAnswerBytes bounds an answer's JSON body.
	CheckMaxAnswerBytes = 8 << 20
	// CheckMaxRules bounds the rules of one answer.
	CheckMaxRules = 64
	// CheckMaxReason bounds a failure's reason, in bytes.
	CheckMaxReason = 1024
)

// The severities of a checker's rule: the platform's own (shared/quality).
const (
	// CheckReject quarantines the failing rows, with the rule's name.
	CheckReject = "reject"
	// CheckWarn stores the failing rows and counts the failures.
	CheckWarn = "warn"
	// CheckFailFile counts like CheckWarn and fails the whole file when
	// more than the rule's MaxShare of the rows sent break it.
	CheckFailFile = "fail-file"
)

// CheckRequest is what the platform POSTs to a tenant's checker function.
type CheckRequest struct {
	Tenant  string `json:"tenant"`
	Dataset string `json:"dataset"`
	// Bucket, Key and ETag name the file the rows come from.
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	ETag   string `json:"etag"`
	// Sample is true when Rows is a sample of the file, not all of it
	// (nor all of one of the parts a large file is sent in).
	Sample bool       `json:"sample"`
	Rows   []CheckRow `json:"rows"`
}

// CheckRow is one row as the platform would store it.
type CheckRow struct {
	// Line is where the row starts in the file (a CSV or NDJSON line, a
	// JSON array's 1-based element), the number the answer names it by.
	// The lines of one request are distinct.
	Line int `json:"line"`
	// Doc is the stored document as a plain JSON object, fields in stored
	// order under their stored names (after wrangling): strings, numbers,
	// booleans and null as themselves, dates and datetimes as RFC 3339
	// strings in UTC ("2020-12-14T00:00:00Z"), nested documents as
	// objects and arrays as arrays. (Not MongoDB's extended JSON: a
	// checker needs no BSON library to read it.)
	Doc json.RawMessage `json:"doc"`
}

// CheckResponse is a checker's 200 answer: every rule it checked, failing
// or not, so that the platform counts each as it counts its own.
type CheckResponse struct {
	Rules []CheckRule `json:"rules"`
}

// CheckRule is one rule of the checker and the rows that broke it.
type CheckRule struct {
	// Name names the rule in quarantined rows and quality metadata: 1 to
	// 64 of a-z, 0-9, '_' and '-', distinct in the answer.
	Name string `json:"name"`
	// Severity is CheckReject, CheckWarn or CheckFailFile.
	Severity string `json:"severity"`
	// MaxShare is, for a fail-file rule, the share of the rows sent (0 to
	// 1, exclusive) that may break it before the file fails; 0 means one
	// row is enough. Other severities leave it 0.
	MaxShare float64 `json:"max_share,omitempty"`
	// Failures are the rows that broke the rule, each at most once, each
	// one of the rows sent.
	Failures []CheckFailure `json:"failures"`
}

// CheckFailure is one row that broke a rule.
type CheckFailure struct {
	Line int `json:"line"`
	// Reason says why, for the tenant (at most CheckMaxReason bytes).
	Reason string `json:"reason,omitempty"`
}

// CheckerName says whether fn may be named as tenant's checker: a
// function name (a DNS label, as OpenFaaS's) that starts with the
// tenant's id and a hyphen, as the tenant's functions are named. Whether
// another tenant owns a function of that name (tenant ids hold hyphens
// too) is for whoever knows the functions and tenants to check.
func CheckerName(tenant, fn string) error {
	if !isDNSLabel(fn) {
		return fmt.Errorf("checker %q is not a function name (want 1-63 lower-case letters, digits and inner hyphens)", fn)
	}
	if tenant == "" || !strings.HasPrefix(fn, tenant+"-") {
		return fmt.Errorf("checker %q is not a function of tenant %s (its name must start with %s-)", fn, tenant, tenant)
	}
	return nil
}

func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Validate checks a request before it is sent: its tenant and dataset,
// 1 to CheckMaxRows rows, distinct positive lines, each document a JSON
// object. (Its encoded size, CheckMaxRequestBytes, is the sender's to
// check.)
func (r CheckRequest) Validate() error {
	switch {
	case r.Tenant == "":
		return errors.New("check request: no tenant")
	case r.Dataset == "":
		return errors.New("check request: no dataset")
	case len(r.Rows) == 0:
		return errors.New("check request: no rows")
	case len(r.Rows) > CheckMaxRows:
		return fmt.Errorf("check request: %d rows, more than %d", len(r.Rows), CheckMaxRows)
	}
	seen := make(map[int]bool, len(r.Rows))
	for i, row := range r.Rows {
		if row.Line < 1 {
			return fmt.Errorf("check request: row %d: line %d is not a line number", i, row.Line)
		}
		if seen[row.Line] {
			return fmt.Errorf("check request: row %d: line %d is sent twice", i, row.Line)
		}
		seen[row.Line] = true
		if d := bytes.TrimLeft(row.Doc, " \t\r\n"); len(d) == 0 || d[0] != '{' || !json.Valid(d) {
			return fmt.Errorf("check request: line %d: the document is not a JSON object", row.Line)
		}
	}
	return nil
}

// Validate checks an answer to req: at most CheckMaxRules rules, each
// named as CheckRule says, of a known severity, with a max_share only
// for fail-file and below 1, and failures of rows that were sent, each
// at most once per rule, with a reason of at most CheckMaxReason bytes
// of UTF-8. So a rule never fails more rows than were sent.
func (a CheckResponse) Validate(req CheckRequest) error {
	if len(a.Rules) > CheckMaxRules {
		return fmt.Errorf("%d rules, more than %d", len(a.Rules), CheckMaxRules)
	}
	sent := make(map[int]bool, len(req.Rows))
	for _, row := range req.Rows {
		sent[row.Line] = true
	}
	names := make(map[string]bool, len(a.Rules))
	for i, r := range a.Rules {
		if !isRuleName(r.Name) {
			return fmt.Errorf("rule #%d: name %q: want 1 to 64 of a-z, 0-9, '_' and '-'", i+1, r.Name)
		}
		if names[r.Name] {
			return fmt.Errorf("rule %s: named twice", r.Name)
		}
		names[r.Name] = true
		switch r.Severity {
		case CheckReject, CheckWarn, CheckFailFile:
		default:
			return fmt.Errorf("rule %s: severity %q: want %s, %s or %s", r.Name, r.Severity, CheckReject, CheckWarn, CheckFailFile)
		}
		if math.IsNaN(r.MaxShare) || r.MaxShare < 0 || r.MaxShare >= 1 {
			return fmt.Errorf("rule %s: max_share %v: want 0 to 1, exclusive", r.Name, r.MaxShare)
		}
		if r.MaxShare != 0 && r.Severity != CheckFailFile {
			return fmt.Errorf("rule %s: max_share is for %s rules only, not %s", r.Name, CheckFailFile, r.Severity)
		}
		if len(r.Failures) > len(req.Rows) {
			return fmt.Errorf("rule %s: %d failures, more than the %d rows sent", r.Name, len(r.Failures), len(req.Rows))
		}
		failed := make(map[int]bool, len(r.Failures))
		for _, f := range r.Failures {
			if !sent[f.Line] {
				return fmt.Errorf("rule %s: line %d was not sent", r.Name, f.Line)
			}
			if failed[f.Line] {
				return fmt.Errorf("rule %s: line %d fails twice", r.Name, f.Line)
			}
			failed[f.Line] = true
			if len(f.Reason) > CheckMaxReason {
				return fmt.Errorf("rule %s: line %d: reason of %d bytes, more than %d", r.Name, f.Line, len(f.Reason), CheckMaxReason)
			}
			if !utf8.ValidString(f.Reason) {
				return fmt.Errorf("rule %s: line %d: reason is not UTF-8", r.Name, f.Line)
			}
		}
	}
	return nil
}

// isRuleName is shared/quality's rule name: 1 to 64 of a-z, 0-9, _ and -.
func isRuleName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
