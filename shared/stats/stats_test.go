package stats

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

func TestConfigFromEnv(t *testing.T) {
	full := map[string]string{"MYSIMBDP_MONGO_URI": "mongodb://h", "MYSIMBDP_NATS_URL": "nats://h:4222"}
	for _, tc := range []struct {
		name    string
		set     map[string]string
		window  time.Duration
		wantErr string
	}{
		{"defaults", nil, contract.DefaultStatsWindow, ""},
		{"window", map[string]string{"MYSIMBDP_STATS_WINDOW": "1m"}, time.Minute, ""},
		{"bad window", map[string]string{"MYSIMBDP_STATS_WINDOW": "soon"}, 0, `MYSIMBDP_STATS_WINDOW="soon"`},
		{"tiny window", map[string]string{"MYSIMBDP_STATS_WINDOW": "10ms"}, 0, "at least 1s"},
		{"no mongo", map[string]string{"MYSIMBDP_MONGO_URI": ""}, 0, "MYSIMBDP_MONGO_URI is not set"},
		{"no nats", map[string]string{"MYSIMBDP_NATS_URL": ""}, 0, "MYSIMBDP_NATS_URL is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ConfigFromEnv(func(k string) string {
				if v, ok := tc.set[k]; ok {
					return v
				}
				return full[k]
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrConfig) {
					t.Fatalf("error %v, want ErrConfig with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Window != tc.window || c.PlatformDB != contract.DefaultPlatformDB || c.ReportSubject != contract.ReportSubjectPrefix {
				t.Errorf("config %+v", c)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	now := time.Date(2020, 7, 6, 10, 0, 0, 0, time.UTC)
	t0 := now.Add(-time.Minute)
	js := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	done := contract.BatchReport{Kind: contract.KindBatch, Tenant: "tenant1", Bucket: "tenant1", Key: "incoming/a.csv", ETag: "e1",
		Size: 100, RowsOK: 9, RowsRejected: 1, Bytes: 100, DurationMS: 40, Status: contract.StatusDone, StartedAt: t0, EndedAt: t0.Add(40 * time.Millisecond)}
	window := contract.WindowReport{Tenant: "tenant1", Kind: contract.KindStream, WindowStart: t0, WindowEnd: t0.Add(5 * time.Second),
		Messages: 10, Bytes: 2000, Failures: 1, Batches: 2, AvgIngestMS: 3.5}
	with := func(f func(r *contract.BatchReport)) []byte { r := done; f(&r); return js(r) }
	for _, tc := range []struct {
		name, subject string
		data          []byte
		want          entry
		wantErr       string
	}{
		{name: "batch done", subject: "mysimbdp.reports.tenant1", data: js(done),
			want: entry{ID: "r", Tenant: "tenant1", Kind: "batch", At: done.EndedAt, Subject: "mysimbdp.reports.tenant1", ReceivedAt: now,
				File: "tenant1/incoming/a.csv@e1", Status: "done", StartedAt: t0, Size: 100, RowsOK: 9, RowsRejected: 1, Bytes: 100, DurationMS: 40}},
		{name: "stream window", subject: "mysimbdp.reports.tenant1", data: js(window),
			want: entry{ID: "r", Tenant: "tenant1", Kind: "stream", At: window.WindowEnd, Subject: "mysimbdp.reports.tenant1", ReceivedAt: now,
				WindowStart: t0, Messages: 10, Bytes: 2000, Failures: 1, Batches: 2, AvgIngestMS: 3.5}},
		{name: "deferred without etag is fine", subject: "mysimbdp.reports.tenant1",
			data: with(func(r *contract.BatchReport) { r.Status, r.ETag = contract.StatusDeferred, "" }),
			want: entry{ID: "r", Tenant: "tenant1", Kind: "batch", At: done.EndedAt, Subject: "mysimbdp.reports.tenant1", ReceivedAt: now,
				File: "tenant1/incoming/a.csv@", Status: "deferred", StartedAt: t0, Size: 100, RowsOK: 9, RowsRejected: 1, Bytes: 100, DurationMS: 40}},
		{name: "not JSON", data: []byte("hello"), wantErr: "not a report: invalid character 'h'"},
		{name: "no tenant", data: []byte(`{"kind":"batch"}`), wantErr: "not a report: no tenant"},
		{name: "unknown kind", data: []byte(`{"tenant":"tenant1","kind":"cron"}`), wantErr: `report kind "cron" is neither "batch" nor "stream"`},
		{name: "no kind", data: []byte(`{"tenant":"tenant1"}`), wantErr: `report kind "" is neither`},
		{name: "another tenant's subject", subject: "mysimbdp.reports.tenant2", data: js(done),
			wantErr: "report of tenant tenant1 on mysimbdp.reports.tenant2, which is tenant tenant2's subject"},
		{name: "bad status", data: with(func(r *contract.BatchReport) { r.Status = "running" }), wantErr: `status "running" is not done`},
		{name: "done without etag", data: with(func(r *contract.BatchReport) { r.ETag = "" }), wantErr: "a file is named by bucket, key and etag"},
		{name: "no end", data: with(func(r *contract.BatchReport) { r.EndedAt = time.Time{} }), wantErr: "no ended_at"},
		{name: "negative rows", data: with(func(r *contract.BatchReport) { r.RowsOK = -1 }), wantErr: "negative counts"},
		{name: "stream without end", data: []byte(`{"tenant":"tenant1","kind":"stream","messages":3}`), wantErr: "no window_end"},
		{name: "batch fields of the wrong type", data: []byte(`{"tenant":"tenant1","kind":"batch","rows_ok":"many"}`), wantErr: "not a batch report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decode(contract.Record{ID: "r", Subject: tc.subject, Data: tc.data}, "mysimbdp.reports", now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decoded\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestHistogram(t *testing.T) {
	var h hist
	if h.avg() != 0 || h.p95() != 0 {
		t.Fatal("empty histogram is not zero")
	}
	for v := 1; v <= 100; v++ { // 1..100 ms: avg 50.5, p95 95
		h.add(float64(v), 1)
	}
	if h.avg() != 50.5 {
		t.Errorf("avg = %v, want 50.5", h.avg())
	}
	if p := h.p95(); p < 95 || p > 95*histGrowth {
		t.Errorf("p95 = %v, want within 10%% above 95", p)
	}
	// Weighted: 99 batches at 2 ms and one at 1000 ms: p95 is 2 ms.
	var w hist
	w.add(2, 99)
	w.add(1000, 1)
	if p := w.p95(); p < 2 || p > 2*histGrowth {
		t.Errorf("weighted p95 = %v, want ~2", p)
	}
	if a := w.avg(); a != 11.98 {
		t.Errorf("weighted avg = %v, want 11.98", a)
	}
	// One value: p95 is that value exactly (clipped to what was seen),
	// and a huge one lands in the last bucket without overflowing.
	var one hist
	one.add(1e12, 1)
	if one.p95() != 1e12 {
		t.Errorf("p95 of one value = %v", one.p95())
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2020, 7, 6, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{"", now.Add(-time.Hour), ""},
		{"15m", now.Add(-15 * time.Minute), ""},
		{"2020-07-06T09:00:00Z", now.Add(-time.Hour), ""},
		{"-5m", time.Time{}, "positive"},
		{"yesterday", time.Time{}, "want a duration such as 1h or an RFC 3339 time"},
		{"200h", time.Time{}, "more than 168h"},
	} {
		got, err := ParseSince(tc.in, now)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseSince(%q) error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
