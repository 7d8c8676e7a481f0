// Package function is tenant1's own quality checker: a function of the
// tenant that the platform's batch app invokes with rows of a file (a
// sample or all of them, contract.CheckRequest) when a dataset's profile
// names it (quality_checker.function: tenant1-checker). It answers with
// rule results in the shape of the platform's rules
// (contract.CheckResponse), for rules the platform's own cannot express:
//
//   - country_not_all_caps (reject): countriesAndTerritories holds letters
//     and not all of them upper case ("FRANCE" is a broken export, not a
//     country name);
//   - cases_within_10x_median (warn): cases is at most 10 times the median
//     of cases over the rows sent (a median below 1 counts as 1, so that a
//     sample of quiet days does not flag every case).
//
// A row without the field, or with a value of another type, passes a
// rule: presence and types are the platform's own rules' business.
//
// It is written as a tenant would write it: the standard library and the
// platform's contract only. The runtime (shared/fnrun) verifies that each
// call is signed with the function's invocation key before Handle runs.
package function

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"unicode"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// tenant is whose rows this checker takes.
const tenant = "tenant1"

// Handle checks the rows of one request.
func Handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		answer(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST a check request"})
		return
	}
	var req contract.CheckRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, contract.CheckMaxRequestBytes))
	if err := dec.Decode(&req); err != nil {
		answer(w, http.StatusBadRequest, map[string]string{"error": "not a check request: " + err.Error()})
		return
	}
	if err := req.Validate(); err != nil {
		answer(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if req.Tenant != tenant || r.Header.Get(contract.HeaderTenant) != tenant {
		answer(w, http.StatusForbidden, map[string]string{"error": "this checker checks " + tenant + "'s rows only"})
		return
	}
	rows := make([]row, 0, len(req.Rows))
	for _, cr := range req.Rows {
		doc := map[string]any{}
		d := json.NewDecoder(bytes.NewReader(cr.Doc))
		d.UseNumber()
		if err := d.Decode(&doc); err != nil {
			answer(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("line %d: %v", cr.Line, err)})
			return
		}
		rows = append(rows, row{line: cr.Line, doc: doc})
	}
	answer(w, http.StatusOK, Check(rows))
}

// row is one row sent: its line and its document.
type row struct {
	line int
	doc  map[string]any
}

// Check runs the rules on rows.
func Check(rows []row) contract.CheckResponse {
	caps := contract.CheckRule{Name: "country_not_all_caps", Severity: contract.CheckReject, Failures: []contract.CheckFailure{}}
	for _, r := range rows {
		if s, ok := r.doc["countriesAndTerritories"].(string); ok && allCaps(s) {
			caps.Failures = append(caps.Failures, contract.CheckFailure{Line: r.line, Reason: fmt.Sprintf("countriesAndTerritories %q is all upper case", s)})
		}
	}

	spike := contract.CheckRule{Name: "cases_within_10x_median", Severity: contract.CheckWarn, Failures: []contract.CheckFailure{}}
	var cases []float64
	for _, r := range rows {
		if v, ok := number(r.doc["cases"]); ok {
			cases = append(cases, v)
		}
	}
	if len(cases) > 0 {
		limit := 10 * max(median(cases), 1)
		for _, r := range rows {
			if v, ok := number(r.doc["cases"]); ok && v > limit {
				spike.Failures = append(spike.Failures, contract.CheckFailure{Line: r.line, Reason: fmt.Sprintf("cases %v is over 10 times the median of the %d rows checked (%v)", v, len(cases), limit/10)})
			}
		}
	}
	return contract.CheckResponse{Rules: []contract.CheckRule{caps, spike}}
}

// allCaps says whether s has letters and every one is upper case.
func allCaps(s string) bool {
	letters := false
	for _, c := range s {
		if unicode.IsLetter(c) {
			if !unicode.IsUpper(c) {
				return false
			}
			letters = true
		}
	}
	return letters
}

// number reads a JSON number.
func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

// median of vs, which it sorts.
func median(vs []float64) float64 {
	slices.Sort(vs)
	m := len(vs) / 2
	if len(vs)%2 == 1 {
		return vs[m]
	}
	return (vs[m-1] + vs[m]) / 2
}

func answer(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
