package stats

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/quota"
	"github.com/mysimbdp/mysimbdp/shared/stats"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

const streamLimits = "stream:\n  max_messages_per_window: 100\n  window: 1s\n"

// decisions are the decisions history's entries of tenant, oldest first.
func (p *platform) decisions(t *testing.T, tenant string) []quota.Decision {
	t.Helper()
	ctx := context.Background()
	cur, err := p.db.Database(contract.DefaultPlatformDB).Collection(stats.DecisionsCollection).
		Find(ctx, bson.D{{Key: "tenant", Value: tenant}})
	if err != nil {
		t.Fatal(err)
	}
	var out []quota.Decision
	for cur.Next(ctx) {
		var d struct {
			State     string    `bson:"state"`
			Until     time.Time `bson:"until"`
			Reason    string    `bson:"reason"`
			DecidedAt time.Time `bson:"decided_at"`
		}
		if err := cur.Decode(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, quota.Decision{Tenant: tenant, State: quota.State(d.State), Until: d.Until, Reason: d.Reason, DecidedAt: d.DecidedAt})
	}
	return out
}

// A tenant over its message quota is throttled, with the figures and an
// end that brings its average rate back to the quota, while the other
// tenant is untouched; the throttle is lifted once its time is over.
func TestStreamOverQuotaThrottlesThenAllows(t *testing.T) {
	p := startPlatform(t, "1s")
	p.onboard(t, "hot", streamLimits)
	p.onboard(t, "calm", streamLimits)
	end := time.Now().Add(-100 * time.Millisecond)
	batch := []contract.Record{
		record("REPORTS:1", windowReport("hot", 600, 60_000, end, time.Second)),
		record("REPORTS:2", windowReport("calm", 90, 9_000, end, time.Second)),
	}
	if f := failures(p.post(t, batch...)); len(f) != 0 {
		t.Fatalf("failures %q", f)
	}

	d := p.decision(t, "hot")
	// 600 messages at 100 per 1s window: this window and five more.
	if wait := d.Until.Sub(end); d.State != quota.Throttled || wait < 5*time.Second-time.Millisecond || wait > 5*time.Second {
		t.Fatalf("hot: %+v, want throttled until 5s after its window's end %v", d, end)
	}
	for _, want := range []string{"600 messages in the 1s window ending", "over the profile's stream.max_messages_per_window of 100"} {
		if !strings.Contains(d.Reason, want) {
			t.Errorf("reason %q lacks %q", d.Reason, want)
		}
	}
	if c := p.decision(t, "calm"); c.State != quota.Allowed || c.Reason != "" {
		t.Errorf("calm: %+v, want allowed and never decided on", c)
	}

	// A redelivery decides nothing new; the stats show the throttle. (Each
	// answer evaluates the quotas first: one that comes back before the
	// throttle's end must still show it.)
	inForce := func() bool { return time.Now().Before(d.Until) }
	p.post(t, batch...)
	if !inForce() {
		t.Fatalf("the machine took over 5s for a few requests; the checks of a throttle in force cannot run")
	}
	if h := p.decisions(t, "hot"); len(h) != 1 || h[0].State != quota.Throttled || !h[0].Until.Equal(d.Until) {
		t.Fatalf("history %+v, want the one throttle", h)
	}
	sm := p.summary(t)
	_, text := p.get(t, "", "")
	if !inForce() {
		t.Fatalf("the machine took over 5s for a few requests; the checks of a throttle in force cannot run")
	}
	if len(sm.Decisions) != 1 || sm.Decisions[0].Tenant != "hot" || sm.Decisions[0].Reason != d.Reason {
		t.Errorf("stats decisions %+v, want hot's throttle", sm.Decisions)
	}
	for _, ts := range sm.Tenants {
		if want := map[string]quota.State{"hot": quota.Throttled, "calm": quota.Allowed}[ts.Tenant]; ts.Quota.State != want {
			t.Errorf("stats show %s %s, want %s", ts.Tenant, ts.Quota.State, want)
		}
	}
	if !hasRow(text, []string{"hot", "throttled", d.Until.UTC().Format("15:04:05Z"), "600", "messages"}) {
		t.Errorf("table does not show hot's throttle:\n%s", text)
	}

	// Once its time is over, the next evaluation (an empty batch, as a
	// scheduler sends) allows it again.
	harness.Until(t, 20*time.Second, "hot allowed again", func() (bool, string) {
		p.post(t)
		d := p.decision(t, "hot")
		return d.State == quota.Allowed, fmt.Sprintf("%+v", d)
	})
	h := p.decisions(t, "hot")
	if len(h) != 2 || h[1].State != quota.Allowed || !strings.Contains(h[1].Reason, "within the profile's limits") ||
		h[1].DecidedAt.Before(d.Until) {
		t.Errorf("history %+v, want the throttle then allowed after %v", h, d.Until)
	}
	if c := p.decisions(t, "calm"); len(c) != 0 {
		t.Errorf("calm was decided on: %+v", c)
	}
}

// Files over batch.max_files_per_window are not the stats function's to
// throttle: batch ingestion claims a slot of the window before it reads a
// file, and defers what is over (shared/quota's doc says why one owner).
// The reports of files done and deferred leave the tenant allowed, and
// are counted — a file asked for twice once.
func TestFilesOverQuotaAreTheFunctionsNotAThrottle(t *testing.T) {
	p := startPlatform(t, "1s")
	p.onboard(t, "busy", "batch:\n  max_files_per_window: 3\n  window: 2s\n")
	now := time.Now()
	var recs []contract.Record
	for i := range 5 {
		st := contract.StatusDone
		if i >= 3 {
			st = contract.StatusDeferred // the function defers what is over
		}
		r := fileReport("busy", fmt.Sprintf("f%d.csv", i), "e", st, 10, 0, 10, now)
		recs = append(recs, record(fmt.Sprintf("REPORTS:%d", i), r))
		if i == 4 { // deferred again: still one file
			r.EndedAt = r.EndedAt.Add(time.Millisecond)
			recs = append(recs, record("REPORTS:4-again", r))
		}
	}
	p.post(t, recs...)
	if d := p.decision(t, "busy"); d.State != quota.Allowed {
		t.Fatalf("busy: %+v, want allowed: files per window are batch ingestion's quota", d)
	}
	// The deferred files are ingested after all: each counted once.
	p.post(t, record("REPORTS:10", fileReport("busy", "f3.csv", "e", contract.StatusDone, 10, 0, 10, time.Now())),
		record("REPORTS:11", fileReport("busy", "f4.csv", "e", contract.StatusDone, 10, 0, 10, time.Now())))
	if d := p.decision(t, "busy"); d.State != quota.Allowed {
		t.Errorf("busy: %+v after its deferred files, want allowed", d)
	}
	sm := p.summary(t)
	if len(sm.Tenants) != 1 || sm.Tenants[0].Files != 5 || sm.Tenants[0].RowsOK != 50 || sm.Tenants[0].Deferrals != 3 {
		t.Errorf("stats %+v, want 5 files, 50 rows, 3 deferrals", sm.Tenants)
	}
}

// A tenant database over storage.max_bytes blocks the tenant with no end;
// the block is lifted once the database is under its limit again.
func TestStorageOverQuotaBlocks(t *testing.T) {
	p := startPlatform(t, "1s")
	p.onboard(t, "full", "storage:\n  max_bytes: 20kB\n")
	ctx := context.Background()
	coll := p.db.Database("full").Collection("covid_daily")
	docs := make([]any, 100)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}, {Key: "pad", Value: strings.Repeat("x", 1000)}}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	p.post(t)
	d := p.decision(t, "full")
	if d.State != quota.Blocked || !d.Until.IsZero() || !d.Holds(time.Now().Add(time.Hour)) {
		t.Fatalf("full: %+v, want blocked until lifted", d)
	}
	if want := "over the profile's storage.max_bytes of 20kB"; !strings.Contains(d.Reason, want) || !strings.Contains(d.Reason, "database full holds") {
		t.Errorf("reason %q lacks %q", d.Reason, want)
	}
	if err := p.db.Database("full").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	harness.Until(t, 20*time.Second, "full allowed again", func() (bool, string) {
		p.post(t)
		d := p.decision(t, "full")
		return d.State == quota.Allowed, fmt.Sprintf("%+v", d)
	})
}

// A window report that reaches the stats function after its window has
// passed (the REPORTS stream and the connector take time) still counts:
// the quota window ends at the latest report, not at the moment of
// evaluation.
func TestLateStreamReportStillThrottles(t *testing.T) {
	p := startPlatform(t, "1s")
	p.onboard(t, "late", "stream:\n  max_messages_per_window: 100\n  window: 2s\n")
	end := time.Now().Add(-3 * time.Second) // more than a window ago
	p.post(t, record("REPORTS:1", windowReport("late", 1000, 1000, end, 2*time.Second)))
	d := p.decision(t, "late")
	// 1000 at 100 per 2s: ten windows, so nine more after this one.
	if wait := d.Until.Sub(end); d.State != quota.Throttled || wait < 18*time.Second-time.Millisecond || wait > 18*time.Second {
		t.Fatalf("late: %+v, want throttled until 18s after its window's end %v", d, end)
	}
}
