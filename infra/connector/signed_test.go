package connector

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// TestSignedInvocations: functions given their invocation keys (as the
// platform provisions them) refuse a forged call through the gateway,
// with its basic auth, before their handler runs, while the connector,
// holding the master key, delivers S3 events and stream batches to them.
func TestSignedInvocations(t *testing.T) {
	t.Parallel()
	const master = "connector-test-master-key"
	e := newEnv(t)
	e.createTenantStream("signed")
	s3Dir, streamDir := t.TempDir(), t.TempDir()
	for _, d := range []types.FunctionDeployment{
		{Service: "signed-ingest", Image: testImage,
			EnvVars:     map[string]string{"S3FN_DIR": s3Dir, "S3FN_MODE": "ok"},
			Labels:      &map[string]string{contract.LabelTenant: "signed"},
			Annotations: &map[string]string{contract.AnnotationTopic: "s3:signed"}},
		{Service: "signed-stream", Image: streamImage,
			EnvVars:     map[string]string{"STREAMFN_DIR": streamDir},
			Labels:      &map[string]string{contract.LabelTenant: "signed"},
			Annotations: &map[string]string{contract.AnnotationTopic: contract.TenantSubjects("signed")}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := tenant.WithInvokeKey(ctx, e.gw, master, &d); err != nil {
			t.Fatal(err)
		}
		if err := e.gw.Deploy(ctx, d); err != nil {
			t.Fatalf("deploy %s: %v", d.Service, err)
		}
		cancel()
	}

	forged := []byte(`{"tenant":"signed","records":[{"id":"forged","data":"ZXZpbA=="}]}`)
	for _, tt := range []struct {
		name, fn string
		sign     func(h http.Header)
		want     string
	}{
		{name: "unsigned to the batch function", fn: "signed-ingest", want: "unsigned invocation"},
		{name: "unsigned to the stream function", fn: "signed-stream", want: "unsigned invocation"},
		{name: "signed with the other function's key", fn: "signed-ingest", want: "bad signature", sign: func(h http.Header) {
			invokesig.Sign(h, invokesig.FunctionKey([]byte(master), "signed-stream"), http.MethodPost, "/", "", forged, time.Now())
		}},
		{name: "signed with a guessed master", fn: "signed-stream", want: "bad signature", sign: func(h http.Header) {
			invokesig.Sign(h, invokesig.FunctionKey([]byte("guess"), "signed-stream"), http.MethodPost, "/", "", forged, time.Now())
		}},
		{name: "replayed after the window", fn: "signed-stream", want: "stale timestamp", sign: func(h http.Header) {
			invokesig.Sign(h, invokesig.FunctionKey([]byte(master), "signed-stream"), http.MethodPost, "/", "", forged, time.Now().Add(-10*time.Minute))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, e.gwURL+"/function/"+tt.fn, strings.NewReader(string(forged)))
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth(testUser, testPass)
			if tt.sign != nil {
				tt.sign(req.Header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), tt.want) {
				t.Fatalf("got %d %q, want 401 %q", resp.StatusCode, b, tt.want)
			}
		})
	}
	if n, m := len(calls(t, s3Dir)), len(streamCalls(t, streamDir)); n != 0 || m != 0 {
		t.Fatalf("forged calls reached the handlers: %d batch, %d stream", n, m)
	}

	e.start(func(c *Config) { c.InvokeMasterKey = master })
	last := e.publish(s3Event("s3:ObjectCreated:Put", "signed", "incoming/data.csv"))
	ids := e.publishRecords("ingest.signed.covid", 20, func(i int) string { return fmt.Sprintf(`{"i":%d}`, i) })
	waitAcked(t, streamDir, ids, 30*time.Second)
	harness.Until(t, 30*time.Second, "the S3 event's delivery", func() (bool, string) {
		n := len(calls(t, s3Dir))
		return n == 1, fmt.Sprintf("%d calls", n)
	})
	e.waitIdle(last, 20*time.Second)
	if dl := e.deadLetter("signed"); dl != nil {
		t.Fatalf("dead letter: %s", dl.Header)
	}
	if got := acked(streamCalls(t, streamDir))["forged"]; got != 0 {
		t.Fatalf("the forged record was taken %d times", got)
	}
}
