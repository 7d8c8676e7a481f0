package connector

import (
	"context"
	"encoding/json"
	"github.com/mysimbdp/mysimbdp/shared/quota"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"
)

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
			map[string]string{BatchSizeAnnotation: "5000", BatchWindowAnnotation: "1s", MaxInflightAnnotation: "2"}),
		streamFn("c", "t1", "ingest.t1.>", 1, map[string]string{BatchSizeAnnotation: "zero", BatchWindowAnnotation: "-1s", MaxInflightAnnotation: "0"}),
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
	want := []string{StreamConsumerPrefix + "a_openfaas-fn", StreamConsumerPrefix + "b_openfaas-fn", StreamConsumerPrefix + "c_openfaas-fn",
		StreamConsumerPrefix + "mixed_openfaas-fn", StreamConsumerPrefix + "stats_openfaas-fn"}
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

func TestTopicOwner(t *testing.T) {
	for topic, want := range map[string]string{"s3:b": "b", "ingest.t1.>": "t1", "ingest.*.x": "*", "ingest..x": "(none)", "other": ""} {
		got, ok := topicOwner(topic)
		if got != want || ok != (want != "") {
			t.Errorf("topicOwner(%q) = %q, %v", topic, got, ok)
		}
	}
	rt := buildRoutes([]types.FunctionStatus{fn("evil", "", "t2", "ingest.t1.>"), fn("wild", "", "t2", "ingest.*.>")})
	if len(rt.misconfig) != 2 {
		t.Errorf("misconfigured = %+v, want both", rt.misconfig)
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

func TestStreamConsumerName(t *testing.T) {
	if got := StreamConsumerName("fn", "ns"); got != "mysimbdp-stream-fn_ns" {
		t.Errorf("got %q", got)
	}
	a, b := StreamConsumerName("a.b", "ns"), StreamConsumerName("a_b", "ns")
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
	b, err := json.Marshal(StreamBatch{Tenant: "t", Records: []StreamRecord{{ID: "i", Subject: "s", Headers: map[string][]string{"Nats-Msg-Id": {"i"}}, Data: []byte("x"), PublishedAt: time.Unix(0, 0).UTC()}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"tenant":"t","records":[{"id":"i","subject":"s","headers":{"Nats-Msg-Id":["i"]},"data":"eA==","published_at":"1970-01-01T00:00:00Z"}]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var r StreamResponse
	if err := json.Unmarshal([]byte(`{"batchItemFailures":[{"itemIdentifier":"i","reason":"r"}]}`), &r); err != nil || r.BatchItemFailures[0] != (BatchItemFailure{ItemIdentifier: "i", Reason: "r"}) {
		t.Errorf("response %+v, %v", r, err)
	}
}

func TestPauseBoard(t *testing.T) {
	b := newPauseBoard()
	p, ch := b.state("t")
	if p {
		t.Fatal("paused at start")
	}
	if !b.set("t", true) || b.set("t", true) {
		t.Error("set reports changes wrongly")
	}
	select {
	case <-ch:
	default:
		t.Fatal("change not signalled")
	}
	if p, _ := b.state("t"); !p || b.count() != 1 {
		t.Error("not paused")
	}
	changed := b.replace(map[string]bool{"u": true})
	if len(changed) != 2 || changed["t"] || !changed["u"] || b.count() != 1 {
		t.Errorf("replace changed %v", changed)
	}
	for v, want := range map[string]bool{"true": true, " TRUE\n": true, "false": false, "yes": false, "": false} {
		if pausedValue([]byte(v)) != want {
			t.Errorf("pausedValue(%q) != %v", v, want)
		}
	}
	if _, err := pausedKey("a.b"); err == nil {
		t.Error("dotted tenant accepted")
	}
}

func TestPauseBoardQuota(t *testing.T) {
	b := newPauseBoard()
	defer b.stop()
	held, ch := b.state("t")
	if held {
		t.Fatal("held at start")
	}
	until := time.Now().Add(300 * time.Millisecond)
	if !b.setDecision("t", quota.Decision{Tenant: "t", State: quota.Throttled, Until: until, Reason: "over"}) {
		t.Fatal("throttle not reported as a change")
	}
	<-ch // signalled by the decision
	held, ch = b.state("t")
	if d, holds := b.decision("t"); !held || !holds || d.Reason != "over" {
		t.Fatalf("throttled tenant: held %v, decision %+v %v", held, d, holds)
	}
	if other, _ := b.state("u"); other {
		t.Error("another tenant is held")
	}
	select { // the throttle runs out by itself
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("end of the throttle not signalled")
	}
	if held, _ := b.state("t"); held || time.Now().Before(until) {
		t.Errorf("held %v after the throttle's end", held)
	}
	b.setDecision("t", quota.Decision{Tenant: "t", State: quota.Blocked, Reason: "storage"})
	if held, _ := b.state("t"); !held {
		t.Error("a block without end does not hold")
	}
	if changed := b.replaceDecisions(map[string]quota.Decision{}); len(changed) != 1 {
		t.Errorf("replace with none changed %v", changed)
	}
	if held, _ := b.state("t"); held {
		t.Error("held after its decision was deleted")
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
