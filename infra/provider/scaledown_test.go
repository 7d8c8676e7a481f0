package provider

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	testharness "github.com/mysimbdp/mysimbdp/tests/harness"
	"github.com/openfaas/faas-provider/types"
)

// TestScaleDownSparesBusyReplicas: scaling down takes idle replicas first
// and never stops one under a request unless the operator forces it; a
// forced stop answers the request at once, as the provider's own 503, so
// the caller retries instead of waiting for the process to die. The drain
// bound is far shorter than the requests, so the old bounded drain would
// have cut every one of them short.
func TestScaleDownSparesBusyReplicas(t *testing.T) {
	t.Parallel()
	const drain = 300 * time.Millisecond
	for _, c := range []struct {
		name     string
		from, to int
		force    bool
		// forceLater forces a second scale call to the same count: it
		// bounds the drain of a replica the first one left waiting.
		forceLater bool
		sleepMs    int
		wantCode   int
		wantBody   string
		wantOrigin string
		// within bounds the answer after the scale call (0: no bound).
		within time.Duration
		// busyStays: the busy replica is still in the pool afterwards.
		busyStays bool
	}{
		{name: "to zero: the busy replica finishes its request", from: 1, to: 0, sleepMs: 2000,
			wantCode: http.StatusOK, wantBody: "slept 2000"},
		{name: "two to one: the idle replica goes, the busy one stays", from: 2, to: 1, sleepMs: 2000,
			wantCode: http.StatusOK, wantBody: "slept 2000", busyStays: true},
		// 8s is past the drain bound plus StopTimeout (5s): before, the
		// caller heard 502 only when the process was killed.
		{name: "forced to zero: the request is answered at once for a retry", from: 1, to: 0, force: true, sleepMs: 8000,
			wantCode: http.StatusServiceUnavailable, wantOrigin: contract.OriginProvider, within: 3 * time.Second},
		{name: "to zero, forced later: the waiting replica is stopped then", from: 1, to: 0, forceLater: true, sleepMs: 8000,
			wantCode: http.StatusServiceUnavailable, wantOrigin: contract.OriginProvider, within: 3 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(cfg *Config) { cfg.DrainTimeout = drain })
			name := "busy"
			h.deploy(spec(name, map[string]string{contract.LabelScaleMax: "3"}, nil))
			h.must(http.StatusAccepted, http.MethodPost, "/system/scale-function/"+name, types.ScaleServiceRequest{ServiceName: name, Replicas: uint64(c.from)})
			h.waitReplicas(name, defNS, uint64(c.from))
			h.pids(name, defNS)
			fn := h.p.lookup(name, defNS)

			type result struct {
				code         int
				body, origin string
				at           time.Time
			}
			done := make(chan result, 1)
			go func() {
				resp, err := http.Get(fmt.Sprintf("%s/function/%s/sleep?ms=%d", h.srv.URL, name, c.sleepMs))
				if err != nil {
					done <- result{body: err.Error(), at: time.Now()}
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				done <- result{resp.StatusCode, string(b), resp.Header.Get(contract.HeaderOrigin), time.Now()}
			}()
			var busy *replica
			var idle []int
			testharness.Until(t, 10*time.Second, "the request to be in flight", func() (bool, string) {
				fn.mu.RLock()
				defer fn.mu.RUnlock()
				busy, idle = nil, nil
				for _, r := range fn.pool {
					if r.inflight.Load() == 1 {
						busy = r
					} else {
						idle = append(idle, int(r.pid.Load()))
					}
				}
				return busy != nil, "not yet"
			})
			busyPid := int(busy.pid.Load())
			metric := fmt.Sprintf("%s{%s=%q} 1", contract.MetricFunctionInflight, contract.MetricLabelFunction, name+"."+defNS)
			if _, m := h.do(http.MethodGet, "/metrics", nil, false); !strings.Contains(m, metric) {
				t.Errorf("metrics lack %s while the request is in flight", metric)
			}

			path := "/system/scale-function/" + name
			forced := path + "?" + contract.QueryScaleForceStop + "=true"
			if c.force {
				path = forced
			}
			scaled := time.Now()
			h.must(http.StatusAccepted, http.MethodPost, path, types.ScaleServiceRequest{ServiceName: name, Replicas: uint64(c.to)})
			// Honest meanwhile: the replica at work is not available.
			if st := h.status(name, defNS); st.Replicas != uint64(c.to) || st.AvailableReplicas > uint64(c.to) {
				t.Errorf("status while draining: replicas %d available %d, want %d and at most %d", st.Replicas, st.AvailableReplicas, c.to, c.to)
			}
			testharness.Until(t, 15*time.Second, "the idle replicas to exit", func() (bool, string) {
				for _, pid := range idle {
					if alive(pid) {
						return false, fmt.Sprint("alive: ", pid)
					}
				}
				return true, ""
			})

			if c.forceLater {
				// Still waiting for its request, well past the drain bound.
				testharness.Until(t, 10*time.Second, "the drain bound to pass", func() (bool, string) {
					return time.Since(scaled) > 3*drain, "not yet"
				})
				select {
				case r := <-done:
					t.Fatalf("answered %d %q before the forced scale-down", r.code, r.body)
				default:
				}
				if !alive(busyPid) {
					t.Fatal("the busy replica stopped before the forced scale-down")
				}
				scaled = time.Now()
				h.must(http.StatusAccepted, http.MethodPost, forced, types.ScaleServiceRequest{ServiceName: name, Replicas: uint64(c.to)})
			}
			var r result
			select {
			case r = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the request never got an answer")
			}
			if r.code != c.wantCode || (c.wantBody != "" && r.body != c.wantBody) || r.origin != c.wantOrigin {
				t.Errorf("answer %d %q (origin %q), want %d %q (origin %q)", r.code, r.body, r.origin, c.wantCode, c.wantBody, c.wantOrigin)
			}
			if took := r.at.Sub(scaled); c.within > 0 && took > c.within {
				t.Errorf("answered %s after the scale call, want within %s", took.Round(time.Millisecond), c.within)
			}
			// The handler counts the request out just after answering it.
			zero := strings.TrimSuffix(metric, "1") + "0"
			testharness.Until(t, 5*time.Second, zero+" once the request is answered", func() (bool, string) {
				_, m := h.do(http.MethodGet, "/metrics", nil, false)
				return strings.Contains(m, zero), "not yet"
			})

			if c.busyStays {
				h.waitReplicas(name, defNS, uint64(c.to))
				if !alive(busyPid) {
					t.Errorf("the busy replica %d was stopped", busyPid)
				}
				return
			}
			testharness.Until(t, 15*time.Second, "the busy replica to exit once done", func() (bool, string) {
				return !alive(busyPid), fmt.Sprint("pid ", busyPid)
			})
		})
	}
}
