package scale

import (
	"strings"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

func TestReadPolicy(t *testing.T) {
	p, problems := ReadPolicy(map[string]string{contract.LabelScaleMin: "2", contract.LabelScaleMax: "6", contract.LabelScaleTarget: "50", contract.LabelScaleZero: "true",
		contract.LabelScaleZeroDuration: "30s", contract.LabelScaleStabilization: "10s"}, time.Minute)
	if p != (Policy{Min: 2, Max: 6, Target: 50, Zero: true, ZeroDuration: 30 * time.Second, Stabilization: 10 * time.Second}) || len(problems) != 0 {
		t.Errorf("policy %+v, problems %v", p, problems)
	}
	p, problems = ReadPolicy(map[string]string{contract.LabelScaleMin: "five", contract.LabelScaleMax: "0", contract.LabelScaleTarget: "-1", contract.LabelScaleZero: "yes", contract.LabelScaleZeroDuration: "soon"}, time.Minute)
	if p != (Policy{Min: DefaultMin, Max: DefaultMax, Target: DefaultTarget, ZeroDuration: DefaultZeroDuration, Stabilization: time.Minute}) || len(problems) != 5 {
		t.Errorf("policy %+v, problems %v", p, problems)
	}
	if p, problems = ReadPolicy(map[string]string{contract.LabelScaleMin: "4", contract.LabelScaleMax: "2"}, 0); p.Min != 2 || len(problems) != 1 {
		t.Errorf("min above max: %+v %v", p, problems)
	}
	if Managed(map[string]string{"com.mysimbdp.tenant": "t"}) || !Managed(map[string]string{contract.LabelScaleMax: "3"}) {
		t.Error("Managed")
	}
}

// TestScalerLabelNames: the scaler-only labels are read under our own
// names first, and under OpenFaaS's old names (with a deprecation entry)
// when ours are absent, so functions deployed before the rename keep
// their policy.
func TestScalerLabelNames(t *testing.T) {
	for _, tc := range []struct {
		name       string
		labels     map[string]string
		want       Policy
		deprecated []string
		managed    bool
	}{
		{name: "new names", labels: map[string]string{"com.mysimbdp.scale.target": "50", "com.mysimbdp.scale.zero": "true", "com.mysimbdp.scale.zero-duration": "30s"},
			want: Policy{Min: DefaultMin, Max: DefaultMax, Target: 50, Zero: true, ZeroDuration: 30 * time.Second}, managed: true},
		{name: "old names still read", labels: map[string]string{"com.openfaas.scale.target": "40", "com.openfaas.scale.zero": "true", "com.openfaas.scale.zero-duration": "1m"},
			want: Policy{Min: DefaultMin, Max: DefaultMax, Target: 40, Zero: true, ZeroDuration: time.Minute},
			deprecated: []string{"com.openfaas.scale.target (use com.mysimbdp.scale.target)", "com.openfaas.scale.zero (use com.mysimbdp.scale.zero)",
				"com.openfaas.scale.zero-duration (use com.mysimbdp.scale.zero-duration)"}, managed: true},
		{name: "new name wins over old", labels: map[string]string{"com.openfaas.scale.target": "40", "com.mysimbdp.scale.target": "70"},
			want:       Policy{Min: DefaultMin, Max: DefaultMax, Target: 70, ZeroDuration: DefaultZeroDuration},
			deprecated: []string{"com.openfaas.scale.target (use com.mysimbdp.scale.target)"}, managed: true},
		{name: "min and max keep OpenFaaS's names", labels: map[string]string{"com.openfaas.scale.min": "2", "com.openfaas.scale.max": "3"},
			want: Policy{Min: 2, Max: 3, Target: DefaultTarget, ZeroDuration: DefaultZeroDuration}, managed: true},
		{name: "our label alone makes a function managed", labels: map[string]string{"com.mysimbdp.scale.zero": "false"},
			want: Policy{Min: DefaultMin, Max: DefaultMax, Target: DefaultTarget, ZeroDuration: DefaultZeroDuration}, managed: true},
		{name: "no scaling label", labels: map[string]string{"com.mysimbdp.tenant": "t"},
			want: Policy{Min: DefaultMin, Max: DefaultMax, Target: DefaultTarget, ZeroDuration: DefaultZeroDuration}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, problems := ReadPolicy(tc.labels, 0)
			if p != tc.want || len(problems) != 0 {
				t.Errorf("policy %+v, problems %v; want %+v", p, problems, tc.want)
			}
			if got := Deprecated(tc.labels); strings.Join(got, "|") != strings.Join(tc.deprecated, "|") {
				t.Errorf("Deprecated = %q, want %q", got, tc.deprecated)
			}
			if Managed(tc.labels) != tc.managed {
				t.Errorf("Managed = %v, want %v", !tc.managed, tc.managed)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	pol := Policy{Min: 1, Max: 4, Target: 100, Zero: true, ZeroDuration: 30 * time.Second, Stabilization: 10 * time.Second}
	type step struct {
		at       int
		replicas int
		backlog  int64
		progress float64
		inflight int64
		unknown  bool // the invocations in flight could not be read
		want     int
		why      string
	}
	for _, c := range []struct {
		name  string
		pol   Policy
		noBL  bool // the function has no consumer
		steps []step
	}{
		{name: "burst scales up at once, down after the window", pol: pol, steps: []step{
			{at: 0, replicas: 1, backlog: 0, progress: 0, want: 1},
			{at: 1, replicas: 1, backlog: 350, progress: 10, want: 4, why: "backlog 350"},
			{at: 2, replicas: 4, backlog: 1000, progress: 200, want: 4}, // capped at max
			{at: 5, replicas: 4, backlog: 50, progress: 900, want: 4, why: "stabilisation"},
			{at: 13, replicas: 4, backlog: 0, progress: 950, want: 1}, // window passed
		}},
		{name: "a growing backlog gets replicas for its growth", pol: Policy{Min: 1, Max: 10, Target: 100, Stabilization: time.Minute}, steps: []step{
			{at: 0, replicas: 1, backlog: 100, progress: 0, want: 1},
			{at: 1, replicas: 1, backlog: 250, progress: 50, want: 4, why: "growing by 150"}, // 250 + 150 expected
			{at: 2, replicas: 4, backlog: 200, progress: 300, want: 4},                       // shrinking: 2 wanted, held by the window
		}},
		{name: "idle goes to zero after zero-duration, work wakes it", pol: pol, steps: []step{
			{at: 0, replicas: 1, progress: 5, want: 1},
			{at: 20, replicas: 1, progress: 5, want: 1},
			{at: 31, replicas: 1, progress: 5, want: 0, why: "idle for 31s"},
			{at: 40, replicas: 0, progress: 5, want: 0},
			{at: 41, replicas: 0, backlog: 3, progress: 5, want: 1},
		}},
		{name: "progress without backlog is activity", pol: pol, steps: []step{
			{at: 0, replicas: 1, progress: 1, want: 1},
			{at: 29, replicas: 1, progress: 2, want: 1},
			{at: 45, replicas: 1, progress: 2, want: 1}, // idle 16s only
			{at: 60, replicas: 1, progress: 2, want: 0},
		}},
		{name: "an invocation in flight longer than the idle time is activity", pol: pol, steps: []step{
			{at: 0, replicas: 1, progress: 5, want: 1},
			{at: 10, replicas: 1, progress: 5, inflight: 1, want: 1},
			{at: 31, replicas: 1, progress: 5, inflight: 1, want: 1, why: "1 invocations in flight"},
			{at: 90, replicas: 1, progress: 5, inflight: 1, want: 1, why: "in flight"},
			{at: 100, replicas: 1, progress: 6, want: 1}, // it finished
			{at: 125, replicas: 1, progress: 6, want: 1}, // idle 25s only since last seen in flight
			{at: 131, replicas: 1, progress: 6, want: 0, why: "idle for 31s"},
		}},
		{name: "unknown in-flight invocations keep a function from zero but do not wake it", pol: pol, steps: []step{
			{at: 0, replicas: 1, progress: 5, want: 1},
			{at: 40, replicas: 1, progress: 5, unknown: true, want: 1, why: "in flight unknown"},
			{at: 60, replicas: 1, progress: 5, want: 1},
			{at: 71, replicas: 1, progress: 5, want: 0},
			{at: 80, replicas: 0, progress: 5, unknown: true, want: 0},
		}},
		{name: "no zero without the label", pol: Policy{Min: 0, Max: 3, Target: 10, ZeroDuration: time.Second}, steps: []step{
			{at: 0, replicas: 2, want: 1}, // min 0 without scale-to-zero still keeps one
			{at: 100, replicas: 1, backlog: 25, want: 3},
		}},
		{name: "without a backlog, replicas stay within min and max", pol: Policy{Min: 2, Max: 3, Target: 10, ZeroDuration: time.Hour}, noBL: true, steps: []step{
			{at: 0, replicas: 1, progress: 0, want: 2},
			{at: 1, replicas: 5, progress: 0, want: 3},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var st State
			for i, s := range c.steps {
				o := Observation{At: at(s.at), Replicas: s.replicas, Backlog: s.backlog, HasBacklog: !c.noBL, Progress: s.progress,
					Inflight: s.inflight, InflightKnown: !s.unknown}
				var d Decision
				d, st = Decide(c.pol, o, st)
				if d.Replicas != s.want || !strings.Contains(d.Why, s.why) {
					t.Errorf("step %d (t=%ds): %d replicas (%s), want %d (%q)", i, s.at, d.Replicas, d.Why, s.want, s.why)
				}
			}
		})
	}
}
