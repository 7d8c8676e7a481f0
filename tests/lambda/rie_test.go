package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/local/freeport"
)

// emulator is one function running under aws-lambda-rie.
type emulator struct {
	url string
	out *syncBuffer
}

// startFunction runs function's bootstrap under the emulator with vars as
// the function's environment (as a SAM template would set it) and returns
// once the emulator takes invocations. The process group is killed in the
// test's Cleanup; its output is logged if the test failed.
func startFunction(t *testing.T, function string, vars map[string]string) *emulator {
	t.Helper()
	bootstrap := env.bootstrap[function]
	if bootstrap == "" {
		t.Fatalf("no bootstrap built for %s", function)
	}
	var lastErr error
	// A free port can be taken between finding it and binding it: retry.
	for range 3 {
		e, err := tryStart(t, bootstrap, function, vars)
		if err == nil {
			return e
		}
		lastErr = err
	}
	t.Fatalf("start %s under aws-lambda-rie: %v", function, lastErr)
	return nil
}

func tryStart(t *testing.T, bootstrap, function string, vars map[string]string) (*emulator, error) {
	invokePort, apiPort := freeport.MustGet(), freeport.MustGet()
	addr := "127.0.0.1:" + strconv.Itoa(invokePort)
	cmd := exec.Command(env.rie,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		bootstrap)
	cmd.Dir = t.TempDir()
	// The emulator hands its whole environment to the function: give it only
	// what Lambda would, so nothing of the test's own leaks in.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + cmd.Dir, "AWS_LAMBDA_FUNCTION_NAME=" + function, "AWS_LAMBDA_FUNCTION_TIMEOUT=120"}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", env.rie, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the emulator and the bootstrap it started
		<-exited
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("aws-lambda-rie exited before listening on %s:\n%s", addr, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("aws-lambda-rie did not listen on %s within 30s:\n%s", addr, out.String())
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("%s under aws-lambda-rie said:\n%s", function, out.String())
		}
	})
	return &emulator{url: "http://" + addr + "/2015-03-31/functions/function/invocations", out: out}, nil
}

// lambdaError is Lambda's answer for a failed invocation.
type lambdaError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

// invoke sends event and returns the function's result, or the error Lambda
// reported (nil result). It fails the test if the emulator does not answer.
func (e *emulator) invoke(t *testing.T, event []byte) (json.RawMessage, *lambdaError) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the invocation's answer: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the emulator answered %d: %s", resp.StatusCode, body)
	}
	var le lambdaError
	if json.Unmarshal(body, &le) == nil && le.Type != "" {
		return nil, &le
	}
	if !json.Valid(body) {
		t.Fatalf("the result is not JSON: %q", body)
	}
	return body, nil
}

// mustInvoke is invoke for an invocation that must succeed.
func (e *emulator) mustInvoke(t *testing.T, event []byte) json.RawMessage {
	t.Helper()
	out, le := e.invoke(t, event)
	if le != nil {
		t.Fatalf("invocation failed: %s: %s", le.Type, le.Message)
	}
	return out
}

// syncBuffer collects a process's output, bounded to its last 64 KB.
type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - 64<<10; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
