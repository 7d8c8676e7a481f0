package scale

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// The defaults of the scaling labels (contract.LabelScale*).
const (
	DefaultMin          = 1
	DefaultMax          = 20
	DefaultTarget       = 100
	DefaultZeroDuration = 15 * time.Minute
)

// Policy is one function's scaling labels, read.
type Policy struct {
	Min, Max      int
	Target        int64
	Zero          bool
	ZeroDuration  time.Duration
	Stabilization time.Duration
}

// Managed reports whether labels ask for scaling at all.
func Managed(labels map[string]string) bool {
	for k := range labels {
		if strings.HasPrefix(k, contract.LabelScalePrefix) || strings.HasPrefix(k, contract.LabelScaleOwnPrefix) {
			return true
		}
	}
	return false
}

// Deprecated names each old scaling label labels carry (as "old (use
// new)"), sorted, for a deprecation warning: ReadPolicy still reads them.
func Deprecated(labels map[string]string) []string {
	var out []string
	for old, now := range contract.DeprecatedScaleLabels() {
		if _, ok := labels[old]; ok {
			out = append(out, old+" (use "+now+")")
		}
	}
	sort.Strings(out)
	return out
}

// ReadPolicy reads labels; a value that cannot be read keeps its default
// and is named in problems, so one typo does not stop the function's
// scaling.
func ReadPolicy(labels map[string]string, stabilization time.Duration) (p Policy, problems []string) {
	p = Policy{Min: DefaultMin, Max: DefaultMax, Target: DefaultTarget, ZeroDuration: DefaultZeroDuration, Stabilization: stabilization}
	// An old label name stands for its new one unless that is set too.
	if olds := Deprecated(labels); len(olds) > 0 {
		withOld := make(map[string]string, len(labels))
		for old, now := range contract.DeprecatedScaleLabels() {
			if v, ok := labels[old]; ok {
				withOld[now] = v
			}
		}
		for k, v := range labels {
			withOld[k] = v
		}
		labels = withOld
	}
	num := func(key string, into *int, lo int) {
		if v, ok := labels[key]; ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < lo {
				problems = append(problems, fmt.Sprintf("%s=%q is not a whole number of at least %d", key, v, lo))
				return
			}
			*into = n
		}
	}
	dur := func(key string, into *time.Duration) {
		if v, ok := labels[key]; ok {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d < 0 {
				problems = append(problems, fmt.Sprintf("%s=%q is not a duration (e.g. 30s, 15m)", key, v))
				return
			}
			*into = d
		}
	}
	num(contract.LabelScaleMin, &p.Min, 0)
	num(contract.LabelScaleMax, &p.Max, 1)
	target := int(p.Target)
	num(contract.LabelScaleTarget, &target, 1)
	p.Target = int64(target)
	dur(contract.LabelScaleZeroDuration, &p.ZeroDuration)
	dur(contract.LabelScaleStabilization, &p.Stabilization)
	if v, ok := labels[contract.LabelScaleZero]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s=%q is not true or false", contract.LabelScaleZero, v))
		}
		p.Zero = b
	}
	if p.Min > p.Max {
		problems = append(problems, fmt.Sprintf("%s=%d is above %s=%d; using %d for both", contract.LabelScaleMin, p.Min, contract.LabelScaleMax, p.Max, p.Max))
		p.Min = p.Max
	}
	return p, problems
}

// Observation is what the scaler sees of one function in one run.
type Observation struct {
	At       time.Time
	Replicas int
	// Backlog is the records waiting for the function or in flight;
	// HasBacklog is false when the function has no consumer to read it
	// from.
	Backlog    int64
	HasBacklog bool
	// Progress counts work the function has taken so far (its consumer's
	// deliveries, or its finished invocations): any change since the last
	// run means it was active.
	Progress float64
	// Inflight is the invocations started and not yet answered (one
	// long file can take longer than the idle time); InflightKnown is
	// false when they could not be read, and then the function is not
	// taken for idle.
	Inflight      int64
	InflightKnown bool
}

// State is what the scaler remembers of one function between runs.
type State struct {
	// LastActive is the last run that saw backlog or progress.
	LastActive time.Time `json:"last_active"`
	// Progress, Backlog and At are the last run's observation.
	Progress float64   `json:"progress"`
	Backlog  int64     `json:"backlog"`
	At       time.Time `json:"at"`
	// Recs are the recommendations within the stabilisation window.
	Recs []Rec `json:"recs,omitempty"`
}

// Rec is one run's recommendation.
type Rec struct {
	At       time.Time `json:"at"`
	Replicas int       `json:"replicas"`
}

// Decision is the replicas a function should have, and why.
type Decision struct {
	Replicas int
	Why      string
}

// Decide returns the replicas for a function under p given o, and the
// state to remember for the next run (st is the last one; zero at first).
func Decide(p Policy, o Observation, st State) (Decision, State) {
	next := State{LastActive: st.LastActive, Progress: o.Progress, Backlog: o.Backlog, At: o.At}
	// An invocation in flight is work however long ago one finished:
	// finished invocations alone would call a function idle in the
	// middle of a file that takes longer than its idle time. Every
	// invocation either finishes between two runs (Progress changes) or
	// is seen in flight by one, so idle since LastActive means nothing
	// was in flight all that time.
	active := o.Backlog > 0 || (!st.At.IsZero() && o.Progress != st.Progress) || o.Inflight > 0
	if active || (!o.InflightKnown && o.Replicas > 0) || st.LastActive.IsZero() {
		// A function first seen counts as just active: it gets its idle
		// time in full before it goes to zero. So does one with replicas
		// whose invocations in flight are unknown: it may be at work.
		next.LastActive = o.At
	}

	// What the load asks for now.
	var want int
	var why string
	switch {
	case o.HasBacklog:
		// The observed rate: a backlog that grew since the last run (more
		// arrives than the replicas take) is expected to grow as much
		// again by the next one, so replicas are added for that too.
		expect := o.Backlog
		if growth := o.Backlog - st.Backlog; !st.At.IsZero() && growth > 0 {
			expect += growth
		}
		want = int(min(math.Ceil(float64(expect)/float64(p.Target)), float64(p.Max)))
		why = fmt.Sprintf("backlog %d at %d per replica", o.Backlog, p.Target)
		if expect > o.Backlog {
			why += fmt.Sprintf(", growing by %d per run", expect-o.Backlog)
		}
	default:
		want = o.Replicas
		why = "no backlog to read; replicas kept within min and max"
	}
	want = min(max(want, p.Min), p.Max)

	idle := o.At.Sub(next.LastActive)
	if p.Zero && !active && idle >= p.ZeroDuration {
		want = 0
		why = fmt.Sprintf("idle for %s (zero after %s)", idle.Round(time.Second), p.ZeroDuration)
	} else if want == 0 && (active || !p.Zero) {
		want = 1 // work arrived, or min 0 without scale-to-zero
	}
	switch {
	case p.Zero && o.Inflight > 0:
		why += fmt.Sprintf("; %d invocations in flight, so not idle", o.Inflight)
	case p.Zero && !o.InflightKnown && o.Replicas > 0:
		why += "; invocations in flight unknown, so not taken for idle"
	}

	// Scale up at once; down to the highest recommendation of the window.
	recs := append(st.Recs, Rec{At: o.At, Replicas: want})
	kept := recs[:0]
	for _, r := range recs {
		if o.At.Sub(r.At) <= p.Stabilization {
			kept = append(kept, r)
		}
	}
	next.Recs = kept
	out := want
	if want < o.Replicas && want > 0 {
		for _, r := range kept {
			out = max(out, r.Replicas)
		}
		out = min(out, o.Replicas)
		if out > want {
			why += fmt.Sprintf("; down to %d held at %d for the %s stabilisation window", want, out, p.Stabilization)
		}
	}
	return Decision{Replicas: out, Why: why}, next
}
