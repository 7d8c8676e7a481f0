package deadletter_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/infra/build/images"
	"github.com/mysimbdp/mysimbdp/infra/connector"
	"github.com/mysimbdp/mysimbdp/infra/deadletter"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/tests/harness"
	"github.com/mysimbdp/mysimbdp/tests/harness/localgw"
)

const (
	fnImage     = "mysimbdp/dlfn:1"
	maxAttempts = 3
)

// imagesDir holds the test function, built once per test binary.
var imagesDir string

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "deadletter-test-images-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	imagesDir = tmp
	exe, err := images.Path(imagesDir, fnImage)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cmd := exec.Command("go", "build", "-o", exe, "./testdata/dlfn")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build test function:", err)
		return 1
	}
	return m.Run()
}

// env is a NATS server, a provider and a connector, as the local stack
// wires them, plus a Store.
type env struct {
	t     *testing.T
	url   string
	gw    *gateway.Client
	js    jetstream.JetStream
	store *deadletter.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	log := harness.Logger(t, slog.LevelInfo)
	ns := harness.NATS(t)
	gw, _ := localgw.Start(t, imagesDir, log.With("part", "provider"))
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, url: ns.ClientURL(), gw: gw, js: js, store: deadletter.New(js, deadletter.Config{})}
}

// start runs the connector until the test ends. Tests deploy their
// functions first, so that its first function list has them: an event
// with no subscriber yet would spend an attempt.
func (e *env) start() {
	e.t.Helper()
	c, err := connector.New(connector.Config{
		NATSURL:     e.url,
		MaxAttempts: maxAttempts, BackoffInitial: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		AckWait: time.Second, RefreshInterval: 200 * time.Millisecond, InvokeTimeout: 20 * time.Second,
		MaxConcurrent: 4, MaxAckPending: 64, FetchWait: 300 * time.Millisecond, ShutdownTimeout: 10 * time.Second,
	}, e.gw, harness.Logger(e.t, slog.LevelInfo).With("part", "connector"))
	if err != nil {
		e.t.Fatalf("connector: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.EnsureStreams(ctx, e.js); err != nil {
		e.t.Fatalf("EnsureStreams: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	e.t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("connector Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			e.t.Errorf("connector Run did not return 20s after cancel")
		}
	})
}

// tenant provisions tenant's stream and deploys its function, subscribed
// to its bucket's events and its records; it returns the function's folder.
func (e *env) tenant(tenant string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: contract.TenantStream(tenant), Subjects: []string{contract.TenantSubjects(tenant)}, Storage: jetstream.FileStorage,
	}); err != nil {
		e.t.Fatalf("create stream of %s: %v", tenant, err)
	}
	dir := e.t.TempDir()
	labels := map[string]string{contract.LabelTenant: tenant}
	ann := map[string]string{contract.AnnotationTopic: "s3:" + tenant + "," + contract.TenantSubjects(tenant), contract.AnnotationBatchWindow: "100ms"}
	if err := e.gw.Deploy(ctx, types.FunctionDeployment{
		Service: tenant + "-ingest", Image: fnImage, Labels: &labels, Annotations: &ann,
		EnvVars: map[string]string{"DLFN_DIR": dir, "exec_timeout": "30s", "write_timeout": "30s", "read_timeout": "30s"},
	}); err != nil {
		e.t.Fatalf("deploy %s's function: %v", tenant, err)
	}
	return dir
}

// s3Event is the JSON MinIO publishes for one object.
func s3Event(bucket, key string) []byte {
	return fmt.Appendf(nil, `{"EventName":"s3:ObjectCreated:Put","Key":%q,"Records":[{"eventVersion":"2.0","eventSource":"minio:s3","eventTime":"2025-05-01T10:00:00.000Z","eventName":"s3:ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","bucket":{"name":%q},"object":{"key":%q,"size":10}}}]}`,
		bucket+"/"+key, bucket, url.QueryEscape(key))
}

func (e *env) publish(msg *nats.Msg) *jetstream.PubAck {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := e.js.PublishMsg(ctx, msg)
	if err != nil {
		e.t.Fatalf("publish to %s: %v", msg.Subject, err)
	}
	return ack
}

// letters waits until tenant has n dead letters and returns them.
func (e *env) letters(tenant string, n int) []deadletter.Letter {
	e.t.Helper()
	var ls []deadletter.Letter
	harness.Until(e.t, 30*time.Second, fmt.Sprintf("%d dead letters of %q", n, tenant), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		if ls, err = e.store.List(ctx, tenant); err != nil {
			return false, err.Error()
		}
		return len(ls) == n, fmt.Sprintf("%d letters: %+v", len(ls), ls)
	})
	return ls
}

// idle waits until every consumer of stream has nothing pending and
// nothing unacked: the connector is done with what is stored there.
func (e *env) idle(stream string) {
	e.t.Helper()
	harness.Until(e.t, 30*time.Second, "consumers of "+stream+" to be idle", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := e.js.Stream(ctx, stream)
		if err != nil {
			return false, err.Error()
		}
		var state []string
		busy := false
		for ci := range s.ListConsumers(ctx).Info() {
			busy = busy || ci.NumPending > 0 || ci.NumAckPending > 0
			state = append(state, fmt.Sprintf("%s pending %d ack pending %d", ci.Name, ci.NumPending, ci.NumAckPending))
		}
		return !busy && len(state) > 0, strings.Join(state, "; ")
	})
}

// fix makes the functions of the folder dir work from now on.
func fix(t *testing.T, dir string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "fixed"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// call is one line of the test function's calls.ndjson.
type call struct {
	Topic    string   `json:"topic"`
	EventID  string   `json:"event_id"`
	Delivery string   `json:"delivery"`
	Fixed    bool     `json:"fixed"`
	Body     string   `json:"body"`
	IDs      []string `json:"ids"`
}

// lines decodes the JSON lines of dir/name into T values.
func lines[T any](t *testing.T, dir, name string) []T {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			break // the function may be writing this very line
		}
		out = append(out, v)
	}
	return out
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// An S3 event whose function failed MaxAttempts times is dead-lettered;
// replayed once the function works, it reaches the function as a new
// event, delivery 1, and the letter is gone.
func TestReplayS3Event(t *testing.T) {
	e := newEnv(t)
	dir := e.tenant("t1")
	e.start()
	body := s3Event("t1", "incoming/a b.csv")
	orig := e.publish(&nats.Msg{Subject: contract.S3EventsSubject, Data: body})

	ls := e.letters("t1", 1)
	l := ls[0]
	if l.Kind != deadletter.KindS3 || l.What != "t1/incoming/a b.csv" || l.Attempts != maxAttempts || l.Tenant != "t1" ||
		l.Function != "t1-ingest.openfaas-fn" || l.LastStatus != 500 || l.Seq != orig.Sequence || !strings.Contains(l.Reason, "broken") {
		t.Fatalf("letter = %+v", l)
	}
	got, err := e.store.Get(ctx(t), l.ID)
	if err != nil || string(got.Body) != string(body) {
		t.Fatalf("Get = %+v, %v; want the event's body", got, err)
	}
	if n := len(lines[call](t, dir, "calls.ndjson")); n != maxAttempts {
		t.Fatalf("function called %d times before the dead letter, want %d", n, maxAttempts)
	}

	fix(t, dir)
	r, err := e.store.Replay(ctx(t), l.ID)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if r.Stream != contract.S3EventsStream || r.Seq <= orig.Sequence || r.Duplicate {
		t.Errorf("replayed = %+v; want a new message in %s", r, contract.S3EventsStream)
	}
	harness.Until(t, 30*time.Second, "the replayed event to reach the fixed function", func() (bool, string) {
		cs := lines[call](t, dir, "calls.ndjson")
		return len(cs) > maxAttempts, fmt.Sprintf("%d calls", len(cs))
	})
	e.idle(contract.S3EventsStream)
	cs := lines[call](t, dir, "calls.ndjson")
	if len(cs) != maxAttempts+1 {
		t.Fatalf("%d calls, want %d failed and one after the replay: %+v", len(cs), maxAttempts, cs)
	}
	last := cs[maxAttempts]
	if !last.Fixed || last.Delivery != "1" || last.Body != string(body) || last.EventID == cs[0].EventID || last.EventID != fmt.Sprint(r.Seq) {
		t.Errorf("replayed call = %+v; want delivery 1 of a new event %d with the same body (first event %s)", last, r.Seq, cs[0].EventID)
	}
	if ls, err := e.store.List(ctx(t), ""); err != nil || len(ls) != 0 {
		t.Errorf("List after replay = %+v, %v; want none", ls, err)
	}
	if _, err := e.store.Replay(ctx(t), l.ID); !errors.Is(err, deadletter.ErrNotFound) {
		t.Errorf("second Replay: %v, want ErrNotFound", err)
	}
}

// Stream records dead-lettered and replayed per tenant keep their record
// id and are stored once; one whose own message is still inside the
// duplicate window is refused and stays a dead letter.
func TestReplayStreamRecords(t *testing.T) {
	e := newEnv(t)
	dir := e.tenant("t1")
	e.start()
	subject := contract.TenantSubjectPrefixOf("t1") + "orders"
	plain := e.publish(&nats.Msg{Subject: subject, Data: []byte(`{"n":1}`)})
	plainID := contract.RecordID("", plain.Stream, plain.Sequence)
	keyed := nats.NewMsg(subject)
	keyed.Data = []byte(`{"n":2}`)
	keyed.Header.Set(jetstream.MsgIDHeader, "order-2")
	keyed.Header.Set("Source", "shop")
	e.publish(keyed)

	ls := e.letters("t1", 2)
	byWhat := map[string]deadletter.Letter{}
	for _, l := range ls {
		byWhat[l.What] = l
		if l.Kind != deadletter.KindStream || l.Attempts != maxAttempts || l.Subject != subject || l.Stream != contract.TenantStream("t1") {
			t.Errorf("letter = %+v", l)
		}
	}
	if _, ok := byWhat[plainID]; !ok {
		t.Fatalf("letters %+v: none of record %s", ls, plainID)
	}
	if _, ok := byWhat["order-2"]; !ok {
		t.Fatalf("letters %+v: none of record order-2", ls)
	}
	if s := lines[string](t, dir, "stored.ndjson"); len(s) != 0 {
		t.Fatalf("stored while broken: %v", s)
	}

	fix(t, dir)
	rs, err := e.store.ReplayAll(ctx(t), "t1")
	if !errors.Is(err, deadletter.ErrInDuplicateWindow) {
		t.Errorf("ReplayAll error = %v; want order-2 refused: its message is inside the duplicate window", err)
	}
	if len(rs) != 1 || rs[0].Letter.What != plainID {
		t.Fatalf("replayed %+v; want record %s only", rs, plainID)
	}
	harness.Until(t, 30*time.Second, "the replayed record to be stored", func() (bool, string) {
		s := lines[string](t, dir, "stored.ndjson")
		return len(s) > 0, fmt.Sprint(s)
	})
	e.idle(contract.TenantStream("t1"))
	if s := lines[string](t, dir, "stored.ndjson"); !slices.Equal(s, []string{plainID}) {
		t.Errorf("stored %v, want [%s] once", s, plainID)
	}
	for _, c := range lines[call](t, dir, "calls.ndjson") {
		if c.Fixed && c.Delivery != "1" {
			t.Errorf("replayed batch %+v: delivery %s, want 1", c, c.Delivery)
		}
	}
	left, err := e.store.List(ctx(t), "t1")
	if err != nil || len(left) != 1 || left[0].What != "order-2" {
		t.Errorf("left = %+v, %v; want order-2's letter only", left, err)
	}
}

// Purging a tenant's letters leaves the other tenants'; one letter can be
// deleted by id.
func TestPurge(t *testing.T) {
	e := newEnv(t)
	e.tenant("t1")
	e.tenant("t2")
	e.start()
	for _, k := range []string{"incoming/1.csv", "incoming/2.csv"} {
		e.publish(&nats.Msg{Subject: contract.S3EventsSubject, Data: s3Event("t1", k)})
	}
	e.publish(&nats.Msg{Subject: contract.S3EventsSubject, Data: s3Event("t2", "incoming/3.csv")})
	e.letters("t1", 2)
	t2 := e.letters("t2", 1)

	gone, err := e.store.Purge(ctx(t), "t1")
	if err != nil || len(gone) != 2 {
		t.Fatalf("Purge t1 = %+v, %v; want its 2 letters", gone, err)
	}
	for _, l := range gone {
		if l.Tenant != "t1" {
			t.Errorf("purged %+v, not t1's", l)
		}
	}
	all, err := e.store.List(ctx(t), "")
	if err != nil || len(all) != 1 || all[0].ID != t2[0].ID {
		t.Fatalf("after purging t1: %+v, %v; want t2's letter only", all, err)
	}
	if l, err := e.store.Delete(ctx(t), t2[0].ID); err != nil || l.What != "t2/incoming/3.csv" {
		t.Fatalf("Delete = %+v, %v", l, err)
	}
	if gone, err := e.store.Purge(ctx(t), ""); err != nil || len(gone) != 0 {
		t.Errorf("Purge all of nothing = %+v, %v", gone, err)
	}
}

// An id that is no dead letter is a clear error, whatever the operation.
func TestUnknownID(t *testing.T) {
	ns := harness.NATS(t)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: contract.DeadLetterStream, Subjects: []string{contract.DeadLetterSubjectPrefix + ".>"}}); err != nil {
		t.Fatal(err)
	}
	s := deadletter.New(js, deadletter.Config{})
	for _, tc := range []struct {
		name string
		op   func(id uint64) error
	}{
		{"get", func(id uint64) error { _, err := s.Get(ctx(t), id); return err }},
		{"replay", func(id uint64) error { _, err := s.Replay(ctx(t), id); return err }},
		{"delete", func(id uint64) error { _, err := s.Delete(ctx(t), id); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op(42)
			if !errors.Is(err, deadletter.ErrNotFound) || !strings.Contains(err.Error(), "dead letter 42") {
				t.Errorf("err = %v; want ErrNotFound naming the id", err)
			}
		})
	}
	if _, err := s.List(ctx(t), "a.b"); err == nil {
		t.Error("List of tenant a.b: no error")
	}
}
