package connector

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/infra/build/images"
	"github.com/mysimbdp/mysimbdp/infra/local/natsd"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/tests/harness"
	"github.com/mysimbdp/mysimbdp/tests/harness/localgw"
)

const (
	testImage   = "mysimbdp/s3fn:1"
	streamImage = "mysimbdp/streamfn:1"
	testUser    = localgw.User
	testPass    = localgw.Password
	defaultNS   = "openfaas-fn"
)

// imagesDir holds the test function, built once per test binary and only
// read by the tests.
var imagesDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "connector-test-images-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	imagesDir = tmp
	exe, err := images.Path(imagesDir, testImage)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	streamExe, err := images.Path(imagesDir, streamImage)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for pkg, out := range map[string]string{"./testdata/s3fn": exe, "./testdata/streamfn": streamExe} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build test function", pkg+":", err)
			return 1
		}
	}
	return m.Run()
}

// testWriter sends logs to the test's log, shown on failure.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// env is one NATS server, one provider behind an HTTP server, and a
// connector, each with its own folders and ports.
type env struct {
	t     *testing.T
	nats  *natsd.Server
	gw    *gateway.Client
	gwURL string
	js    jetstream.JetStream
	conn  *Connector
}

func testConfig(natsURL string) Config {
	return Config{
		NATSURL:         natsURL,
		MaxAttempts:     3,
		BackoffInitial:  50 * time.Millisecond,
		BackoffMax:      200 * time.Millisecond,
		AckWait:         time.Second,
		RefreshInterval: 200 * time.Millisecond,
		InvokeTimeout:   20 * time.Second,
		MaxConcurrent:   4,
		MaxAckPending:   64,
		FetchWait:       300 * time.Millisecond,
		ShutdownTimeout: 10 * time.Second,
	}
}

func newEnv(t *testing.T) *env {
	t.Helper()
	log := testLogger(t)
	ns, err := natsd.Start(context.Background(), natsd.Config{StoreDir: t.TempDir()}, log.With("test", "nats"))
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(ns.Shutdown)

	gw, gwURL := localgw.Start(t, imagesDir, log.With("test", "provider").WithGroup("p"))
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, nats: ns, gw: gw, gwURL: gwURL, js: js}
}

// start runs a connector until the test ends; cleanup checks that Run
// returns promptly once cancelled.
func (e *env) start(mutate ...func(*Config)) {
	e.t.Helper()
	cfg := testConfig(e.nats.ClientURL())
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg, e.gw, testLogger(e.t).With("test", "connector"))
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.EnsureStreams(ctx, e.js); err != nil {
		e.t.Fatalf("EnsureStreams: %v", err)
	}
	// Twice: it must be idempotent.
	if err := c.EnsureStreams(ctx, e.js); err != nil {
		e.t.Fatalf("EnsureStreams again: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	e.t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			e.t.Errorf("Run did not return 20s after cancel")
		}
	})
	e.conn = c
}

// fnSpec is a test function: its name, namespace, tenant label, topic
// annotation and behaviour.
type fnSpec struct {
	name, namespace, tenant, topic string
	env                            map[string]string
}

// deploy deploys a test function and returns the folder its calls land in.
func (e *env) deploy(s fnSpec) string {
	e.t.Helper()
	dir := e.t.TempDir()
	envVars := map[string]string{"S3FN_DIR": dir, "exec_timeout": "30s", "write_timeout": "30s", "read_timeout": "30s"}
	for k, v := range s.env {
		envVars[k] = v
	}
	labels := map[string]string{}
	if s.tenant != "" {
		labels[contract.LabelTenant] = s.tenant
	}
	ann := map[string]string{}
	if s.topic != "" {
		ann[contract.AnnotationTopic] = s.topic
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := e.gw.Deploy(ctx, types.FunctionDeployment{
		Service: s.name, Namespace: s.namespace, Image: testImage, EnvVars: envVars,
		Labels: &labels, Annotations: &ann,
	})
	if err != nil {
		e.t.Fatalf("deploy %s: %v", s.name, err)
	}
	return dir
}

// createNamespace creates an OpenFaaS namespace (the gateway client has no
// call for it; faas-cli does not either).
func (e *env) createNamespace(name string) {
	e.t.Helper()
	body, _ := json.Marshal(types.FunctionNamespace{Name: name, Labels: map[string]string{"openfaas": "1"}})
	req, err := http.NewRequest(http.MethodPost, e.gwURL+"/system/namespace/"+name, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.SetBasicAuth(testUser, testPass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("create namespace %s: %d %s", name, resp.StatusCode, b)
	}
}

// s3Event is the JSON MinIO publishes for one object; like MinIO it
// query-escapes the object key.
func s3Event(event, bucket, key string) []byte {
	return fmt.Appendf(nil, `{"EventName":%q,"Key":%q,"Records":[{"eventVersion":"2.0","eventSource":"minio:s3","awsRegion":"","eventTime":"2025-05-01T10:00:00.000Z","eventName":%q,"userIdentity":{"principalId":"minio"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},"responseElements":{},"s3":{"s3SchemaVersion":"1.0","configurationId":"Config","bucket":{"name":%q,"ownerIdentity":{"principalId":"minio"},"arn":"arn:aws:s3:::%s"},"object":{"key":%q,"size":10,"eTag":"abc","contentType":"text/csv","sequencer":"18"}}}]}`,
		event, bucket+"/"+key, event, bucket, bucket, url.QueryEscape(key))
}

// publish stores an event in the S3 events stream and returns its sequence.
func (e *env) publish(body []byte) uint64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := e.js.Publish(ctx, contract.S3EventsSubject, body)
	if err != nil {
		e.t.Fatalf("publish event: %v", err)
	}
	return ack.Sequence
}

type call struct {
	N       int               `json:"n"`
	Method  string            `json:"method"`
	URI     string            `json:"uri"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// calls reads what a test function recorded.
func calls(t *testing.T, dir string) []call {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "calls.ndjson"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []call
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var c call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			// The function may be writing this very line.
			break
		}
		out = append(out, c)
	}
	return out
}

// waitIdle waits until the consumer has delivered every event up to seq
// and has no outcome pending: nothing is left to be redelivered.
func (e *env) waitIdle(seq uint64, timeout time.Duration) *jetstream.ConsumerInfo {
	e.t.Helper()
	var info *jetstream.ConsumerInfo
	harness.Until(e.t, timeout, "the connector to settle every event", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cons, err := e.js.Consumer(ctx, contract.S3EventsStream, contract.S3EventsDurable)
		if err != nil {
			return false, err.Error()
		}
		info, err = cons.Info(ctx)
		if err != nil {
			return false, err.Error()
		}
		return info.AckFloor.Stream >= seq && info.NumAckPending == 0 && info.NumPending == 0,
			fmt.Sprintf("ack floor %d, ack pending %d, pending %d", info.AckFloor.Stream, info.NumAckPending, info.NumPending)
	})
	return info
}

// deadLetter returns the last dead letter of a tenant, if any.
func (e *env) deadLetter(tenant string) *jetstream.RawStreamMsg {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, contract.DeadLetterStream)
	if err != nil {
		e.t.Fatalf("dead-letter stream: %v", err)
	}
	m, err := s.GetLastMsgForSubject(ctx, contract.DeadLetterSubjectPrefix+"."+tenant)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatalf("read dead letter of %s: %v", tenant, err)
	}
	return m
}

// metricsText scrapes the connector's /metrics handler.
func (e *env) metricsText() string {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.conn.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}
