package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/quota"
	"github.com/mysimbdp/mysimbdp/shared/stats"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// quotaProfile is an ECDC profile with small quotas: 300 messages per 2s
// window, 2 files per 6s window.
func quotaProfile(tenant string) string {
	return ecdc.Profile(tenant, ecdc.SourceNames, `
batch:
  max_files_per_window: 2
  window: 6s
stream:
  max_messages_per_window: 300
  window: 2s
`)
}

// summary reads GET /function/stats as JSON, as the operator.
func (p *platform) summary(t *testing.T) stats.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.stack.Endpoints.Gateway+"/function/stats?format=json", nil)
	req.SetBasicAuth(p.stack.Creds.GatewayUser, p.stack.Creds.GatewayPassword) // the operator's view: every tenant
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET stats: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET stats: %d %s", resp.StatusCode, body)
	}
	var s stats.Summary
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("GET stats: %v in %s", err, body)
	}
	return s
}

func tenantFigures(s stats.Summary, id string) stats.TenantSummary {
	for _, ts := range s.Tenants {
		if ts.Tenant == id {
			return ts
		}
	}
	return stats.TenantSummary{Tenant: id}
}

// decision is tenant's quota decision as the connector reads it.
func (p *platform) decision(t *testing.T, tenant string) quota.Decision {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := quota.ControlKV(ctx, p.js, 0)
	if err != nil {
		t.Fatal(err)
	}
	d, err := quota.Get(ctx, kv, tenant)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestQuotasThrottleOnlyTheTenantOverThem is the control loop on the whole
// platform: the functions report, the connector delivers the reports to
// the stats function, which judges them against the profiles and records
// decisions the connector obeys.
//   - tenant1, over its message quota, is throttled, while tenant2, which
//     publishes as much, is never held back; every record of both is
//     stored, tenant1's after its throttles.
//   - tenant1 uploads more files than its files-per-window quota: the extra
//     files are deferred, then ingested.
//   - The stats totals equal what is in the database.
func TestQuotasThrottleOnlyTheTenantOverThem(t *testing.T) {
	p := startPlatform(t, map[string]string{
		"tenant1": quotaProfile("tenant1"),
		"tenant2": streamProfile("tenant2", 1_000_000, "2s"),
	})
	const n = 2000
	p.publish(t, "ingest.tenant1.covid", 0, n)
	p.publish(t, "ingest.tenant2.covid", 0, n)

	var throttle quota.Decision
	harness.Until(t, 2*time.Minute, "tenant1 throttled by the stats function", func() (bool, string) {
		throttle = p.decision(t, "tenant1")
		return throttle.State == quota.Throttled, fmt.Sprintf("decision %+v", throttle)
	})
	if !strings.Contains(throttle.Reason, "max_messages_per_window") || !throttle.Until.After(throttle.DecidedAt) {
		t.Errorf("throttle %+v: want a reason naming the message quota and an end", throttle)
	}
	harness.Until(t, 2*time.Minute, "tenant2's records stored", func() (bool, string) {
		c, err := p.count("tenant2", "covid_daily")
		return c == n, fmt.Sprintf("%d of %d, err %v", c, n, err)
	})
	if d := p.decision(t, "tenant2"); d.State != quota.Allowed {
		t.Errorf("tenant2 held back: %+v", d)
	}
	harness.Until(t, 4*time.Minute, "tenant1's records stored after its throttles", func() (bool, string) {
		c, err := p.count("tenant1", "covid_daily")
		return c == n, fmt.Sprintf("%d of %d, err %v", c, n, err)
	})

	// Files: 5 uploads against 2 per 6s window.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	mc, err := minio.New(p.stack.Endpoints.MinIO, &minio.Options{Creds: credentials.NewStaticV4(p.stack.Creds.MinIOUser, p.stack.Creds.MinIOPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	const files, rowsPer = 5, 200
	base := 100_000 // other rows than the stream's
	for i := range files {
		body := ecdc.CSV(base+i*rowsPer, base+(i+1)*rowsPer)
		key := fmt.Sprintf("incoming/part-%d.csv", i)
		if _, err := mc.PutObject(ctx, "tenant1", key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "text/csv"}); err != nil {
			t.Fatalf("upload %s: %v", key, err)
		}
	}
	harness.Until(t, 4*time.Minute, "every file ingested", func() (bool, string) {
		c, err := p.count("tenant1", "covid_daily")
		return c == n+files*rowsPer, fmt.Sprintf("%d of %d rows, err %v", c, n+files*rowsPer, err)
	})

	// The stats agree with the database: every file once, its rows, and
	// the deferrals of the files over the quota.
	var s stats.Summary
	harness.Until(t, time.Minute, "the stats to count the five files", func() (bool, string) {
		s = p.summary(t)
		f := tenantFigures(s, "tenant1")
		return f.Files == files, fmt.Sprintf("tenant1 %+v", f.Figures)
	})
	t1 := tenantFigures(s, "tenant1")
	if t1.RowsOK != files*rowsPer || t1.RowsRejected != 0 {
		t.Errorf("stats: tenant1 rows ok %d, rejected %d; the files hold %d rows", t1.RowsOK, t1.RowsRejected, files*rowsPer)
	}
	if t1.Deferrals == 0 {
		t.Errorf("stats: no deferral of tenant1's files, though 5 came against 2 per window: %+v", t1.Figures)
	}
	if t1.Messages < n || tenantFigures(s, "tenant2").Messages < n {
		t.Errorf("stats: messages tenant1 %d, tenant2 %d; each stored %d", t1.Messages, tenantFigures(s, "tenant2").Messages, n)
	}
	if s.All.Files != files || s.All.RowsOK != files*rowsPer {
		t.Errorf("stats: platform totals %+v", s.All)
	}
	var sawThrottle bool
	for _, d := range s.Decisions {
		if d.Tenant == "tenant2" && d.State != quota.Allowed {
			t.Errorf("stats shows tenant2 held back: %+v", d)
		}
		sawThrottle = sawThrottle || (d.Tenant == "tenant1" && d.State == quota.Throttled)
	}
	if !sawThrottle {
		t.Errorf("stats decisions lack tenant1's throttle: %+v", s.Decisions)
	}
}
