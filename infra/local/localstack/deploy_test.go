package localstack

import (
	"testing"

	"github.com/mysimbdp/mysimbdp/infra/build/stack"
)

// The functions `up` and `deploy` give an invocation key: those a tenant
// runs and those the connector invokes (the platform's stats and scaler
// among them); a function nobody but people call stays open.
func TestSignedOnly(t *testing.T) {
	for _, tt := range []struct {
		name string
		fn   stack.Function
		want bool
	}{
		{name: "a tenant's own app", fn: stack.Function{Labels: map[string]string{"com.mysimbdp.tenant": "tenant2"}, Annotations: map[string]string{"topic": "s3:tenant2"}}, want: true},
		{name: "a tenant's function without a topic", fn: stack.Function{Labels: map[string]string{"com.mysimbdp.tenant": "tenant2"}}, want: true},
		{name: "stats: reports and a schedule", fn: stack.Function{Annotations: map[string]string{"topic": "mysimbdp.reports.>, cron-function", "schedule": "@every 10s"}}, want: true},
		{name: "scaler: a schedule", fn: stack.Function{Annotations: map[string]string{"topic": "cron-function", "schedule": "@every 5s"}}, want: true},
		{name: "echo: no topic, no tenant", fn: stack.Function{Labels: map[string]string{"com.openfaas.scale.min": "1"}, Annotations: map[string]string{"com.mysimbdp.description": "smoke test"}}},
		{name: "an empty topic", fn: stack.Function{Annotations: map[string]string{"topic": " "}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := signedOnly(tt.fn); got != tt.want {
				t.Fatalf("signedOnly = %v, want %v", got, tt.want)
			}
		})
	}
}

// The repo's stack.yml: stats, scaler, tenant2's app and tenant1's checker get keys, echo
// does not.
func TestSignedOnlyInTheRepoStack(t *testing.T) {
	st, err := stack.Load("../../../stack.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"stats": true, "scaler": true, "tenant2-batch-ingest": true, "tenant1-checker": true, "echo": false}
	for name, w := range want {
		fn, ok := st.Functions[name]
		if !ok {
			t.Fatalf("stack.yml has no function %s", name)
		}
		if got := signedOnly(fn); got != w {
			t.Errorf("%s: signedOnly = %v, want %v", name, got, w)
		}
	}
}
