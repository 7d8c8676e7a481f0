package scale

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestMetricsInflight reads the in-flight gauge where it is served and
// derives it from the OpenFaaS gateway's counters where it is not.
func TestMetricsInflight(t *testing.T) {
	for _, c := range []struct {
		name    string
		status  int
		body    string
		want    map[string]int64
		wantErr bool
	}{
		{name: "the provider's gauge", status: 200, body: `# TYPE gateway_function_invocation_inflight gauge
gateway_function_invocation_inflight{function_name="a.fn"} 2
gateway_function_invocation_inflight{function_name="b.fn"} 0
`, want: map[string]int64{"a.fn": 2, "b.fn": 0}},
		{name: "started minus finished, over every status code", status: 200, body: `# TYPE gateway_function_invocation_started counter
gateway_function_invocation_started{function_name="a.fn"} 5
# TYPE gateway_function_invocation_total counter
gateway_function_invocation_total{code="200",function_name="a.fn"} 3
gateway_function_invocation_total{code="500",function_name="a.fn"} 1
`, want: map[string]int64{"a.fn": 1}},
		{name: "the gauge wins over the counters", status: 200, body: `# TYPE gateway_function_invocation_inflight gauge
gateway_function_invocation_inflight{function_name="a.fn"} 0
# TYPE gateway_function_invocation_started counter
gateway_function_invocation_started{function_name="a.fn"} 5
`, want: map[string]int64{"a.fn": 0}},
		{name: "no series: nothing in flight", status: 200, body: "# TYPE go_goroutines gauge\ngo_goroutines 7\n", want: map[string]int64{}},
		{name: "not served", status: 404, body: "404 page not found", wantErr: true},
		{name: "not metrics", status: 200, body: "{not metrics", wantErr: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			}))
			defer srv.Close()
			got, err := MetricsInflight(srv.URL, srv.Client())(context.Background())
			if (err != nil) != c.wantErr || (!c.wantErr && !maps.Equal(got, c.want)) {
				t.Errorf("got %v, %v; want %v (error %v)", got, err, c.want, c.wantErr)
			}
		})
	}
}
