package quota

import (
	"strings"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

func TestEvaluate(t *testing.T) {
	p, err := profile.Parse([]byte(`tenant: tenant1
batch: {max_files_per_window: 10, window: 1m}
stream: {max_messages_per_window: 500, max_bytes_per_window: 400MB, window: 5s}
storage: {max_bytes: 1GB}
sink:
  collection: c
  schema: [{name: a, type: int}]
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2020, 7, 6, 10, 0, 7, 0, time.UTC)
	end := now.Add(-2 * time.Second) // the last stream window ended at 10:00:05
	allowed := Decision{Tenant: "tenant1", State: Allowed}
	throttledUntil := func(u time.Time) Decision {
		return Decision{Tenant: "tenant1", State: Throttled, Until: u, Reason: "earlier", DecidedAt: now.Add(-time.Second)}
	}
	known := func(u Usage) Usage { u.StorageKnown = true; return u }

	for _, tc := range []struct {
		name      string
		u         Usage
		prev      Decision
		state     State
		until     time.Time
		reason    []string // substrings of the reason
		keepsPrev bool
	}{
		{name: "idle", u: known(Usage{}), prev: allowed, state: Allowed, reason: []string{"within the profile's limits"}},
		{name: "at the limit is not over", u: known(Usage{Messages: 500, StreamBytes: 400_000_000, StreamEnd: end}),
			prev: allowed, state: Allowed},
		{name: "messages over: one more window", u: known(Usage{Messages: 620, StreamBytes: 1000, StreamEnd: end}),
			prev: allowed, state: Throttled, until: end.Add(5 * time.Second),
			reason: []string{"620 messages in the 5s window ending 10:00:05, over the profile's stream.max_messages_per_window of 500", "paused until 10:00:10"}},
		{name: "three times the rate: two more windows", u: known(Usage{Messages: 1500, StreamEnd: end}),
			prev: allowed, state: Throttled, until: end.Add(10 * time.Second)},
		{name: "bytes over", u: known(Usage{Messages: 10, StreamBytes: 900_000_000, StreamEnd: end}),
			prev: allowed, state: Throttled, until: end.Add(10 * time.Second),
			reason: []string{"900000000 bytes in the 5s window", "stream.max_bytes_per_window of 400MB"}},
		{name: "messages and bytes over: the longer throttle, both reasons", u: known(Usage{Messages: 600, StreamBytes: 1_300_000_000, StreamEnd: end}),
			prev: allowed, state: Throttled, until: end.Add(15 * time.Second),
			reason: []string{"600 messages", "1300000000 bytes"}},
		{name: "a throttle in force is kept", u: known(Usage{}), prev: throttledUntil(now.Add(time.Second)), keepsPrev: true},
		{name: "a longer throttle in force is not shortened", u: known(Usage{Messages: 620, StreamEnd: end}),
			prev: throttledUntil(now.Add(time.Hour)), keepsPrev: true},
		{name: "a throttle in force is extended", u: known(Usage{Messages: 5000, StreamEnd: end}),
			prev: throttledUntil(now.Add(time.Second)), state: Throttled, until: end.Add(45 * time.Second)},
		{name: "an ended throttle turns allowed", u: known(Usage{Messages: 100, StreamEnd: end}),
			prev: throttledUntil(now.Add(-time.Millisecond)), state: Allowed,
			reason: []string{"within the profile's limits: 100 messages and 0 bytes in the last 5s, database tenant1 holds 0 bytes of 1GB"}},
		{name: "measured too late to matter", u: known(Usage{Messages: 620, StreamEnd: now.Add(-6 * time.Second)}),
			prev: allowed, state: Allowed},
		{name: "storage over blocks without end", u: known(Usage{StorageBytes: 1_000_000_001, Messages: 900, StreamEnd: end}),
			prev: allowed, state: Blocked,
			reason: []string{"database tenant1 holds 1000000001 bytes, over the profile's storage.max_bytes of 1GB"}},
		{name: "storage under lifts a block", u: known(Usage{StorageBytes: 999_000_000}),
			prev: Decision{Tenant: "tenant1", State: Blocked, Reason: "full"}, state: Allowed},
		{name: "unknown storage keeps a block", u: Usage{},
			prev: Decision{Tenant: "tenant1", State: Blocked, Reason: "full"}, keepsPrev: true},
		{name: "unknown storage blocks nobody", u: Usage{}, prev: allowed, state: Allowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Evaluate(p, tc.u, tc.prev, now)
			if tc.keepsPrev {
				if got != tc.prev || Changed(tc.prev, got) {
					t.Fatalf("got %+v, want the decision in force %+v", got, tc.prev)
				}
				return
			}
			if got.Tenant != "tenant1" || got.State != tc.state || !got.Until.Equal(tc.until) || !got.DecidedAt.Equal(now) {
				t.Fatalf("got %+v, want %s until %v decided now", got, tc.state, tc.until)
			}
			for _, want := range tc.reason {
				if !strings.Contains(got.Reason, want) {
					t.Errorf("reason %q lacks %q", got.Reason, want)
				}
			}
			if got.State != Allowed && got.Holds(now) != true {
				t.Errorf("%s decision does not hold now", got.State)
			}
		})
	}
}

func TestEvaluateWithoutLimits(t *testing.T) {
	p := &profile.Profile{Tenant: "t0"} // every limit zero: nothing to enforce
	got := Evaluate(p, Usage{Messages: 1 << 40, StreamBytes: 1 << 50, StorageBytes: 1 << 60, StorageKnown: true},
		Decision{Tenant: "t0", State: Allowed}, time.Now())
	if got.State != Allowed {
		t.Fatalf("got %+v, want allowed", got)
	}
}

func TestChanged(t *testing.T) {
	t0 := time.Date(2020, 7, 6, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		a, b Decision
		want bool
	}{
		{Decision{State: Allowed}, Decision{State: Allowed, Reason: "within", DecidedAt: t0}, false},
		{Decision{State: Allowed}, Decision{State: Throttled, Until: t0}, true},
		{Decision{State: Throttled, Until: t0}, Decision{State: Throttled, Until: t0.Add(time.Second)}, true},
		{Decision{State: Throttled, Until: t0}, Decision{State: Throttled, Until: t0.In(time.Local), Reason: "x"}, false},
		{Decision{State: Blocked}, Decision{State: Allowed}, true},
	} {
		if got := Changed(tc.a, tc.b); got != tc.want {
			t.Errorf("Changed(%+v, %+v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
