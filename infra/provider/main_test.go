package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/build/images"
	testharness "github.com/mysimbdp/mysimbdp/tests/harness"
	"github.com/openfaas/faas-provider/types"
)

const (
	testImage = "mysimbdp/testfn:1"
	testUser  = "admin"
	testPass  = "s3cret"
)

// imagesDir holds the test function, built once per test binary. It is
// only read by the tests, so they share it.
var imagesDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "provider-test-images-")
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
	if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cmd := exec.Command("go", "build", "-o", exe, "./testdata/testfn")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build test function:", err)
		return 1
	}
	return m.Run()
}

// harness is one provider behind an httptest server, with its own dirs.
type harness struct {
	t       *testing.T
	p       *Provider
	srv     *httptest.Server
	cfg     Config
	client  *http.Client
	started []int // pids seen, checked gone at cleanup
}

func testConfig(t *testing.T) Config {
	t.Helper()
	secrets := t.TempDir()
	for f, v := range map[string]string{"basic-auth-user": testUser, "basic-auth-password": testPass + "\n"} {
		if err := os.WriteFile(filepath.Join(secrets, f), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return Config{
		DataDir:          t.TempDir(),
		ImagesDir:        imagesDir,
		SecretMountPath:  secrets,
		ColdStartTimeout: 20 * time.Second,
		DrainTimeout:     10 * time.Second,
		StopTimeout:      5 * time.Second,
		ProbeInterval:    200 * time.Millisecond,
	}
}

func newHarness(t *testing.T, mutate ...func(*Config)) *harness {
	t.Helper()
	cfg := testConfig(t)
	for _, m := range mutate {
		m(&cfg)
	}
	return startHarness(t, cfg)
}

func startHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p, err := New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h := &harness{t: t, p: p, srv: httptest.NewServer(p.Handler()), cfg: cfg, client: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(func() { h.close() })
	return h
}

// close stops the provider and checks that no replica process is left.
func (h *harness) close() {
	h.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.p.Close(ctx); err != nil {
		h.t.Errorf("Close: %v", err)
	}
	for _, pid := range h.started {
		if alive(pid) {
			h.t.Errorf("replica process %d still alive after Close", pid)
		}
	}
}

// testWriter sends the provider's log to the test's log, shown on failure.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// do calls the API; auth adds the basic-auth credentials.
func (h *harness) do(method, path string, body any, auth bool) (int, string) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if auth {
		req.SetBasicAuth(testUser, testPass)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, string(b)
}

// must calls the API with credentials and fails the test unless it
// answers want.
func (h *harness) must(want int, method, path string, body any) string {
	h.t.Helper()
	code, b := h.do(method, path, body, true)
	if code != want {
		h.t.Fatalf("%s %s = %d %q, want %d", method, path, code, b, want)
	}
	return b
}

func (h *harness) invoke(path string) (int, string) {
	h.t.Helper()
	return h.do(http.MethodGet, "/function/"+path, nil, false)
}

func spec(name string, labels map[string]string, env map[string]string) types.FunctionDeployment {
	s := types.FunctionDeployment{Service: name, Image: testImage, EnvVars: env}
	if labels != nil {
		s.Labels = &labels
	}
	return s
}

func (h *harness) deploy(s types.FunctionDeployment) {
	h.t.Helper()
	h.must(http.StatusAccepted, http.MethodPost, "/system/functions", s)
}

func (h *harness) status(name, ns string) types.FunctionStatus {
	h.t.Helper()
	b := h.must(http.StatusOK, http.MethodGet, "/system/function/"+name+"?namespace="+ns, nil)
	var st types.FunctionStatus
	if err := json.Unmarshal([]byte(b), &st); err != nil {
		h.t.Fatalf("decode status %q: %v", b, err)
	}
	return st
}

// waitReplicas waits for replicas == available == n.
func (h *harness) waitReplicas(name, ns string, n uint64) {
	h.t.Helper()
	testharness.Until(h.t, 20*time.Second, fmt.Sprintf("%s to have %d available replicas", name, n), func() (bool, string) {
		st := h.status(name, ns)
		return st.Replicas == n && st.AvailableReplicas == n, fmt.Sprintf("replicas=%d available=%d", st.Replicas, st.AvailableReplicas)
	})
}

// pids returns the pids of a function's replicas as the provider sees
// them, and remembers them for the cleanup check.
func (h *harness) pids(name, ns string) []int {
	h.t.Helper()
	fn := h.p.lookup(name, ns)
	if fn == nil {
		h.t.Fatalf("function %s.%s not found", name, ns)
	}
	fn.mu.RLock()
	defer fn.mu.RUnlock()
	var out []int
	for _, r := range fn.pool {
		if pid := int(r.pid.Load()); pid > 0 {
			out = append(out, pid)
			h.started = append(h.started, pid)
		}
	}
	return out
}
