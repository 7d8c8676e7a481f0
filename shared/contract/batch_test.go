package contract_test

import (
	"encoding/json"
	"testing"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

func TestWireFormat(t *testing.T) {
	in := `{"tenant":"tenant1","records":[{"id":"ingest-tenant1:42","subject":"ingest.tenant1.covid",` +
		`"headers":{"Nats-Msg-Id":["abc"]},"data":"eyJhIjoxfQ==","published_at":"2020-07-06T10:00:00.123456789Z"}]}`
	var b contract.Batch
	if err := json.Unmarshal([]byte(in), &b); err != nil {
		t.Fatal(err)
	}
	r := b.Records[0]
	if b.Tenant != "tenant1" || r.ID != "ingest-tenant1:42" || string(r.Data) != `{"a":1}` ||
		r.Headers["Nats-Msg-Id"][0] != "abc" || r.PublishedAt.Nanosecond() != 123456789 {
		t.Errorf("decoded %+v", b)
	}
	out, err := json.Marshal(contract.Response{BatchItemFailures: []contract.ItemFailure{}})
	if err != nil || string(out) != `{"batchItemFailures":[]}` {
		t.Errorf("empty response = %s, %v", out, err)
	}
	out, _ = json.Marshal(contract.Response{BatchItemFailures: []contract.ItemFailure{{ItemIdentifier: "x", Reason: "r"}}})
	if string(out) != `{"batchItemFailures":[{"itemIdentifier":"x","reason":"r"}]}` {
		t.Errorf("response = %s", out)
	}
}

func TestRecordID(t *testing.T) {
	for _, tc := range []struct {
		msgID, stream string
		seq           uint64
		want          string
	}{
		{"abc", "ingest-tenant1", 42, "abc"},
		{"", "ingest-tenant1", 42, "ingest-tenant1:42"},
	} {
		if got := contract.RecordID(tc.msgID, tc.stream, tc.seq); got != tc.want {
			t.Errorf("contract.RecordID(%q, %q, %d) = %q, want %q", tc.msgID, tc.stream, tc.seq, got, tc.want)
		}
	}
}
