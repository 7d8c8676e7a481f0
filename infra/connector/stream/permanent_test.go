package stream

import "testing"

// TestParsePermanentFailure: a failure marked permanent is read as such,
// the others are not.
func TestParsePermanentFailure(t *testing.T) {
	recs := []*streamRec{{id: "a"}, {id: "b"}}
	got, err := parseStreamResponse([]byte(`{"batchItemFailures":[{"itemIdentifier":"a","reason":"no dataset takes ingest.t.x","permanent":true},{"itemIdentifier":"b","reason":"bad"}]}`), false, recs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (itemFailure{reason: "no dataset takes ingest.t.x", permanent: true}); got["a"] != want {
		t.Errorf("a: %+v, want %+v", got["a"], want)
	}
	if want := (itemFailure{reason: "bad"}); got["b"] != want {
		t.Errorf("b: %+v, want %+v", got["b"], want)
	}
}
