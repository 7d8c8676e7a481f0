package contract

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

func checkRequest(lines ...int) CheckRequest {
	req := CheckRequest{Tenant: "tenant1", Dataset: "covid", Bucket: "tenant1", Key: "incoming/covid/a.csv", ETag: "e"}
	for _, l := range lines {
		req.Rows = append(req.Rows, CheckRow{Line: l, Doc: json.RawMessage(fmt.Sprintf(`{"cases":%d}`, l))})
	}
	return req
}

func TestCheckRequestValidate(t *testing.T) {
	many := checkRequest()
	for i := range CheckMaxRows + 1 {
		many.Rows = append(many.Rows, CheckRow{Line: i + 2, Doc: json.RawMessage(`{}`)})
	}
	for _, tt := range []struct {
		name   string
		req    CheckRequest
		mutate func(*CheckRequest)
		want   string // "" = valid
	}{
		{name: "good", req: checkRequest(2, 3, 7)},
		{name: "a document after blanks", req: checkRequest(2), mutate: func(r *CheckRequest) { r.Rows[0].Doc = json.RawMessage(" \n{\"a\":1}") }},
		{name: "no tenant", req: checkRequest(2), mutate: func(r *CheckRequest) { r.Tenant = "" }, want: "no tenant"},
		{name: "no dataset", req: checkRequest(2), mutate: func(r *CheckRequest) { r.Dataset = "" }, want: "no dataset"},
		{name: "no rows", req: checkRequest(), want: "no rows"},
		{name: "too many rows", req: many, want: "more than 10000"},
		{name: "line 0", req: checkRequest(0), want: "line 0 is not a line number"},
		{name: "a line twice", req: checkRequest(2, 3, 2), want: "line 2 is sent twice"},
		{name: "an array for a document", req: checkRequest(2), mutate: func(r *CheckRequest) { r.Rows[0].Doc = json.RawMessage(`[1]`) }, want: "not a JSON object"},
		{name: "broken JSON", req: checkRequest(2), mutate: func(r *CheckRequest) { r.Rows[0].Doc = json.RawMessage(`{"a":`) }, want: "not a JSON object"},
		{name: "no document", req: checkRequest(2), mutate: func(r *CheckRequest) { r.Rows[0].Doc = nil }, want: "not a JSON object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.mutate != nil {
				tt.mutate(&tt.req)
			}
			expect(t, tt.req.Validate(), tt.want)
		})
	}
}

func TestCheckResponseValidate(t *testing.T) {
	req := checkRequest(2, 3, 5)
	rule := func(name, sev string, lines ...int) CheckRule {
		r := CheckRule{Name: name, Severity: sev}
		for _, l := range lines {
			r.Failures = append(r.Failures, CheckFailure{Line: l, Reason: "why"})
		}
		return r
	}
	manyRules := CheckResponse{}
	for i := range CheckMaxRules + 1 {
		manyRules.Rules = append(manyRules.Rules, rule(fmt.Sprintf("r%d", i), CheckWarn))
	}
	for _, tt := range []struct {
		name string
		ans  CheckResponse
		want string
	}{
		{name: "no rules", ans: CheckResponse{}},
		{name: "every severity, every row", ans: CheckResponse{Rules: []CheckRule{
			rule("caps", CheckReject, 2, 3, 5), rule("spike", CheckWarn, 5),
			{Name: "share", Severity: CheckFailFile, MaxShare: 0.5, Failures: []CheckFailure{{Line: 3}}},
		}}},
		{name: "a rule passing", ans: CheckResponse{Rules: []CheckRule{rule("ok_rule-2", CheckWarn)}}},
		{name: "as many rules as allowed", ans: CheckResponse{Rules: manyRules.Rules[:CheckMaxRules]}},
		{name: "too many rules", ans: manyRules, want: "65 rules, more than 64"},
		{name: "no name", ans: CheckResponse{Rules: []CheckRule{rule("", CheckWarn)}}, want: `rule #1: name ""`},
		{name: "upper-case name", ans: CheckResponse{Rules: []CheckRule{rule("Caps", CheckWarn)}}, want: `name "Caps"`},
		{name: "long name", ans: CheckResponse{Rules: []CheckRule{rule(strings.Repeat("a", 65), CheckWarn)}}, want: "want 1 to 64"},
		{name: "a name twice", ans: CheckResponse{Rules: []CheckRule{rule("a", CheckWarn), rule("a", CheckReject)}}, want: "rule a: named twice"},
		{name: "unknown severity", ans: CheckResponse{Rules: []CheckRule{rule("a", "error")}}, want: `severity "error"`},
		{name: "no severity", ans: CheckResponse{Rules: []CheckRule{rule("a", "")}}, want: `severity ""`},
		{name: "max_share on warn", ans: CheckResponse{Rules: []CheckRule{{Name: "a", Severity: CheckWarn, MaxShare: 0.1}}}, want: "max_share is for fail-file rules only"},
		{name: "max_share 1", ans: CheckResponse{Rules: []CheckRule{{Name: "a", Severity: CheckFailFile, MaxShare: 1}}}, want: "want 0 to 1"},
		{name: "negative max_share", ans: CheckResponse{Rules: []CheckRule{{Name: "a", Severity: CheckFailFile, MaxShare: -0.1}}}, want: "want 0 to 1"},
		{name: "NaN max_share", ans: CheckResponse{Rules: []CheckRule{{Name: "a", Severity: CheckFailFile, MaxShare: math.NaN()}}}, want: "want 0 to 1"},
		{name: "a line not sent", ans: CheckResponse{Rules: []CheckRule{rule("a", CheckReject, 2, 4)}}, want: "rule a: line 4 was not sent"},
		{name: "a line failing twice", ans: CheckResponse{Rules: []CheckRule{rule("a", CheckReject, 3, 3)}}, want: "rule a: line 3 fails twice"},
		{name: "more failures than rows", ans: CheckResponse{Rules: []CheckRule{rule("a", CheckReject, 2, 3, 5, 2)}}, want: "4 failures, more than the 3 rows sent"},
		{name: "reason too long", ans: CheckResponse{Rules: []CheckRule{{Name: "a", Severity: CheckWarn, Failures: []CheckFailure{{Line: 2, Reason: strings.Repeat("x", CheckMaxReason+1)}}}}}, want: "reason of 1025 bytes"},
		{name: "reason not UTF-8", ans: CheckResponse{Rules: []CheckRule{{Name: "a", Severity: CheckWarn, Failures: []CheckFailure{{Line: 2, Reason: "\xff"}}}}}, want: "not UTF-8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, tt.ans.Validate(req), tt.want)
		})
	}
}

func TestCheckerName(t *testing.T) {
	for _, tt := range []struct {
		tenant, fn, want string
	}{
		{tenant: "tenant1", fn: "tenant1-checker"},
		{tenant: "tenant1", fn: "tenant1-a-b-2"},
		{tenant: "tenant1", fn: "tenant2-checker", want: "not a function of tenant tenant1"},
		{tenant: "tenant1", fn: "tenant1", want: "not a function of tenant tenant1"},
		{tenant: "tenant1", fn: "tenant1checker", want: "not a function of tenant tenant1"},
		{tenant: "tenant1", fn: "stats", want: "not a function of tenant tenant1"},
		{tenant: "tenant1", fn: "", want: "not a function name"},
		{tenant: "tenant1", fn: "tenant1-Checker", want: "not a function name"},
		{tenant: "tenant1", fn: "tenant1-checker.openfaas-fn", want: "not a function name"},
		{tenant: "tenant1", fn: "tenant1-checker/../stats", want: "not a function name"},
		{tenant: "tenant1", fn: "tenant1-", want: "not a function name"},
		{tenant: "tenant1", fn: "tenant1-" + strings.Repeat("a", 60), want: "not a function name"},
		{tenant: "", fn: "-checker", want: "not a function name"},
	} {
		t.Run(tt.fn, func(t *testing.T) {
			expect(t, CheckerName(tt.tenant, tt.fn), tt.want)
		})
	}
}

func expect(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("error %v, want none", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q, want %q in it", err, want)
	}
}
