package connector

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/infra/connector/control"
	"github.com/mysimbdp/mysimbdp/infra/connector/stream"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// streamCall is one line the stream test function wrote.
type streamCall struct {
	Tenant   string   `json:"tenant"`
	Topic    string   `json:"topic"`
	Header   string   `json:"header_tenant"`
	Delivery string   `json:"delivery"`
	Status   int      `json:"status"`
	IDs      []string `json:"ids"`
	Subjects []string `json:"subjects"`
	Failed   []string `json:"failed"`
	Error    string   `json:"error"`
	// Encodings and Payloads: per record, "json" (raw), "data" (base64)
	// or "both", and the payload.
	Encodings []string `json:"encodings"`
	Payloads  []string `json:"payloads"`
}

func streamCalls(t *testing.T, dir string) []streamCall {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "calls.ndjson"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []streamCall
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		var c streamCall
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			break // the function may be writing this very line
		}
		out = append(out, c)
	}
	return out
}

// acked returns the ids the function took (answered 200 and did not
// report failed), with how often.
func acked(calls []streamCall) map[string]int {
	out := map[string]int{}
	for _, c := range calls {
		if c.Status != 200 {
			continue
		}
		for _, id := range c.IDs {
			bad := false
			for _, f := range c.Failed {
				bad = bad || f == id
			}
			if !bad {
				out[id]++
			}
		}
	}
	return out
}

// createTenantStream stands in for tenant provisioning.
func (e *env) createTenantStream(tenant string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: contract.TenantStream(tenant), Subjects: []string{contract.TenantSubjects(tenant)}, Storage: jetstream.FileStorage,
	}); err != nil {
		e.t.Fatalf("create stream of %s: %v", tenant, err)
	}
}

// deployStream deploys the stream test function and returns its folder.
func (e *env) deployStream(name, tenant, topic string, ann, env map[string]string) string {
	e.t.Helper()
	dir := e.t.TempDir()
	envVars := map[string]string{"STREAMFN_DIR": dir, "exec_timeout": "30s", "write_timeout": "30s", "read_timeout": "30s"}
	for k, v := range env {
		envVars[k] = v
	}
	labels := map[string]string{contract.LabelTenant: tenant}
	annotations := map[string]string{contract.AnnotationTopic: topic}
	for k, v := range ann {
		annotations[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.gw.Deploy(ctx, types.FunctionDeployment{
		Service: name, Image: streamImage, EnvVars: envVars, Labels: &labels, Annotations: &annotations,
	}); err != nil {
		e.t.Fatalf("deploy %s: %v", name, err)
	}
	return dir
}

// publishRecords publishes n records to subject as fast as JetStream takes
// them (async, acks awaited at the end) and returns their ids: even ones
// carry a Nats-Msg-Id, odd ones are known by stream:sequence.
func (e *env) publishRecords(subject string, n int, data func(i int) string) []string {
	e.t.Helper()
	stream := contract.TenantStream(strings.Split(subject, ".")[1])
	futures := make([]jetstream.PubAckFuture, n)
	ids := make([]string, n)
	for i := range n {
		m := nats.NewMsg(subject)
		m.Data = []byte(data(i))
		if i%2 == 0 {
			ids[i] = fmt.Sprintf("%s-%d-%d", subject, time.Now().UnixNano(), i)
			m.Header.Set(jetstream.MsgIDHeader, ids[i])
		}
		f, err := e.js.PublishMsgAsync(m)
		if err != nil {
			e.t.Fatalf("publish %d: %v", i, err)
		}
		futures[i] = f
	}
	select {
	case <-e.js.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
		e.t.Fatal("publish acks did not come within 10s")
	}
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ids[i] == "" {
				ids[i] = fmt.Sprintf("%s:%d", stream, ack.Sequence)
			}
		case err := <-f.Err():
			e.t.Fatalf("publish %d: %v", i, err)
		}
	}
	return ids
}

func (e *env) consumerInfo(tenant, fn string) (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cons, err := e.js.Consumer(ctx, contract.TenantStream(tenant), stream.ConsumerName(fn, defaultNS))
	if err != nil {
		return nil, err
	}
	return cons.Info(ctx)
}

// waitDrained waits until the function's consumer has nothing left:
// nothing undelivered, nothing awaiting an outcome.
func (e *env) waitDrained(tenant, fn string, timeout time.Duration) {
	e.t.Helper()
	harness.Until(e.t, timeout, fn+"'s consumer to drain", func() (bool, string) {
		info, err := e.consumerInfo(tenant, fn)
		if err != nil {
			return false, err.Error()
		}
		return info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0,
			fmt.Sprintf("pending %d, ack pending %d, redelivered %d", info.NumPending, info.NumAckPending, info.NumRedelivered)
	})
}

// waitAcked waits until the function took every id.
func waitAcked(t *testing.T, dir string, ids []string, timeout time.Duration) {
	t.Helper()
	harness.Until(t, timeout, "every record to be taken", func() (bool, string) {
		got := acked(streamCalls(t, dir))
		missing := 0
		for _, id := range ids {
			if got[id] == 0 {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d missing", missing, len(ids))
	})
}

// runConnector runs a connector that the test can stop (as a crash or a
// restart would); it is stopped at cleanup if still running.
func (e *env) runConnector(mutate ...func(*Config)) (c *Connector, stop func()) {
	e.t.Helper()
	cfg := testConfig(e.nats.ClientURL())
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg, e.gw, testLogger(e.t).With("test", "connector"))
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				e.t.Errorf("Run did not return 20s after cancel")
			}
		})
	}
	e.t.Cleanup(stop)
	e.conn = c
	return c, stop
}

// TestStreamDelivery: 2000 records published at speed reach tenant1's
// function in batches no larger than its batch size, every one acked; a
// poison record is dead-lettered with its reason after MaxAttempts while
// its neighbours are acked; a 500 and a 429 on the way are retried; and
// tenant2's functions never see a record of tenant1.
func TestStreamDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createTenantStream("tenant1")
	e.createTenantStream("tenant2")
	dir1 := e.deployStream("t1-stream", "tenant1", "ingest.tenant1.>",
		map[string]string{contract.AnnotationBatchSize: "50", contract.AnnotationBatchWindow: "20ms", contract.AnnotationMaxInflight: "2"}, nil)
	dirNarrow := e.deployStream("t1-narrow", "tenant1", "ingest.tenant1.narrow.*", nil, nil)
	dir2 := e.deployStream("t2-stream", "tenant2", "ingest.tenant2.>", nil, nil)
	// Declares tenant1's subjects but belongs to tenant2: never routed.
	dirEvil := e.deployStream("t2-evil", "tenant2", "ingest.tenant1.>, ingest.tenant2.other", nil, nil)
	e.runConnector()

	const n = 2000
	ids := e.publishRecords("ingest.tenant1.covid", n, func(i int) string {
		switch i {
		case 700:
			return `{"i":700,"note":"poison"}`
		case 900:
			return `{"i":900,"note":"crash-once"}`
		case 1300:
			return `{"i":1300,"note":"defer-once"}`
		}
		return fmt.Sprintf(`{"i":%d}`, i)
	})
	poison := ids[700]
	good := append(append([]string{}, ids[:700]...), ids[701:]...)
	narrow := e.publishRecords("ingest.tenant1.narrow.x", 10, func(i int) string { return "n" })
	t2 := e.publishRecords("ingest.tenant2.covid", 20, func(i int) string { return "t2" })
	t2other := e.publishRecords("ingest.tenant2.other", 5, func(i int) string { return "t2o" })

	waitAcked(t, dir1, append(good, narrow...), 40*time.Second)
	waitAcked(t, dirNarrow, narrow, 20*time.Second)
	waitAcked(t, dir2, append(t2, t2other...), 20*time.Second)
	waitAcked(t, dirEvil, t2other, 20*time.Second)
	harness.Until(t, 20*time.Second, "the poison record's dead letter", func() (bool, string) {
		return e.deadLetter("tenant1") != nil, "none yet"
	})
	e.waitDrained("tenant1", "t1-stream", 20*time.Second)
	e.waitDrained("tenant1", "t1-narrow", 10*time.Second)
	e.waitDrained("tenant2", "t2-stream", 10*time.Second)

	calls1 := streamCalls(t, dir1)
	sawCrash, sawDefer := false, false
	for _, c := range calls1 {
		if len(c.IDs) > 50 {
			t.Errorf("batch of %d records, batch size is 50", len(c.IDs))
		}
		if c.Error != "" && !strings.HasPrefix(c.Error, "crash-once") {
			t.Errorf("function refused a batch: %s", c.Error)
		}
		sawCrash = sawCrash || c.Status == 500
		sawDefer = sawDefer || c.Status == 429
		if c.Tenant != "tenant1" || c.Header != "tenant1" || c.Topic != "ingest.tenant1.>" {
			t.Errorf("call with tenant %q, header %q, topic %q", c.Tenant, c.Header, c.Topic)
		}
	}
	if !sawCrash || !sawDefer {
		t.Errorf("saw a 500: %v, a 429: %v; want both", sawCrash, sawDefer)
	}
	if got := acked(calls1)[poison]; got != 0 {
		t.Errorf("poison record acked %d times", got)
	}
	for _, c := range streamCalls(t, dirNarrow) {
		for _, s := range c.Subjects {
			if !strings.HasPrefix(s, "ingest.tenant1.narrow.") {
				t.Errorf("t1-narrow got a record of %s", s)
			}
		}
	}
	for name, dir := range map[string]string{"t2-stream": dir2, "t2-evil": dirEvil} {
		for _, c := range streamCalls(t, dir) {
			if c.Tenant != "tenant2" {
				t.Errorf("%s got a batch of tenant %q", name, c.Tenant)
			}
			for _, s := range c.Subjects {
				if !strings.HasPrefix(s, "ingest.tenant2.") {
					t.Errorf("%s got a record of %s", name, s)
				}
			}
		}
	}
	if _, err := e.consumerInfo("tenant1", "t2-evil"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("t2-evil's consumer on tenant1's stream: err = %v, want not found", err)
	}

	dl := e.deadLetter("tenant1")
	if dl == nil {
		t.Fatal("no dead letter for tenant1")
	}
	for k, want := range map[string]string{
		contract.DeadLetterHeaderRecordID: poison, contract.DeadLetterHeaderAttempts: "3", contract.DeadLetterHeaderFunction: "t1-stream." + defaultNS, contract.DeadLetterHeaderTenant: "tenant1",
		contract.DeadLetterHeaderSubject: "ingest.tenant1.covid", contract.DeadLetterHeaderStream: "ingest-tenant1", contract.DeadLetterHeaderLastStatus: "200",
	} {
		if got := dl.Header.Get(k); got != want {
			t.Errorf("dead letter %s = %q, want %q", k, got, want)
		}
	}
	if r := dl.Header.Get(contract.DeadLetterHeaderReason); !strings.Contains(r, "poison record") || !strings.Contains(r, "gave up after 3 attempts") {
		t.Errorf("dead-letter reason %q", r)
	}
	if string(dl.Data) != `{"i":700,"note":"poison"}` {
		t.Errorf("dead letter body %q is not the record", dl.Data)
	}

	m := e.metricsText()
	for _, want := range []string{
		`mysimbdp_connector_stream_records_total{function_name="t1-stream.openfaas-fn",outcome="dead_lettered"} 1`,
		`mysimbdp_connector_stream_batch_size_count{function_name="t1-stream.openfaas-fn"}`,
		`mysimbdp_connector_stream_records_total{function_name="t1-stream.openfaas-fn",outcome="deferred"}`,
		`mysimbdp_connector_stream_consumers 4`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Log(m)
	}
}

// TestStreamPause: a paused tenant's records stay queued in JetStream;
// resuming delivers them all.
func TestStreamPause(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createTenantStream("tenant3")
	dir := e.deployStream("t3-stream", "tenant3", "ingest.tenant3.>", map[string]string{contract.AnnotationBatchSize: "10"}, nil)
	e.runConnector()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Live first, so that silence later means the pause.
	first := e.publishRecords("ingest.tenant3.a", 10, func(int) string { return "x" })
	waitAcked(t, dir, first, 20*time.Second)

	if err := control.Pause(ctx, e.js, "tenant3"); err != nil {
		t.Fatal(err)
	}
	if p, err := control.Paused(ctx, e.js, "tenant3"); err != nil || !p {
		t.Fatalf("Paused = %v, %v; want true", p, err)
	}
	harness.Until(t, 5*time.Second, "the connector to see the pause", func() (bool, string) {
		m := e.metricsText()
		return strings.Contains(m, `mysimbdp_connector_tenant_paused{tenant="tenant3"} 1`) && strings.Contains(m, "mysimbdp_connector_paused_tenants 1"), "not paused"
	})
	// A pull sent just before the pause expires within FetchWait.
	harness.Until(t, 5*time.Second, "no pull waiting", func() (bool, string) {
		info, err := e.consumerInfo("tenant3", "t3-stream")
		if err != nil {
			return false, err.Error()
		}
		return info.NumWaiting == 0, fmt.Sprintf("%d pulls waiting", info.NumWaiting)
	})
	before := len(streamCalls(t, dir))
	rest := e.publishRecords("ingest.tenant3.a", 100, func(int) string { return "y" })
	// The server counts a consumer's pending records a moment after it
	// acked their publish; held back, all 100 are counted.
	harness.Until(t, 5*time.Second, "the 100 records to be pending", func() (bool, string) {
		info, err := e.consumerInfo("tenant3", "t3-stream")
		if err != nil {
			return false, err.Error()
		}
		return info.NumPending == 100, fmt.Sprintf("pending %d, ack pending %d", info.NumPending, info.NumAckPending)
	})
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		info, err := e.consumerInfo("tenant3", "t3-stream")
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending != 100 || info.NumAckPending != 0 {
			t.Fatalf("while paused: pending %d, ack pending %d; want 100, 0", info.NumPending, info.NumAckPending)
		}
	}
	if n := len(streamCalls(t, dir)); n != before {
		t.Fatalf("function called %d times while paused", n-before)
	}

	if err := control.Resume(ctx, e.js, "tenant3"); err != nil {
		t.Fatal(err)
	}
	if p, err := control.Paused(ctx, e.js, "tenant3"); err != nil || p {
		t.Fatalf("Paused after Resume = %v, %v; want false", p, err)
	}
	waitAcked(t, dir, rest, 20*time.Second)
	e.waitDrained("tenant3", "t3-stream", 10*time.Second)
	if m := e.metricsText(); !strings.Contains(m, `mysimbdp_connector_tenant_paused{tenant="tenant3"} 0`) {
		t.Error("tenant3 still shown paused")
	}
}

// TestStreamRestart: a connector stopped in the middle of a stream (its
// in-flight batches interrupted), then a consumer that fetched records and
// died without settling them; a new connector resumes the same durable
// consumer and every record is delivered.
func TestStreamRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createTenantStream("tenant4")
	dir := e.deployStream("t4-stream", "tenant4", "ingest.tenant4.>",
		map[string]string{contract.AnnotationBatchSize: "20", contract.AnnotationMaxInflight: "2"}, map[string]string{"STREAMFN_SLEEP": "150ms"})
	ids := e.publishRecords("ingest.tenant4.a", 300, func(i int) string { return fmt.Sprint(i) })

	// First life: stop it mid-stream, with too short a shutdown for the
	// batches in flight, as a kill would.
	_, stop := e.runConnector(func(c *Config) { c.ShutdownTimeout = 10 * time.Millisecond })
	harness.Until(t, 20*time.Second, "some batches delivered", func() (bool, string) {
		n := len(acked(streamCalls(t, dir)))
		return n >= 60, fmt.Sprintf("%d taken", n)
	})
	stop()
	taken := len(acked(streamCalls(t, dir)))
	if taken >= len(ids) {
		t.Fatalf("all %d records taken before the stop; the test proves nothing", taken)
	}

	// A crash after a pull: records handed out and never settled.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := e.js.Consumer(ctx, contract.TenantStream("tenant4"), stream.ConsumerName("t4-stream", defaultNS))
	if err != nil {
		t.Fatal(err)
	}
	b, err := cons.Fetch(25, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	abandoned := 0
	for range b.Messages() {
		abandoned++
	}
	if abandoned == 0 {
		t.Fatal("nothing left to abandon")
	}
	more := e.publishRecords("ingest.tenant4.b", 50, func(i int) string { return fmt.Sprint(i) })

	// Second life.
	e.runConnector()
	waitAcked(t, dir, append(ids, more...), 30*time.Second)
	e.waitDrained("tenant4", "t4-stream", 10*time.Second)
	t.Logf("%d records taken before the stop, %d abandoned by a crashed puller", taken, abandoned)
}

// TestStreamRecordEncoding: a function deployed with record-encoding
// raw-json gets each payload that is one JSON object as "json", as
// published; every other payload, and every payload of a function that did
// not ask (a tenant's own app written for base64), comes as "data".
func TestStreamRecordEncoding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createTenantStream("tenant1")
	dirJSON := e.deployStream("t1-rawjson", "tenant1", "ingest.tenant1.>",
		map[string]string{contract.AnnotationRecordEncoding: contract.RecordEncodingJSON}, nil)
	dirB64 := e.deployStream("t1-base64", "tenant1", "ingest.tenant1.>", nil, nil)
	dirB64Asked := e.deployStream("t1-base64-asked", "tenant1", "ingest.tenant1.>",
		map[string]string{contract.AnnotationRecordEncoding: contract.RecordEncodingBase64}, nil)
	e.runConnector()

	payloads := []struct {
		data string
		// asJSON: a raw-json function gets it as "json" (the payload less
		// the whitespace around it).
		asJSON bool
	}{
		{`{"i":0,"geo":"AF","cases":-20}`, true},
		{` {"nested":{"a":[1,{"b":null}]},"s":"<é>\u00e9"}` + "\n", true},
		{`[{"i":2}]`, false},
		{`"a string"`, false},
		{`42`, false},
		{`not json`, false},
		{`{"cut":`, false},
		{`{"a":1}{"b":2}`, false},
		{"\x00\x01{\x7f", false}, // bytes (valid UTF-8: calls.ndjson is JSON)
	}
	ids := e.publishRecords("ingest.tenant1.enc", len(payloads), func(i int) string { return payloads[i].data })
	for _, dir := range []string{dirJSON, dirB64, dirB64Asked} {
		waitAcked(t, dir, ids, 20*time.Second)
	}

	for _, tc := range []struct {
		fn, dir string
		rawJSON bool
	}{{"t1-rawjson", dirJSON, true}, {"t1-base64", dirB64, false}, {"t1-base64-asked", dirB64Asked, false}} {
		got := map[string][2]string{} // id -> encoding, payload
		for _, c := range streamCalls(t, tc.dir) {
			for i, id := range c.IDs {
				got[id] = [2]string{c.Encodings[i], c.Payloads[i]}
			}
		}
		for i, p := range payloads {
			wantEnc, wantPayload := "data", p.data
			if tc.rawJSON && p.asJSON {
				wantEnc, wantPayload = "json", strings.TrimSpace(p.data)
			}
			if g := got[ids[i]]; g[0] != wantEnc || g[1] != wantPayload {
				t.Errorf("%s: record %d came as %s %q, want %s %q", tc.fn, i, g[0], g[1], wantEnc, wantPayload)
			}
		}
	}
}
