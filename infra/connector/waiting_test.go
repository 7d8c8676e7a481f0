package connector

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// TestDeferredEventsOutliveWaitingLimits: more events are deferred than
// the waiting stream may hold. None is lost: those that cannot be parked
// stay unacked in the S3 events stream (counted in
// waiting_refused_total) and come back; every one reaches the function
// once it stops deferring. A waiting stream left by an older version,
// with limits that dropped old schedules, is updated on start, and events
// back from waiting are deleted once settled.
func TestDeferredEventsOutliveWaitingLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The older versions' waiting stream: past its limits it dropped its
	// oldest schedules, whose events were acked.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: contract.WaitingStream, Subjects: []string{contract.WaitingSubjectPrefix + ".>"}, Storage: jetstream.FileStorage,
		AllowMsgSchedules: true, Discard: jetstream.DiscardOld, MaxAge: time.Hour, MaxMsgs: 3, MaxBytes: 1 << 20,
	}); err != nil {
		t.Fatalf("create the old waiting stream: %v", err)
	}

	const events, deferrals = 6, 14
	// The function defers (429, Retry-After: 1) its first calls, whichever
	// events they carry, then takes every one.
	dir := e.deploy(fnSpec{name: "held", tenant: "held", topic: "s3:held",
		env: map[string]string{"S3FN_MODE": "defer", "S3FN_N": strconv.Itoa(deferrals)}})
	e.start(func(c *Config) { c.WaitingMaxEvents = 2 })

	st, err := e.js.Stream(ctx, contract.WaitingStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Config; c.MaxAge != 0 || c.MaxMsgs != -1 || c.MaxBytes != -1 {
		t.Errorf("waiting stream not updated on start: max age %s, max msgs %d, max bytes %d; want no limit that drops", c.MaxAge, c.MaxMsgs, c.MaxBytes)
	}

	ids := map[string]bool{}
	var last uint64
	for i := range events {
		last = e.publish(s3Event("s3:ObjectCreated:Put", "held", fmt.Sprintf("incoming/%d.csv", i)))
		ids[strconv.FormatUint(last, 10)] = true
	}
	harness.Until(t, 90*time.Second, "every event taken by the function", func() (bool, string) {
		taken := map[string]bool{}
		for _, c := range calls(t, dir) {
			if c.N > deferrals {
				taken[c.Headers["X-Mysimbdp-Event-Id"]] = true
			}
		}
		for id := range ids {
			if !taken[id] {
				return false, fmt.Sprintf("%d of %d taken; %d calls", len(taken), len(ids), len(calls(t, dir)))
			}
		}
		return true, ""
	})
	e.waitIdle(last, 20*time.Second)

	// Each event was taken exactly once: none duplicated by the refusals.
	taken := map[string]int{}
	for _, c := range calls(t, dir) {
		if c.N > deferrals {
			taken[c.Headers["X-Mysimbdp-Event-Id"]]++
		}
	}
	for id, n := range taken {
		if n != 1 || !ids[id] {
			t.Errorf("event %s taken %d times (published: %v)", id, n, ids[id])
		}
	}
	metrics := e.metricsText()
	if v := metricValue(metrics, `mysimbdp_connector_waiting_refused_total{reason="full",tenant="held"}`); v < 1 {
		t.Errorf("no event was refused a place in the waiting stream; the test did not reach its limit:\n%s", metrics)
	}
	if m := e.deadLetter("held"); m != nil {
		t.Errorf("unexpected dead letter: %v", m.Header)
	}
	// Settled events back from waiting are deleted: the stream empties.
	harness.Until(t, 20*time.Second, "the waiting stream to empty", func() (bool, string) {
		info, err := st.Info(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return info.State.Msgs == 0, fmt.Sprintf("%d messages", info.State.Msgs)
	})
}

// metricValue is the value of one series in a scrape, -1 when absent.
func metricValue(scrape, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(m[1]), 64)
	if err != nil {
		return -1
	}
	return v
}
