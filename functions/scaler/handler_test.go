package function

import (
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
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/infra/build/images"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/scale"
	"github.com/mysimbdp/mysimbdp/tests/harness"
	"github.com/mysimbdp/mysimbdp/tests/harness/localgw"
)

const testImage = "mysimbdp/testfn:1"

// TestLongInvocationIsNotIdle: a batch function with scale-to-zero and an
// idle time of 2s gets one invocation that takes 6s (no consumer backlog,
// so the scaler has only the gateway's figures). The real scaler handler,
// against the real provider and NATS, keeps its replica all the while —
// the invocation is answered once, by the replica it started on — and
// takes it to zero once it has been idle for 2s.
func TestLongInvocationIsNotIdle(t *testing.T) {
	t.Parallel()
	log := harness.Logger(t, slog.LevelInfo)
	ns := harness.NATS(t)
	gw, gwURL := localgw.Start(t, testImages(t), log)
	secrets := t.TempDir()
	for f, v := range map[string]string{contract.SecretGatewayUser: localgw.User, contract.SecretGatewayPassword: localgw.Password} {
		if err := os.WriteFile(filepath.Join(secrets, f), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{contract.EnvGatewayURL: gwURL, contract.EnvNATSURL: ns.ClientURL(), contract.EnvSecretsDir: secrets}
	h := NewHandler(func(k string) string { return env[k] }, log)
	t.Cleanup(func() { _ = h.Close(context.Background()) })

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const name, id = "slowbatch", "slowbatch.openfaas-fn"
	labels := map[string]string{contract.LabelScaleZero: "true", contract.LabelScaleZeroDuration: "2s", contract.LabelScaleStabilization: "1s"}
	if err := gw.Deploy(ctx, types.FunctionDeployment{Service: name, Image: testImage, Labels: &labels}); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, gw, name, 1)
	pid := invoke(t, gwURL+"/function/"+name+"/pid")

	// pass runs the scaler once, at most every 200ms (Until polls more
	// often), and returns what it did with the function.
	var last time.Time
	var seen scale.Change
	pass := func() (scale.Change, bool) {
		if time.Since(last) < 200*time.Millisecond {
			return seen, false
		}
		last = time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodPost, "/", nil))
		var rep scale.Report
		if err := json.Unmarshal(rec.Body.Bytes(), &rep); rec.Code != http.StatusOK || err != nil {
			t.Fatalf("scaler pass = %d %q (%v)", rec.Code, rec.Body, err)
		}
		for _, c := range rep.Functions {
			if c.Function == id {
				if c.Error != "" {
					t.Fatalf("scaler: %+v", c)
				}
				seen = c
				return c, true
			}
		}
		t.Fatalf("scaler pass did not look at %s: %+v", id, rep)
		return scale.Change{}, false
	}
	pass()

	const ms = 6000 // three times the idle time
	type answer struct {
		code int
		body string
	}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/function/%s/sleep?ms=%d", gwURL, name, ms), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{body: err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- answer{resp.StatusCode, string(b)}
	}()

	var got answer
	sawInflight := false
	harness.Until(t, 40*time.Second, "the long invocation to be answered while the scaler runs", func() (bool, string) {
		select {
		case got = <-done:
			return true, ""
		default:
		}
		c, fresh := pass()
		if !fresh {
			return false, fmt.Sprintf("%+v", c)
		}
		if c.To == 0 {
			t.Fatalf("the scaler took %s to zero with an invocation in flight: %+v", id, c)
		}
		if !alive(pid) {
			t.Fatalf("replica %d stopped under the invocation", pid)
		}
		sawInflight = sawInflight || (c.Inflight != nil && *c.Inflight == 1)
		return false, fmt.Sprintf("%+v", c)
	})
	if got.code != http.StatusOK || got.body != fmt.Sprintf("slept %d", ms) {
		t.Fatalf("long invocation = %d %q, want its answer", got.code, got.body)
	}
	if !sawInflight {
		t.Error("no scaler pass reported the invocation in flight")
	}
	if st := status(t, gw, name); st.InvocationCount != 2 {
		t.Errorf("invocation count %v, want 2 (pid and the long one, each once)", st.InvocationCount)
	}

	answered := time.Now()
	harness.Until(t, 30*time.Second, "the idle function to be scaled to zero", func() (bool, string) {
		c, _ := pass()
		return c.To == 0, fmt.Sprintf("%+v", c)
	})
	if idle := time.Since(answered); idle < 2*time.Second {
		t.Errorf("scaled to zero %s after the invocation was answered, before its idle time of 2s", idle)
	}
	harness.Until(t, 20*time.Second, "the replica to exit", func() (bool, string) {
		return !alive(pid), fmt.Sprint("pid ", pid)
	})
}

// testImages builds the provider's test function as image testImage.
func testImages(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	exe, err := images.Path(dir, testImage)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", exe, "../../infra/provider/testdata/testfn")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the test function: %v\n%s", err, out)
	}
	return dir
}

func status(t *testing.T, gw *gateway.Client, name string) types.FunctionStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fns, err := gw.Functions(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fns {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("function %s not listed", name)
	return types.FunctionStatus{}
}

func waitAvailable(t *testing.T, gw *gateway.Client, name string, n uint64) {
	t.Helper()
	harness.Until(t, 30*time.Second, fmt.Sprintf("%s to have %d available replicas", name, n), func() (bool, string) {
		st := status(t, gw, name)
		return st.AvailableReplicas == n, fmt.Sprintf("replicas %d available %d", st.Replicas, st.AvailableReplicas)
	})
}

// invoke calls url and returns its answer as a number (a pid).
func invoke(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n, err := strconv.Atoi(string(b))
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("GET %s = %d %q", url, resp.StatusCode, b)
	}
	return n
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }
