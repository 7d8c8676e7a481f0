package connector

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// TestStreamPermanentFailure: a record its function reports failed for
// good (contract.ItemFailure.Permanent, e.g. no dataset takes its
// subject) is dead-lettered after that one attempt, with the function's
// reason, while its neighbours are acked.
func TestStreamPermanentFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createTenantStream("pf")
	dir := e.deployStream("pf-stream", "pf", "ingest.pf.>",
		map[string]string{contract.AnnotationBatchSize: "10", contract.AnnotationBatchWindow: "20ms"}, nil)
	// Five attempts: a retried record would be seen several times.
	e.runConnector(func(c *Config) { c.MaxAttempts = 5 })

	ids := e.publishRecords("ingest.pf.unknown", 30, func(i int) string {
		if i == 12 {
			return `{"i":12,"note":"doomed"}`
		}
		return fmt.Sprintf(`{"i":%d}`, i)
	})
	doomed := ids[12]
	good := slices.Delete(slices.Clone(ids), 12, 13)
	waitAcked(t, dir, good, 20*time.Second)
	harness.Until(t, 20*time.Second, "the doomed record's dead letter", func() (bool, string) {
		return e.deadLetter("pf") != nil, "none yet"
	})
	e.waitDrained("pf", "pf-stream", 20*time.Second)

	seen := 0
	for _, c := range streamCalls(t, dir) {
		if slices.Contains(c.IDs, doomed) {
			seen++
		}
	}
	if seen != 1 {
		t.Errorf("the doomed record was handed to its function %d times, want once", seen)
	}
	dl := e.deadLetter("pf")
	for k, want := range map[string]string{
		contract.DeadLetterHeaderRecordID: doomed, contract.DeadLetterHeaderAttempts: "1", contract.DeadLetterHeaderFunction: "pf-stream." + defaultNS,
		contract.DeadLetterHeaderSubject: "ingest.pf.unknown", contract.DeadLetterHeaderLastStatus: "200",
	} {
		if got := dl.Header.Get(k); got != want {
			t.Errorf("dead letter %s = %q, want %q", k, got, want)
		}
	}
	if r := dl.Header.Get(contract.DeadLetterHeaderReason); !strings.Contains(r, "dead-lettered at once") || !strings.Contains(r, "no dataset takes ingest.pf.unknown") {
		t.Errorf("dead-letter reason %q", r)
	}
	if string(dl.Data) != `{"i":12,"note":"doomed"}` {
		t.Errorf("dead letter body %q is not the record", dl.Data)
	}
	if m := e.metricsText(); !strings.Contains(m, `mysimbdp_connector_stream_records_total{function_name="pf-stream.openfaas-fn",outcome="dead_lettered"} 1`) {
		t.Errorf("metrics lack the dead-lettered record:\n%s", m)
	}
}
