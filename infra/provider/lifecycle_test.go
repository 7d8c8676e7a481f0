package provider

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	testharness "github.com/mysimbdp/mysimbdp/tests/harness"
	"github.com/openfaas/faas-provider/logs"
	"github.com/openfaas/faas-provider/types"
)

const defNS = "openfaas-fn"

func TestDeployInvokeListStatus(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	labels := map[string]string{"team": "ingest"}
	s := spec("echo", labels, map[string]string{"GREETING": "hi"})
	s.Annotations = &map[string]string{"topic": "orders"}
	h.deploy(s)
	h.must(http.StatusConflict, http.MethodPost, "/system/functions", s)
	h.waitReplicas("echo", defNS, 1)
	h.pids("echo", defNS)

	// Body, method, path suffix and query reach the function.
	req, _ := http.NewRequest(http.MethodPut, h.srv.URL+"/function/echo/a/b?x=1&y=two", strings.NewReader("payload"))
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "payload" || resp.Header.Get("X-Method") != "PUT" ||
		resp.Header.Get("X-Path") != "/a/b" || resp.Header.Get("X-Query") != "x=1&y=two" {
		t.Errorf("invoke = %d %q %v", resp.StatusCode, body, resp.Header)
	}
	for _, path := range []string{"echo", "echo/", "echo.openfaas-fn"} {
		if code, _ := h.do(http.MethodPost, "/function/"+path, "x", false); code != http.StatusOK {
			t.Errorf("POST /function/%s = %d", path, code)
		}
	}
	if code, body := h.invoke("echo/headers"); code != 200 || !strings.Contains(body, "xff=127.0.0.1") || !strings.Contains(body, "xfh=127.0.0.1:") {
		t.Errorf("forwarded headers = %d %q", code, body)
	}

	var list []types.FunctionStatus
	if err := json.Unmarshal([]byte(h.must(http.StatusOK, http.MethodGet, "/system/functions", nil)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("list = %+v", list)
	}
	got := list[0]
	if got.Name != "echo" || got.Image != testImage || got.Namespace != defNS || got.Replicas != 1 || got.AvailableReplicas != 1 ||
		got.InvocationCount < 5 || got.CreatedAt.IsZero() || got.EnvVars["GREETING"] != "hi" ||
		got.Labels == nil || (*got.Labels)["team"] != "ingest" || got.Annotations == nil || (*got.Annotations)["topic"] != "orders" {
		t.Errorf("list entry = %+v", got)
	}
	if st := h.status("echo", defNS); st.Name != "echo" || st.AvailableReplicas != 1 {
		t.Errorf("status = %+v", st)
	}

	// Delete drains and stops the replica and the function is gone.
	pids := h.pids("echo", defNS)
	h.must(http.StatusAccepted, http.MethodDelete, "/system/functions", types.DeleteFunctionRequest{FunctionName: "echo"})
	h.must(http.StatusNotFound, http.MethodGet, "/system/function/echo", nil)
	if code, _ := h.invoke("echo"); code != http.StatusNotFound {
		t.Errorf("invoke after delete = %d", code)
	}
	testharness.Until(t, 15*time.Second, "deleted function's process to exit", func() (bool, string) {
		return !alive(pids[0]), fmt.Sprint("pid ", pids[0])
	})
}

func TestStreamsLargeBodies(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(spec("sha", nil, nil))
	h.waitReplicas("sha", defNS, 1)
	h.pids("sha", defNS)
	const size = 32 << 20
	// An unsized reader makes the client send chunked, as a streaming
	// uploader would; the proxy must pass it on without buffering.
	want := sha256.New()
	pr, pw := io.Pipe()
	go func() {
		buf := make([]byte, 1<<20)
		for sent := 0; sent < size; sent += len(buf) {
			_, _ = rand.Read(buf)
			want.Write(buf)
			if _, err := pw.Write(buf); err != nil {
				return
			}
		}
		pw.Close()
	}()
	resp, err := h.client.Post(h.srv.URL+"/function/sha/sha", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if exp := fmt.Sprintf("%d %x", size, want.Sum(nil)); resp.StatusCode != 200 || string(body) != exp {
		t.Errorf("sha = %d %q, want %q", resp.StatusCode, body, exp)
	}
}

func TestScaleUpDownAndFromZero(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(spec("scaler", map[string]string{contract.LabelScaleMax: "5"}, nil))
	h.waitReplicas("scaler", defNS, 1)

	h.must(http.StatusAccepted, http.MethodPost, "/system/scale-function/scaler", types.ScaleServiceRequest{ServiceName: "scaler", Replicas: 3})
	h.waitReplicas("scaler", defNS, 3)
	pids := h.pids("scaler", defNS)
	if len(pids) != 3 {
		t.Fatalf("pids = %v", pids)
	}
	// Every replica answers: least-in-flight with a rotating tie-break
	// spreads sequential requests over all of them.
	seen := map[string]bool{}
	testharness.Until(t, 10*time.Second, "3 distinct pids to answer", func() (bool, string) {
		code, body := h.invoke("scaler/pid")
		if code == http.StatusOK {
			seen[body] = true
		}
		return len(seen) == 3, fmt.Sprint(seen)
	})
	for _, pid := range pids {
		if !seen[strconv.Itoa(pid)] {
			t.Errorf("pid %d never answered; seen %v", pid, seen)
		}
	}

	h.must(http.StatusAccepted, http.MethodPost, "/system/scale-function/scaler", types.ScaleServiceRequest{ServiceName: "scaler", Replicas: 0})
	st := h.status("scaler", defNS)
	if st.Replicas != 0 || st.AvailableReplicas != 0 {
		t.Errorf("status right after scale to 0 = replicas %d available %d", st.Replicas, st.AvailableReplicas)
	}
	testharness.Until(t, 15*time.Second, "every replica process to exit", func() (bool, string) {
		var left []int
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		return len(left) == 0, fmt.Sprint("alive: ", left)
	})

	// Scale from zero: the request is held until a replica is ready.
	start := time.Now()
	code, body := h.invoke("scaler/pid")
	cold := time.Since(start)
	if code != http.StatusOK || body == "" {
		t.Fatalf("invoke at zero = %d %q", code, body)
	}
	t.Logf("first answer from zero took %s", cold)
	if st := h.status("scaler", defNS); st.Replicas != 1 || st.AvailableReplicas != 1 {
		t.Errorf("after scale from zero: replicas %d available %d, want 1/1", st.Replicas, st.AvailableReplicas)
	}
	h.pids("scaler", defNS)
}

func TestColdStartTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.ColdStartTimeout = 300 * time.Millisecond })
	h.deploy(spec("slowstart", map[string]string{contract.LabelScaleMin: "0"}, map[string]string{"TESTFN_START_DELAY": "30s"}))
	resp, err := h.client.Get(h.srv.URL + "/function/slowstart")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if code, body := resp.StatusCode, string(b); code != http.StatusServiceUnavailable || !strings.Contains(body, "cold start timeout") {
		t.Errorf("invoke = %d %q, want 503 naming the cold start timeout", code, body)
	}
	// Marked as the provider's own answer: the connector tells it from a
	// function's 503.
	if got := resp.Header.Get(contract.HeaderOrigin); got != contract.OriginProvider {
		t.Errorf("%s = %q, want %q", contract.HeaderOrigin, got, contract.OriginProvider)
	}
	h.pids("slowstart", defNS)
}

func TestCrashedReplicaIsRestarted(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		crash func(h *harness, pid int)
	}{
		{"SIGKILL", func(h *harness, pid int) {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				h.t.Fatal(err)
			}
		}},
		{"exit after answering", func(h *harness, pid int) {
			if code, body := h.invoke("crashy/crash?after=1"); code != http.StatusOK || body != "bye" {
				h.t.Errorf("crash request = %d %q", code, body)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.deploy(spec("crashy", nil, nil))
			h.waitReplicas("crashy", defNS, 1)
			_, before := h.invoke("crashy/pid")
			pid, _ := strconv.Atoi(before)
			h.started = append(h.started, pid)
			c.crash(h, pid)
			testharness.Until(t, 10*time.Second, "a new process to answer", func() (bool, string) {
				code, body := h.invoke("crashy/pid")
				return code == http.StatusOK && body != before, fmt.Sprintf("%d %q", code, body)
			})
			h.pids("crashy", defNS)
			if alive(pid) {
				t.Errorf("crashed pid %d still alive", pid)
			}
			h.waitReplicas("crashy", defNS, 1)
		})
	}
}

func TestScaleDownDrainsInFlight(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(spec("slow", nil, nil))
	h.waitReplicas("slow", defNS, 1)
	pids := h.pids("slow", defNS)
	fn := h.p.lookup("slow", defNS)

	type result struct {
		code int
		body string
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(h.srv.URL + "/function/slow/sleep?ms=1500")
		if err != nil {
			done <- result{0, err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, string(b)}
	}()
	testharness.Until(t, 10*time.Second, "the slow request to be in flight", func() (bool, string) {
		fn.mu.RLock()
		defer fn.mu.RUnlock()
		return len(fn.pool) == 1 && fn.pool[0].inflight.Load() == 1, "not yet"
	})
	h.must(http.StatusAccepted, http.MethodPost, "/system/scale-function/slow", types.ScaleServiceRequest{ServiceName: "slow", Replicas: 0})
	if !alive(pids[0]) {
		t.Fatal("replica stopped before its in-flight request finished")
	}
	select {
	case r := <-done:
		if r.code != http.StatusOK || r.body != "slept 1500" {
			t.Errorf("slow request = %d %q, want 200", r.code, r.body)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("slow request never finished")
	}
	testharness.Until(t, 15*time.Second, "the drained replica to exit", func() (bool, string) {
		return !alive(pids[0]), fmt.Sprint("pid ", pids[0])
	})
}

func TestUpdateRollsReplicas(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(spec("roller", map[string]string{contract.LabelScaleMin: "2"}, map[string]string{"GREETING": "one"}))
	h.waitReplicas("roller", defNS, 2)
	old := h.pids("roller", defNS)

	h.must(http.StatusAccepted, http.MethodPut, "/system/functions", spec("roller", map[string]string{contract.LabelScaleMin: "2"}, map[string]string{"GREETING": "two"}))
	testharness.Until(t, 20*time.Second, "the old replicas to be replaced", func() (bool, string) {
		for _, pid := range old {
			if alive(pid) {
				return false, fmt.Sprint("old pid alive: ", pid)
			}
		}
		return true, ""
	})
	h.waitReplicas("roller", defNS, 2)
	newPids := h.pids("roller", defNS)
	if len(newPids) != 2 {
		t.Fatalf("pids after update = %v", newPids)
	}
	for range 6 {
		if code, body := h.invoke("roller/env?name=GREETING"); code != http.StatusOK || body != "two" {
			t.Fatalf("after update GREETING = %d %q, want two", code, body)
		}
	}
	if st := h.status("roller", defNS); st.EnvVars["GREETING"] != "two" {
		t.Errorf("status env = %v", st.EnvVars)
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(spec("talker", nil, nil))
	h.waitReplicas("talker", defNS, 1)
	h.pids("talker", defNS)
	if code, _ := h.invoke("talker/log?msg=hello-from-talker"); code != http.StatusOK {
		t.Fatalf("log request = %d", code)
	}
	var msgs []logs.Message
	testharness.Until(t, 10*time.Second, "the printed line in /system/logs", func() (bool, string) {
		code, body := h.do(http.MethodGet, "/system/logs?name=talker&namespace=openfaas-fn&follow=false", nil, true)
		if code != http.StatusOK {
			return false, fmt.Sprintf("%d %q", code, body)
		}
		msgs = msgs[:0]
		for line := range strings.Lines(body) {
			var m logs.Message
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("line %q is not a logs.Message: %v", line, err)
			}
			msgs = append(msgs, m)
			if m.Text == "hello-from-talker" && m.Name == "talker" && m.Namespace == defNS && m.Instance != "" {
				return true, ""
			}
		}
		return false, body
	})
	if code, body := h.do(http.MethodGet, "/system/logs?name=talker&tail=1", nil, true); code != 200 || strings.Count(body, "\n") != 1 {
		t.Errorf("tail=1 = %d %q", code, body)
	}

	// follow streams lines printed later, and ends when the client goes.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+"/system/logs?name=talker&follow=true&tail=1", nil)
	req.SetBasicAuth(testUser, testPass)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("content type %q", ct)
	}
	var once sync.Once
	sc := bufio.NewScanner(resp.Body)
	found := false
	for sc.Scan() {
		once.Do(func() {
			if code, _ := h.invoke("talker/log?msg=later-line"); code != http.StatusOK {
				t.Errorf("log request = %d", code)
			}
		})
		var m logs.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("follow line %q: %v", sc.Text(), err)
		}
		if m.Text == "later-line" {
			found = true
			break
		}
	}
	cancel()
	if !found {
		t.Errorf("follow never delivered the later line: %v", sc.Err())
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(spec("counted", nil, nil))
	h.waitReplicas("counted", defNS, 1)
	h.pids("counted", defNS)
	for range 3 {
		if code, _ := h.invoke("counted"); code != http.StatusOK {
			t.Fatalf("invoke = %d", code)
		}
	}
	_, body := h.do(http.MethodGet, "/metrics", nil, false)
	for _, want := range []string{
		`gateway_function_invocation_total{code="200",function_name="counted.openfaas-fn"} 3`,
		`gateway_function_invocation_started{function_name="counted.openfaas-fn"} 3`,
		`gateway_functions_seconds_count{code="200",function_name="counted.openfaas-fn"} 3`,
		`gateway_service_count{function_name="counted.openfaas-fn"} 1`,
		`provider_http_requests_total{code="202",method="POST",path="/system/functions"} 1`,
		`provider_http_request_duration_seconds_count{code="200",method="GET",path="/system/function"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRestartRecreatesFunctions(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	h := startHarness(t, cfg)
	h.must(http.StatusCreated, http.MethodPost, "/system/namespace/team-a", types.FunctionNamespace{Labels: map[string]string{"openfaas": "1"}})
	s := spec("durable", map[string]string{contract.LabelScaleMax: "4"}, map[string]string{"GREETING": "kept"})
	s.Namespace = "team-a"
	h.deploy(s)
	h.must(http.StatusAccepted, http.MethodPost, "/system/scale-function/durable", types.ScaleServiceRequest{ServiceName: "durable", Namespace: "team-a", Replicas: 2})
	h.waitReplicas("durable", "team-a", 2)
	h.pids("durable", "team-a")
	h.close()

	h2 := startHarness(t, cfg)
	h2.waitReplicas("durable", "team-a", 2)
	h2.pids("durable", "team-a")
	if code, body := h2.invoke("durable.team-a/env?name=GREETING"); code != http.StatusOK || body != "kept" {
		t.Errorf("after restart = %d %q", code, body)
	}
}
