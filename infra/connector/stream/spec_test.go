package stream

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

func fn(name, ns, tenant, topic string) types.FunctionStatus {
	labels := map[string]string{}
	if tenant != "" {
		labels[contract.LabelTenant] = tenant
	}
	ann := map[string]string{contract.AnnotationTopic: topic}
	return types.FunctionStatus{Name: name, Namespace: ns, Labels: &labels, Annotations: &ann}
}

func streamFn(name, tenant, topic string, replicas uint64, ann map[string]string) types.FunctionStatus {
	f := fn(name, "openfaas-fn", tenant, topic)
	for k, v := range ann {
		(*f.Annotations)[k] = v
	}
	f.Replicas = replicas
	return f
}

func TestStreamSpecs(t *testing.T) {
	specs, problems := streamSpecs([]types.FunctionStatus{
		streamFn("a", "t1", "ingest.t1.>", 0, nil),
		streamFn("b", "t1", "ingest.t1.x, ingest.t1.*, ingest.t1.y.z, s3:t1", 3,
			map[string]string{contract.AnnotationBatchSize: "5000", contract.AnnotationBatchWindow: "1s", contract.AnnotationMaxInflight: "2"}),
		streamFn("c", "t1", "ingest.t1.>", 1, map[string]string{contract.AnnotationBatchSize: "zero", contract.AnnotationBatchWindow: "-1s", contract.AnnotationMaxInflight: "0"}),
		streamFn("evil", "t2", "ingest.t1.>", 1, nil),
		streamFn("wild", "t2", "ingest.*.>, ingest.t2, ingest.t2.a>b", 1, nil),
		streamFn("s3only", "t1", "s3:t1", 1, nil),
		streamFn("stats", "", "mysimbdp.reports.>", 1, nil),
		streamFn("spy", "t1", "mysimbdp.reports.>", 1, nil),
		streamFn("mixed", "", "mysimbdp.reports.t1, mysimbdp.other.>", 1, nil),
	}, []platformStream{{stream: "REPORTS", subject: "mysimbdp.reports"}})
	var names []string
	for n := range specs {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{contract.StreamConsumerPrefix + "a_openfaas-fn", contract.StreamConsumerPrefix + "b_openfaas-fn", contract.StreamConsumerPrefix + "c_openfaas-fn",
		contract.StreamConsumerPrefix + "mixed_openfaas-fn", contract.StreamConsumerPrefix + "stats_openfaas-fn"}
	if !slices.Equal(names, want) {
		t.Fatalf("subscriptions %v, want %v", names, want)
	}
	a := specs[want[0]]
	if a.batchSize != DefaultBatchSize || a.batchWindow != DefaultBatchWindow || a.maxInflight != 1 || a.replicas != 1 ||
		a.stream != "ingest-t1" || !slices.Equal(a.topics, []string{"ingest.t1.>"}) || len(a.problems) != 0 {
		t.Errorf("a = %+v", a)
	}
	b := specs[want[1]]
	// ingest.t1.x is covered by ingest.t1.*: JetStream refuses overlaps.
	if !slices.Equal(b.topics, []string{"ingest.t1.*", "ingest.t1.y.z"}) || b.batchSize != MaxBatchSize ||
		b.batchWindow != time.Second || b.concurrency(64, 4096) != 4 || len(b.problems) != 1 {
		t.Errorf("b = %+v, concurrency %d", b, b.concurrency(64, 4096))
	}
	if got := b.concurrency(3, 4096); got != 3 {
		t.Errorf("concurrency capped at 3 = %d", got)
	}
	if got := b.concurrency(64, 2000); got != 2 {
		t.Errorf("concurrency within ack-pending 2000 of batches of 1000 = %d", got)
	}
	c := specs[want[2]]
	if c.batchSize != DefaultBatchSize || c.batchWindow != DefaultBatchWindow || c.maxInflight != 1 || len(c.problems) != 3 {
		t.Errorf("c = %+v", c)
	}
	st := specs[want[4]]
	if st.stream != "REPORTS" || st.tenant != "" || !slices.Equal(st.topics, []string{"mysimbdp.reports.>"}) {
		t.Errorf("stats = %+v", st)
	}
	if m := specs[want[3]]; m.stream != "REPORTS" || !slices.Equal(m.topics, []string{"mysimbdp.reports.t1"}) {
		t.Errorf("mixed = %+v", m)
	}
	var why []string
	for _, p := range problems {
		why = append(why, p.fn.Name+": "+p.err.Error())
	}
	joined := strings.Join(why, "\n")
	if len(why) != 4 || !strings.Contains(joined, "not a tenant id") || !strings.Contains(joined, `spy: topic "mysimbdp.reports.>" is the platform's`) {
		t.Errorf("problems:\n%s", strings.Join(why, "\n"))
	}
}

func TestSubjectCovers(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"a.>", "a.b", true}, {"a.>", "a.b.c", true}, {"a.>", "a", false}, {"a.*", "a.b", true}, {"a.*", "a.b.c", false},
		{"a.*", "a.>", false}, {"a.>", "a.*", true}, {"a.b", "a.b", true}, {"a.b", "a.c", false}, {"a.*.c", "a.b.c", true},
	} {
		if got := subjectCovers(tc.a, tc.b); got != tc.want {
			t.Errorf("subjectCovers(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

func TestConsumerName(t *testing.T) {
	if got := ConsumerName("fn", "ns"); got != "mysimbdp-stream-fn_ns" {
		t.Errorf("got %q", got)
	}
	a, b := ConsumerName("a.b", "ns"), ConsumerName("a_b", "ns")
	if a == b || strings.ContainsAny(a, ". *>") {
		t.Errorf("names %q and %q", a, b)
	}
}

func TestParseStreamResponse(t *testing.T) {
	recs := []*streamRec{{id: "a"}, {id: "b"}}
	for _, tc := range []struct {
		body   string
		failed []string
		err    string
	}{
		{body: ""}, {body: "null"}, {body: `{"batchItemFailures":[]}`},
		{body: `{"batchItemFailures":[{"itemIdentifier":"b","reason":"bad"}]}`, failed: []string{"b"}},
		{body: `{"batchItemFailures":[{"itemIdentifier":"zz"}]}`, err: "not a record of the batch"},
		{body: `{"batchItemFailures":[{"itemIdentifier":""}]}`, err: "not a record of the batch"},
		{body: `OK`, err: "not a batch response"},
	} {
		got, err := parseStreamResponse([]byte(tc.body), false, recs)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.body, err, tc.err)
			}
			continue
		}
		var ids []string
		for id := range got {
			ids = append(ids, id)
		}
		if err != nil || !slices.Equal(ids, tc.failed) {
			t.Errorf("%s: %v, %v", tc.body, got, err)
		}
	}
	if _, err := parseStreamResponse([]byte("{}"), true, recs); err == nil {
		t.Error("a cut answer was trusted")
	}
}

func TestStreamWireNames(t *testing.T) {
	b, err := json.Marshal(contract.Batch{Tenant: "t", Records: []contract.Record{{ID: "i", Subject: "s", Headers: map[string][]string{"Nats-Msg-Id": {"i"}}, Data: []byte("x"), PublishedAt: time.Unix(0, 0).UTC()}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"tenant":"t","records":[{"id":"i","subject":"s","headers":{"Nats-Msg-Id":["i"]},"data":"eA==","published_at":"1970-01-01T00:00:00Z"}]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var r contract.Response
	if err := json.Unmarshal([]byte(`{"batchItemFailures":[{"itemIdentifier":"i","reason":"r"}]}`), &r); err != nil || r.BatchItemFailures[0] != (contract.ItemFailure{ItemIdentifier: "i", Reason: "r"}) {
		t.Errorf("response %+v, %v", r, err)
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.acquire(ctx); err == nil {
		t.Fatal("second slot of one")
	}
	got := make(chan error, 1)
	go func() { got <- l.acquire(context.Background()) }()
	l.setLimit(2) // more replicas: the waiter gets in
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	l.release()
	l.release()
}
