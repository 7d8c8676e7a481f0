package connector

import (
	"slices"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/infra/connector/core"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

func fn(name, ns, tenant, topic string) types.FunctionStatus {
	labels := map[string]string{}
	if tenant != "" {
		labels[contract.LabelTenant] = tenant
	}
	ann := map[string]string{contract.AnnotationTopic: topic}
	return types.FunctionStatus{Name: name, Namespace: ns, Labels: &labels, Annotations: &ann}
}

func ids(ts []core.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID())
	}
	return out
}

func TestRoutes(t *testing.T) {
	rt := core.BuildRoutes([]types.FunctionStatus{
		fn("a", "openfaas-fn", "t1", "s3:t1"),
		fn("b", "team", "t1", " s3:t1 , ingest.t1.x,s3:t1"),
		fn("evil", "openfaas-fn", "t2", "s3:t2,s3:t1"),
		fn("nolabel", "openfaas-fn", "", "s3:t1"),
		fn("untopiced", "openfaas-fn", "t1", ""),
		{Name: "bare"},
	}, topicOwner)
	for _, tc := range []struct {
		topic, tenant string
		want          []string
	}{
		{"s3:t1", "t1", []string{"a.openfaas-fn", "b.team"}},
		{"s3:t1", "t2", nil},
		{"s3:t2", "t2", []string{"evil.openfaas-fn"}},
		{"s3:t3", "t3", nil},
	} {
		if got := ids(rt.Match(tc.topic, tc.tenant)); !slices.Equal(got, tc.want) {
			t.Errorf("match(%s, %s) = %v, want %v", tc.topic, tc.tenant, got, tc.want)
		}
	}
	var mis []string
	for _, m := range rt.Misconfigured() {
		mis = append(mis, m.Fn.ID()+" "+m.Topic)
	}
	if want := []string{"evil.openfaas-fn s3:t1", "nolabel.openfaas-fn s3:t1"}; !slices.Equal(mis, want) {
		t.Errorf("misconfigured = %v, want %v", mis, want)
	}
	if rt.Functions() != 3 {
		t.Errorf("functions = %d, want 3", rt.Functions())
	}
}

func TestTopicOwner(t *testing.T) {
	for topic, want := range map[string]string{"s3:b": "b", "ingest.t1.>": "t1", "ingest.*.x": "*", "ingest..x": "(none)", "other": ""} {
		got, ok := topicOwner(topic)
		if got != want || ok != (want != "") {
			t.Errorf("topicOwner(%q) = %q, %v", topic, got, ok)
		}
	}
	rt := core.BuildRoutes([]types.FunctionStatus{fn("evil", "", "t2", "ingest.t1.>"), fn("wild", "", "t2", "ingest.*.>")}, topicOwner)
	if len(rt.Misconfigured()) != 2 {
		t.Errorf("misconfigured = %+v, want both", rt.Misconfigured())
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
