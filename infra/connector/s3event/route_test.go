package s3event

import (
	"slices"
	"strings"
	"testing"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/infra/connector/core"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

func fnOn(name, tenant, topic string) types.FunctionStatus {
	labels := map[string]string{contract.LabelTenant: tenant}
	ann := map[string]string{contract.AnnotationTopic: topic}
	return types.FunctionStatus{Name: name, Labels: &labels, Annotations: &ann}
}

func TestTopicOwnerOfPrefixes(t *testing.T) {
	for topic, want := range map[string]string{
		"s3:t1":                          "t1",
		"s3:t1/incoming/vaccinations/":   "t1",
		"s3:t1/":                         "t1",
		"s3:/incoming/":                  "(none)",
		"s3:":                            "",
		"ingest.t1.>":                    "",
		"s3:t1/incoming/a/b/c/":          "t1",
		"s3:tenant-2/incoming/tenant1/x": "tenant-2",
	} {
		got, ok := TopicOwner(topic)
		if got != want || ok != (want != "") {
			t.Errorf("TopicOwner(%q) = %q, %v; want %q", topic, got, ok, want)
		}
	}
}

// TestRouteOf: a key goes to its tenant's most specific topic; a tenant's
// function never gets another tenant's keys, whatever its topic says.
func TestRouteOf(t *testing.T) {
	rt := core.BuildRoutes([]types.FunctionStatus{
		fnOn("platform", "t1", "s3:t1"),
		fnOn("vacc", "t1", "s3:t1/incoming/vaccinations/"),
		fnOn("vacc-eu", "t1", "s3:t1/incoming/vaccinations/eu/"),
		fnOn("own-only", "t2", "s3:t2/incoming/cases/"),
		// Misconfigured: tenant t3's function on t1's folder.
		fnOn("evil", "t3", "s3:t1/incoming/x/, s3:t3"),
		fnOn("sneaky", "t3", "s3:/incoming/"),
	}, TopicOwner)
	for _, tc := range []struct {
		name, tenant string
		keys         []string
		topic        string
		want         []string
		unrouted     string
	}{
		{"catch-all", "t1", []string{"incoming/cases/a.csv"}, "s3:t1", []string{"platform"}, ""},
		{"a dataset's folder", "t1", []string{"incoming/vaccinations/a.csv"}, "s3:t1/incoming/vaccinations/", []string{"vacc"}, ""},
		{"the longest prefix", "t1", []string{"incoming/vaccinations/eu/a.csv"}, "s3:t1/incoming/vaccinations/eu/", []string{"vacc-eu"}, ""},
		{"a prefix is not a folder of its own", "t1", []string{"incoming/vaccinationsx/a.csv"}, "s3:t1", []string{"platform"}, ""},
		{"another tenant's topic on the folder", "t1", []string{"incoming/x/a.csv"}, "s3:t1", []string{"platform"}, ""},
		{"two keys, one topic", "t1", []string{"incoming/vaccinations/a.csv", "incoming/vaccinations/b.csv"}, "s3:t1/incoming/vaccinations/", []string{"vacc"}, ""},
		{"two keys, two topics", "t1", []string{"incoming/vaccinations/a.csv", "incoming/cases/b.csv"}, "s3:t1", nil,
			"the keys of one event go to different functions (s3:t1/incoming/vaccinations/ takes incoming/vaccinations/a.csv, s3:t1 takes incoming/cases/b.csv)"},
		{"only own apps, an unknown folder", "t2", []string{"incoming/foo/x.csv"}, "s3:t2", nil,
			"no function of tenant t2 takes incoming/foo/x.csv: its functions subscribe to s3:t2/incoming/cases/"},
		{"only own apps, the folder", "t2", []string{"incoming/cases/x.csv"}, "s3:t2/incoming/cases/", []string{"own-only"}, ""},
		// No function at all on the bucket: routed on s3:<bucket> with no
		// target, retried as before (a function may be on its way).
		{"no function yet", "t4", []string{"incoming/a.csv"}, "s3:t4", nil, ""},
		{"the misconfigured tenant's own bucket", "t3", []string{"incoming/x/a.csv"}, "s3:t3", []string{"evil"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := routeOf(rt, tc.tenant, tc.tenant, tc.keys)
			var got []string
			for _, tg := range r.targets {
				got = append(got, tg.Name)
			}
			if r.topic != tc.topic || !slices.Equal(got, tc.want) {
				t.Errorf("route = %s %v, want %s %v", r.topic, got, tc.topic, tc.want)
			}
			if (tc.unrouted == "") != (r.unrouted == "") || !strings.Contains(r.unrouted, tc.unrouted) {
				t.Errorf("unrouted = %q, want %q", r.unrouted, tc.unrouted)
			}
		})
	}
	var mis []string
	for _, m := range rt.Misconfigured() {
		mis = append(mis, m.Fn.Name+" "+m.Topic+" "+m.Owner)
	}
	if want := []string{"evil s3:t1/incoming/x/ t1", "sneaky s3:/incoming/ (none)"}; !slices.Equal(mis, want) {
		t.Errorf("misconfigured = %v, want %v", mis, want)
	}
}
