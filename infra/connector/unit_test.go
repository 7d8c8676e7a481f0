package connector

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"1", time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"99999999999", 24 * time.Hour, true},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		failures int
		base     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {10, time.Minute}, {1000, time.Minute}} {
		for range 50 {
			d := backoff(tc.failures, time.Second, time.Minute)
			if lo, hi := tc.base-tc.base/10, tc.base+tc.base/10; d < lo || d > hi {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tc.failures, d, lo, hi)
			}
		}
	}
}

func fn(name, ns, tenant, topic string) types.FunctionStatus {
	labels := map[string]string{}
	if tenant != "" {
		labels[TenantLabel] = tenant
	}
	ann := map[string]string{TopicAnnotation: topic}
	return types.FunctionStatus{Name: name, Namespace: ns, Labels: &labels, Annotations: &ann}
}

func ids(ts []target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID())
	}
	return out
}

func TestRoutes(t *testing.T) {
	rt := buildRoutes([]types.FunctionStatus{
		fn("a", "openfaas-fn", "t1", "s3:t1"),
		fn("b", "team", "t1", " s3:t1 , ingest.t1.x,s3:t1"),
		fn("evil", "openfaas-fn", "t2", "s3:t2,s3:t1"),
		fn("nolabel", "openfaas-fn", "", "s3:t1"),
		fn("untopiced", "openfaas-fn", "t1", ""),
		{Name: "bare"},
	})
	for _, tc := range []struct {
		topic, tenant string
		want          []string
	}{
		{"s3:t1", "t1", []string{"a.openfaas-fn", "b.team"}},
		{"s3:t1", "t2", nil},
		{"s3:t2", "t2", []string{"evil.openfaas-fn"}},
		{"s3:t3", "t3", nil},
	} {
		if got := ids(rt.match(tc.topic, tc.tenant)); !slices.Equal(got, tc.want) {
			t.Errorf("match(%s, %s) = %v, want %v", tc.topic, tc.tenant, got, tc.want)
		}
	}
	var mis []string
	for _, m := range rt.misconfig {
		mis = append(mis, m.fn.ID()+" "+m.topic)
	}
	if want := []string{"evil.openfaas-fn s3:t1", "nolabel.openfaas-fn s3:t1"}; !slices.Equal(mis, want) {
		t.Errorf("misconfigured = %v, want %v", mis, want)
	}
	if rt.functions != 3 {
		t.Errorf("functions = %d, want 3", rt.functions)
	}
}

func TestParseS3Event(t *testing.T) {
	two := `{"Records":[` +
		`{"eventName":"s3:ObjectCreated:Put","eventTime":"2025-05-01T10:00:00Z","s3":{"bucket":{"name":"t1"},"object":{"key":"incoming%2Fa.csv"}}},` +
		`{"eventName":"s3:ObjectCreated:Put","eventTime":"2025-05-01T10:00:00Z","s3":{"bucket":{"name":"t2"},"object":{"key":"incoming%2Fb.csv"}}}]}`
	for _, tc := range []struct {
		name, body, bucket, err, ignored string
		keys                             []string
	}{
		{name: "minio put", body: string(s3Event("s3:ObjectCreated:Put", "t1", "incoming/dir/a b+c.csv")), bucket: "t1", keys: []string{"incoming/dir/a b+c.csv"}},
		{name: "aws spelling", body: `{"Records":[{"eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"bucket":{"name":"t1"},"object":{"key":"incoming/x"}}}]}`, bucket: "t1", keys: []string{"incoming/x"}},
		{name: "delete", body: string(s3Event("s3:ObjectRemoved:Delete", "t1", "incoming/a.csv")), ignored: "not ObjectCreated"},
		{name: "outside incoming", body: string(s3Event("s3:ObjectCreated:Put", "t1", "reports/a.csv")), ignored: "not under incoming/"},
		{name: "no records", body: `{"EventName":"s3:ObjectCreated:Put"}`, ignored: "no records"},
		{name: "not json", body: `<xml/>`, err: "decode S3 event"},
		{name: "bad key escape", body: `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"t1"},"object":{"key":"incoming%zz"}}}]}`, err: "decode S3 event"},
		{name: "two buckets", body: two, err: "records of buckets t1 and t2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseS3Event([]byte(tc.body), "incoming/")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.bucket != tc.bucket || !slices.Equal(r.keys, tc.keys) || !strings.Contains(r.ignored, tc.ignored) {
				t.Errorf("got %+v, want bucket %q keys %v ignored ~%q", r, tc.bucket, tc.keys, tc.ignored)
			}
		})
	}
}

func TestTrackerBounded(t *testing.T) {
	tr := newTracker(3)
	for i := range uint64(10) {
		tr.store(msgKey{"S", i}, deliveryState{failures: int(i)})
	}
	if n := tr.len(); n != 3 {
		t.Fatalf("tracker holds %d states, want 3", n)
	}
	if _, ok := tr.load(msgKey{"S", 0}); ok {
		t.Error("oldest state not evicted")
	}
	s, ok := tr.load(msgKey{"S", 9})
	if !ok || s.failures != 9 {
		t.Errorf("newest state = %+v, %v", s, ok)
	}
	// A loaded state is a copy: changing it does not change the tracker.
	s.done = map[string]bool{"f": true}
	s2, _ := tr.load(msgKey{"S", 9})
	if s2.done["f"] {
		t.Error("load returned shared state")
	}
	tr.forget(msgKey{"S", 9})
	if _, ok := tr.load(msgKey{"S", 9}); ok {
		t.Error("forget kept the state")
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c != DefaultConfig() {
		t.Errorf("zero config with defaults = %+v, want DefaultConfig", c)
	}
	for _, bad := range []Config{
		{BackoffInitial: time.Minute, BackoffMax: time.Second},
		{MaxConcurrent: 10, MaxAckPending: 5},
		{DeadLetterSubjectPrefix: "dl.*"},
		{MaxAttempts: 50, MaxDeliveries: 10},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("config %+v accepted", bad)
		}
	}
}

func TestDeadLetterText(t *testing.T) {
	if got := subjectToken("my.bucket"); got != "my_bucket" {
		t.Errorf("subjectToken = %q", got)
	}
	if got := subjectToken(""); got != unknownTenant {
		t.Errorf("subjectToken(\"\") = %q", got)
	}
	long := strings.Repeat("é", 1000) // 2000 bytes
	r := failureReason("f", result{status: 500, answer: []byte(long + "\nline2")})
	if !strings.HasSuffix(r, "…(truncated)") || len(r) > reasonLimit+100 {
		t.Errorf("reason not truncated: %d bytes", len(r))
	}
	if v := headerValue("a\r\nb\x00c"); strings.ContainsAny(v, "\r\n\x00") {
		t.Errorf("headerValue kept control characters: %q", v)
	}
}
