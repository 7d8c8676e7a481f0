package checker

import (
	"errors"
	"reflect"
	"testing"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

func failures(lines ...int) []contract.CheckFailure {
	var out []contract.CheckFailure
	for _, l := range lines {
		out = append(out, contract.CheckFailure{Line: l, Reason: "why"})
	}
	return out
}

func TestRejections(t *testing.T) {
	ans := contract.CheckResponse{Rules: []contract.CheckRule{
		{Name: "caps", Severity: contract.CheckReject, Failures: failures(3, 6)},
		{Name: "spike", Severity: contract.CheckWarn, Failures: failures(3)},
		{Name: "share", Severity: contract.CheckFailFile, Failures: failures(6)},
		{Name: "other", Severity: contract.CheckReject, Failures: failures(6)},
	}}
	want := map[int][]Rejection{3: {{Rule: "caps", Reason: "why"}}, 6: {{Rule: "caps", Reason: "why"}, {Rule: "other", Reason: "why"}}}
	if got := Rejections(ans); !reflect.DeepEqual(got, want) {
		t.Fatalf("Rejections = %v, want %v", got, want)
	}
}

func TestTally(t *testing.T) {
	type answer struct {
		rows int
		ans  contract.CheckResponse
	}
	share := func(max float64, lines ...int) contract.CheckRule {
		return contract.CheckRule{Name: "share", Severity: contract.CheckFailFile, MaxShare: max, Failures: failures(lines...)}
	}
	for _, tt := range []struct {
		name    string
		answers []answer
		failed  []FileFailure
		err     error
	}{
		{name: "nothing sent"},
		{name: "a pass", answers: []answer{{4, contract.CheckResponse{Rules: []contract.CheckRule{share(0)}}}}},
		{name: "max_share 0: one row fails the file", answers: []answer{{4, contract.CheckResponse{Rules: []contract.CheckRule{share(0, 2)}}}},
			failed: []FileFailure{{Rule: "share", Failures: 1, Rows: 4, Share: 0.25, Reason: "quality rule share of checker tenant1-checker failed on 1 of 4 rows sent (25.0%), over its max_share of 0.0%"}}},
		{name: "at max_share passes", answers: []answer{{4, contract.CheckResponse{Rules: []contract.CheckRule{share(0.25, 2)}}}}},
		{name: "over max_share over two parts", answers: []answer{
			{4, contract.CheckResponse{Rules: []contract.CheckRule{share(0.25, 2)}}},
			{4, contract.CheckResponse{Rules: []contract.CheckRule{share(0.25, 10, 11)}}},
		}, failed: []FileFailure{{Rule: "share", Failures: 3, Rows: 8, Share: 0.375, MaxShare: 0.25, Reason: "quality rule share of checker tenant1-checker failed on 3 of 8 rows sent (37.5%), over its max_share of 25.0%"}}},
		{name: "warn and reject never fail the file", answers: []answer{{2, contract.CheckResponse{Rules: []contract.CheckRule{
			{Name: "w", Severity: contract.CheckWarn, Failures: failures(1, 2)}, {Name: "r", Severity: contract.CheckReject, Failures: failures(1, 2)},
		}}}}},
		{name: "a rule changing severity", answers: []answer{
			{4, contract.CheckResponse{Rules: []contract.CheckRule{share(0.25)}}},
			{4, contract.CheckResponse{Rules: []contract.CheckRule{{Name: "share", Severity: contract.CheckWarn}}}},
		}, err: ErrBadAnswer},
		{name: "a rule changing max_share", answers: []answer{
			{4, contract.CheckResponse{Rules: []contract.CheckRule{share(0.25)}}},
			{4, contract.CheckResponse{Rules: []contract.CheckRule{share(0.5)}}},
		}, err: ErrBadAnswer},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var tally Tally
			var err error
			for _, a := range tt.answers {
				if err = tally.Add(a.rows, a.ans); err != nil {
					break
				}
			}
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("Add: error %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if got := tally.Failed("tenant1-checker"); !reflect.DeepEqual(got, tt.failed) {
				t.Fatalf("Failed = %+v\nwant %+v", got, tt.failed)
			}
		})
	}
}
