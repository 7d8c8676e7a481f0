package connector

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/connector/async"
	"github.com/mysimbdp/mysimbdp/infra/local/natsd"
	"github.com/mysimbdp/mysimbdp/infra/provider"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/tests/harness"
	"github.com/mysimbdp/mysimbdp/tests/harness/localgw"
)

// asyncMaxBody is the provider's bound on an asynchronous call's body in
// these tests.
const asyncMaxBody = 1 << 10

// newAsyncEnv is newEnv with a provider that stores asynchronous calls
// in the NATS server (as the local stack wires it), whose streams exist.
// storeDir is the server's JetStream folder, for a restart.
func newAsyncEnv(t *testing.T) (e *env, storeDir string) {
	t.Helper()
	log := testLogger(t)
	storeDir = t.TempDir()
	ns, err := natsd.Start(context.Background(), natsd.Config{StoreDir: storeDir}, log.With("test", "nats"))
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The provider's own connection, as the local stack makes it.
	pnc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectBufSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pnc.Close)
	pjs, err := jetstream.New(pnc)
	if err != nil {
		t.Fatal(err)
	}
	gw, gwURL := localgw.StartConfig(t, imagesDir, log.With("test", "provider").WithGroup("p"), func(c *provider.Config) {
		c.Async = async.NewPublisher(pjs, contract.AsyncStream)
		c.AsyncMaxBody = asyncMaxBody
		c.AsyncPublishTimeout = 2 * time.Second
	})
	e = &env{t: t, nats: ns, gw: gw, gwURL: gwURL, js: js}
	// The streams, as `mysimbdp up` makes them before the gateway serves.
	c, err := New(testConfig(ns.ClientURL()), gw, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.EnsureStreams(ctx, js); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	return e, storeDir
}

// postAsync invokes path (after /async-function/) asynchronously.
func (e *env) postAsync(path, body string, header http.Header) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.gwURL+"/async-function/"+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("POST /async-function/%s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// callbackReq is one request the callback receiver got.
type callbackReq struct {
	header http.Header
	body   string
}

// callbacks receives callbacks; it refuses the first one of each call
// with a 503, so that every test also shows the callback is retried.
type callbacks struct {
	url  string
	mu   sync.Mutex
	got  map[string][]callbackReq // by X-Call-Id, refused ones included
	seen map[string]bool
}

func newCallbacks(t *testing.T) *callbacks {
	c := &callbacks{got: map[string][]callbackReq{}, seen: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		id := r.Header.Get("X-Call-Id")
		c.mu.Lock()
		first := !c.seen[id]
		c.seen[id] = true
		c.got[id] = append(c.got[id], callbackReq{header: r.Header.Clone(), body: string(b)})
		c.mu.Unlock()
		if first {
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

// wait returns the callback accepted for call id (the second one).
func (c *callbacks) wait(t *testing.T, id string, within time.Duration) callbackReq {
	t.Helper()
	var got callbackReq
	harness.Until(t, within, "the callback of call "+id, func() (bool, string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		reqs := c.got[id]
		if len(reqs) >= 2 {
			got = reqs[1]
			return true, ""
		}
		return false, fmt.Sprintf("%d callbacks received", len(reqs))
	})
	return got
}

func (c *callbacks) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got[id])
}

// waitAsyncIdle waits until the async consumer has settled everything.
func (e *env) waitAsyncIdle(timeout time.Duration) {
	e.t.Helper()
	harness.Until(e.t, timeout, "the connector to settle every asynchronous call", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cons, err := e.js.Consumer(ctx, contract.AsyncStream, contract.AsyncDurable)
		if err != nil {
			return false, err.Error()
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return false, err.Error()
		}
		return info.NumAckPending == 0 && info.NumPending == 0 && info.NumRedelivered == 0, "ack pending or pending"
	})
}

func TestAsyncInvocation(t *testing.T) {
	e, _ := newAsyncEnv(t)
	cb := newCallbacks(t)
	e.start()
	cases := []struct {
		name       string
		fnEnv      map[string]string
		wantStatus string
		wantBody   string
		wantCalls  int
		deadLetter bool
	}{
		{"answers 202 at once, runs, and calls back with the answer",
			map[string]string{"S3FN_MODE": "sleep", "S3FN_SLEEP": "2s"}, "200", `{"status":"ok","call":1}`, 1, false},
		{"a call failing twice is retried and calls back its success",
			map[string]string{"S3FN_MODE": "failN", "S3FN_N": "2"}, "200", `{"status":"ok","call":3}`, 3, false},
		{"a call failing every time is dead-lettered and calls back its failure",
			map[string]string{"S3FN_MODE": "fail"}, "500", "boom\n", 3, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tenant := "async" + string(rune('a'+i))
			fn := "afn-" + tenant
			dir := e.deploy(fnSpec{name: fn, namespace: defaultNS, tenant: tenant, env: tc.fnEnv})
			hdr := http.Header{"X-Callback-Url": {cb.url + "/done"}, "X-Custom": {"kept"}, "Content-Type": {"text/plain"}}
			start := time.Now()
			resp, body := e.postAsync(fn+"/sub/path?x=1", "payload "+tenant, hdr)
			took := time.Since(start)
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("POST = %d %q, want 202", resp.StatusCode, body)
			}
			id := resp.Header.Get("X-Call-Id")
			if id == "" {
				t.Fatal("202 without X-Call-Id")
			}
			if took > time.Second {
				t.Errorf("202 took %s: not at once", took)
			}

			got := cb.wait(t, id, 30*time.Second)
			if s := got.header.Get("X-Function-Status"); s != tc.wantStatus {
				t.Errorf("X-Function-Status = %q, want %s", s, tc.wantStatus)
			}
			if got.body != tc.wantBody {
				t.Errorf("callback body = %q, want %q", got.body, tc.wantBody)
			}
			if d := got.header.Get("X-Duration-Seconds"); d == "" {
				t.Error("callback without X-Duration-Seconds")
			}
			if tc.wantStatus == "200" && tc.wantCalls == 1 && !strings.HasPrefix(got.header.Get("X-Duration-Seconds"), "2.") {
				t.Errorf("X-Duration-Seconds = %q, want the 2s the function took", got.header.Get("X-Duration-Seconds"))
			}
			e.waitAsyncIdle(20 * time.Second)
			cs := calls(t, dir)
			if len(cs) != tc.wantCalls {
				t.Fatalf("function ran %d times, want %d", len(cs), tc.wantCalls)
			}
			for _, c := range cs {
				if c.Method != http.MethodPost || c.URI != "/sub/path?x=1" || c.Body != "payload "+tenant ||
					c.Headers["X-Call-Id"] != id || c.Headers["X-Custom"] != "kept" || c.Headers["Content-Type"] != "text/plain" {
					t.Errorf("function got %+v; want POST /sub/path?x=1 with the body and headers sent, X-Call-Id %s", c, id)
				}
			}
			if n := cb.count(id); n != 2 {
				t.Errorf("callback tried %d times, want 2 (the first refused)", n)
			}
			dl := e.deadLetter(tenant)
			switch {
			case tc.deadLetter && dl == nil:
				t.Error("no dead letter")
			case tc.deadLetter:
				if dl.Header.Get(contract.DeadLetterHeaderFunction) != fn+"."+defaultNS || dl.Header.Get(contract.DeadLetterHeaderLastStatus) != "500" ||
					string(dl.Data) != "payload "+tenant {
					t.Errorf("dead letter %v %q", dl.Header, dl.Data)
				}
			case dl != nil:
				t.Errorf("unexpected dead letter %v", dl.Header)
			}
		})
	}
}

func TestAsyncRefusals(t *testing.T) {
	e, _ := newAsyncEnv(t)
	e.deploy(fnSpec{name: "afn-refusals", namespace: defaultNS, tenant: "refusals", env: map[string]string{"S3FN_MODE": "ok"}})
	cases := []struct {
		name, path, body string
		header           http.Header
		want             int
	}{
		{"an unknown function", "nope", "hi", nil, http.StatusNotFound},
		{"an unknown function with a path", "nope.openfaas-fn/a?b=c", "hi", nil, http.StatusNotFound},
		{"a body over the bound", "afn-refusals", strings.Repeat("x", asyncMaxBody+1), nil, http.StatusRequestEntityTooLarge},
		{"a callback URL that is not one", "afn-refusals", "hi", http.Header{"X-Callback-Url": {"not a url"}}, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.postAsync(tc.path, tc.body, tc.header)
			if resp.StatusCode != tc.want {
				t.Errorf("POST = %d %q, want %d", resp.StatusCode, body, tc.want)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, contract.AsyncStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != 0 {
		t.Errorf("the stream keeps %d calls after refusals, want 0", n)
	}
}

// TestAsyncSurvivesRestart: a call accepted while no connector runs
// survives NATS going down and coming back; a call made while NATS is
// down is refused with 503, never accepted; the connector started after
// the restart runs the accepted call once.
func TestAsyncSurvivesRestart(t *testing.T) {
	e, storeDir := newAsyncEnv(t)
	cb := newCallbacks(t)
	dir := e.deploy(fnSpec{name: "afn-restart", namespace: defaultNS, tenant: "restart", env: map[string]string{"S3FN_MODE": "ok"}})
	resp, body := e.postAsync("afn-restart", "kept", http.Header{"X-Callback-Url": {cb.url}, "X-Call-Id": {"call-before-restart"}})
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Call-Id") != "call-before-restart" {
		t.Fatalf("POST = %d %q (X-Call-Id %q), want 202 with the id given", resp.StatusCode, body, resp.Header.Get("X-Call-Id"))
	}

	e.nats.Shutdown()
	resp, body = e.postAsync("afn-restart", "lost", http.Header{"X-Callback-Url": {cb.url}, "X-Call-Id": {"call-while-down"}})
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("POST while NATS is down = %d %q, want 503", resp.StatusCode, body)
	}
	if len(calls(t, dir)) != 0 {
		t.Fatal("the function ran with no connector running")
	}

	log := testLogger(t)
	ns, err := natsd.Start(context.Background(), natsd.Config{StoreDir: storeDir}, log.With("test", "nats-restarted"))
	if err != nil {
		t.Fatalf("restart nats: %v", err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if e.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	e.nats = ns
	e.start()

	got := cb.wait(t, "call-before-restart", 30*time.Second)
	if got.header.Get("X-Function-Status") != "200" || got.body != `{"status":"ok","call":1}` {
		t.Errorf("callback %v %q, want status 200 and the function's answer", got.header, got.body)
	}
	e.waitAsyncIdle(20 * time.Second)
	cs := calls(t, dir)
	if len(cs) != 1 || cs[0].Body != "kept" {
		t.Errorf("function calls %+v, want the accepted call once", cs)
	}
	if n := cb.count("call-while-down"); n != 0 {
		t.Errorf("the refused call called back %d times", n)
	}
}
