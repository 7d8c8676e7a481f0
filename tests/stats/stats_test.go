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
)

const generous = "batch:\n  max_files_per_window: 100\n"

// Every report is stored once whatever the redeliveries, a file reported
// twice counts once, records that are not reports are refused with their
// reason, and the stats (JSON, table, windows) are exact sums of what is
// stored.
func TestTotalsAreTheStoredReportsOnce(t *testing.T) {
	p := startPlatform(t, "10s")
	p.onboard(t, "stats-a", generous)
	p.onboard(t, "stats-b", generous)
	ctx := context.Background()
	// Every report's time in the middle of one past 10s platform window,
	// so that the window checks below see them all in one.
	now := time.Now().Add(-10 * time.Second).Truncate(10 * time.Second).Add(5 * time.Second)

	var recs []contract.Record
	var wantA stats.Figures
	var fileMS int64
	for i := 1; i <= 6; i++ {
		r := fileReport("stats-a", fmt.Sprintf("f%d.csv", i), fmt.Sprintf("etag%d", i), contract.StatusDone, int64(i*10), int64(i), int64(100+i*10), now)
		recs = append(recs, record(fmt.Sprintf("REPORTS:%d", i), r))
		wantA.Files++
		wantA.RowsOK += r.RowsOK
		wantA.RowsRejected += r.RowsRejected
		wantA.FileBytes += r.Bytes
		fileMS += r.DurationMS
		if i == 1 { // the same file reported again (a redelivered event): one file
			recs = append(recs, record("REPORTS:1-again", r))
		}
	}
	rejected := fileReport("stats-a", "bad-header.csv", "etag9", contract.StatusRejected, 0, 0, 20, now)
	deferred := fileReport("stats-a", "late.csv", "etag10", contract.StatusDeferred, 0, 0, 5, now.Add(-500*time.Millisecond))
	late := fileReport("stats-a", "late.csv", "etag10", contract.StatusDone, 7, 0, 30, now)
	failed := fileReport("stats-a", "flaky.csv", "etag11", contract.StatusFailed, 0, 0, 15, now)
	recs = append(recs, record("REPORTS:20", rejected), record("REPORTS:21", deferred), record("REPORTS:22", late), record("REPORTS:23", failed))
	wantA.Files += 2
	wantA.RowsOK += late.RowsOK
	wantA.FileBytes += late.Bytes
	fileMS += rejected.DurationMS + late.DurationMS
	wantA.Deferrals, wantA.FileFailures = 1, 1

	var wantB stats.Figures
	for i, m := range []int64{100, 200, 50} {
		w := windowReport("stats-b", m, m*120, now.Add(-time.Duration(i)*time.Second), 5*time.Second)
		recs = append(recs, record(fmt.Sprintf("REPORTS:3%d", i), w))
		wantB.Messages += w.Messages
		wantB.StreamBytes += w.Bytes
		wantB.Batches += w.Batches
	}
	// Not reports: dead-lettered with a reason.
	recs = append(recs, record("REPORTS:40", []byte("hello")))
	spoof := record("REPORTS:41", fileReport("stats-b", "x.csv", "e", contract.StatusDone, 1000, 0, 1, now))
	spoof.Subject = "mysimbdp.reports.stats-a"
	recs = append(recs, spoof)
	valid := len(recs) - 2

	for delivery := 1; delivery <= 2; delivery++ { // the second is a redelivery of the same records
		resp := p.post(t, recs...)
		got := failures(resp)
		want := []string{"REPORTS:40: not a report: invalid character 'h'",
			"REPORTS:41: report of tenant stats-b on mysimbdp.reports.stats-a, which is tenant stats-a's subject"}
		if len(got) != len(want) {
			t.Fatalf("delivery %d: failures %q, want %q", delivery, got, want)
		}
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]) {
				t.Errorf("delivery %d: failure %q, want %q…", delivery, got[i], want[i])
			}
		}
	}

	platform := p.db.Database(contract.DefaultPlatformDB)
	if n, err := platform.Collection(stats.ReportsCollection).CountDocuments(ctx, bson.D{}); err != nil || n != int64(valid) {
		t.Errorf("%s holds %d reports (%v), want %d: each record once", stats.ReportsCollection, n, err, valid)
	}
	if n, err := platform.Collection(stats.FilesCollection).CountDocuments(ctx, bson.D{}); err != nil || n != wantA.Files {
		t.Errorf("%s holds %d files (%v), want %d: each finished file once", stats.FilesCollection, n, err, wantA.Files)
	}

	// What the database holds, summed independently of the function.
	var dbRows struct{ ok, rejected int64 }
	cur, err := platform.Collection(stats.FilesCollection).Find(ctx, bson.D{{Key: "tenant", Value: "stats-a"}})
	if err != nil {
		t.Fatal(err)
	}
	for cur.Next(ctx) {
		var f struct {
			OK  int64 `bson:"rows_ok"`
			Rej int64 `bson:"rows_rejected"`
		}
		if err := cur.Decode(&f); err != nil {
			t.Fatal(err)
		}
		dbRows.ok += f.OK
		dbRows.rejected += f.Rej
	}
	if dbRows.ok != wantA.RowsOK || dbRows.rejected != wantA.RowsRejected {
		t.Fatalf("database holds rows %+v, want %d ok and %d rejected", dbRows, wantA.RowsOK, wantA.RowsRejected)
	}

	sm := p.summary(t)
	byTenant := map[string]stats.TenantSummary{}
	for _, ts := range sm.Tenants {
		byTenant[ts.Tenant] = ts
	}
	a, b := byTenant["stats-a"], byTenant["stats-b"]
	wantA.FileAvgMS = float64(fileMS) / float64(wantA.Files)
	check := func(who string, got, want stats.Figures) {
		t.Helper()
		p95 := got.FileP95MS
		got.FileP95MS = 0
		got.BatchAvgMS, got.BatchP95MS = 0, 0
		if d := got.FileAvgMS - want.FileAvgMS; d > 0.001 || d < -0.001 {
			t.Errorf("%s: file avg %v ms, want %v", who, got.FileAvgMS, want.FileAvgMS)
		}
		got.FileAvgMS = want.FileAvgMS
		if got != want {
			t.Errorf("%s figures\n got %+v\nwant %+v", who, got, want)
		}
		if want.Files > 0 && (p95 < 100 || p95 > 160) { // 95th of {20,30,110..160} ms
			t.Errorf("%s: file p95 %v ms, want 160 or the bucket just under it", who, p95)
		}
	}
	check("stats-a", a.Figures, wantA)
	check("stats-b", b.Figures, wantB)
	if b.BatchAvgMS != 4 || b.BatchP95MS != 4 {
		t.Errorf("stats-b batch ms avg %v p95 %v, want 4 and 4", b.BatchAvgMS, b.BatchP95MS)
	}
	if sm.All.RowsOK != dbRows.ok || sm.All.Files != wantA.Files || sm.All.Messages != wantB.Messages ||
		sm.All.Deferrals != 1 || sm.All.FileFailures != 1 {
		t.Errorf("overall %+v, want the two tenants' sums", sm.All)
	}
	if a.Quota.State != quota.Allowed || b.Quota.State != quota.Allowed || len(sm.Decisions) != 0 {
		t.Errorf("quotas %s %s and decisions %+v, want both allowed and none taken", a.Quota.State, b.Quota.State, sm.Decisions)
	}

	// The stored windows add up to the same totals.
	var winRows, winMsgs, winFiles int64
	for _, w := range sm.Windows {
		if w.Tenant != stats.AllTenants || w.End.Sub(w.Start) != 10*time.Second {
			t.Errorf("window %+v is not a 10s platform window", w)
		}
		winRows += w.RowsOK
		winMsgs += w.Messages
		winFiles += w.Files
	}
	if winRows != dbRows.ok || winMsgs != wantB.Messages || winFiles != wantA.Files {
		t.Errorf("platform windows sum to %d rows, %d messages, %d files; want %d, %d, %d",
			winRows, winMsgs, winFiles, dbRows.ok, wantB.Messages, wantA.Files)
	}
	n, err := platform.Collection(stats.WindowsCollection).CountDocuments(ctx, bson.D{{Key: "tenant", Value: "stats-a"}})
	if err != nil || n < 1 {
		t.Errorf("no per-tenant windows stored for stats-a (%v)", err)
	}

	// A window sum is only replaced by one counting at least as many
	// entries: a stale sum (a replica that read before another's insert)
	// never overwrites a fuller one, and a redelivery repairs a stale one.
	windows := platform.Collection(stats.WindowsCollection)
	allID := stats.AllTenants + "@" + sm.Windows[0].Start.UTC().Format(time.RFC3339Nano)
	setWindow := func(entries, rows int64) {
		t.Helper()
		if _, err := windows.UpdateOne(ctx, bson.D{{Key: "_id", Value: allID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "entries", Value: entries}, {Key: "rows_ok", Value: rows}}}}); err != nil {
			t.Fatal(err)
		}
	}
	stored := func() (entries, rows int64) {
		t.Helper()
		var w stats.Window
		if err := windows.FindOne(ctx, bson.D{{Key: "_id", Value: allID}}).Decode(&w); err != nil {
			t.Fatal(err)
		}
		return w.Entries, w.RowsOK
	}
	if len(sm.Windows) != 1 {
		t.Fatalf("reports span %d windows; this check wants them in one", len(sm.Windows))
	}
	setWindow(1000, 1)
	p.post(t, recs...)
	if e, r := stored(); e != 1000 || r != 1 {
		t.Errorf("a sum of fewer entries replaced a fuller one: %d entries, %d rows", e, r)
	}
	setWindow(1, 1)
	p.post(t, recs...)
	if e, r := stored(); e != sm.Windows[0].Entries || r != wantA.RowsOK {
		t.Errorf("redelivery left the stale window: %d entries, %d rows; want %d, %d", e, r, sm.Windows[0].Entries, wantA.RowsOK)
	}

	// The table for people: one line per tenant and overall.
	ct, text := p.get(t, "?since=1h", "text/plain")
	if !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("table answered as %s", ct)
	}
	t.Logf("stats table:\n%s", text)
	for _, want := range [][]string{
		{"stats-a", fmt.Sprint(wantA.Files), fmt.Sprint(wantA.RowsOK), fmt.Sprint(wantA.RowsRejected), fmt.Sprint(wantA.FileBytes), "1", "1"},
		{"stats-b", "350", fmt.Sprint(wantB.StreamBytes), "0", fmt.Sprint(wantB.Batches), "4.0", "4.0"},
		{"all", fmt.Sprint(wantA.Files), fmt.Sprint(wantA.RowsOK)},
		{"stats-a", "allowed"},
	} {
		if !hasRow(text, want) {
			t.Errorf("table has no row starting %q", want)
		}
	}
	if _, json := p.get(t, "", "application/json"); !strings.HasPrefix(json, "{") {
		t.Errorf("Accept: application/json answered %.80s", json)
	}
}

// hasRow reports whether a line of text starts with the fields want.
func hasRow(text string, want []string) bool {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(want) && strings.Join(f[:len(want)], " ") == strings.Join(want, " ") {
			return true
		}
	}
	return false
}
