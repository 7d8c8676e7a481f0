package adversary

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/minio/minio-go/v7"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
	"github.com/mysimbdp/mysimbdp/shared/stats"
)

// The functions attacked, as `up` deploys them.
const (
	victimStreamFn   = "tenant2-stream-ingest"
	victimBatchFn    = "tenant2-batch-ingest"
	attackerStreamFn = "tenant1-stream-ingest"
	attackerBatchFn  = "tenant1-batch-ingest"
	statsFn          = "stats"
	scalerFn         = "scaler"
)

// functionKey is fn's invocation key as the provider keeps it in the data
// folder: what fn's own code reads from its secrets (tenant1's code holds
// its functions' keys), and, for tenant2's functions, what stands in for
// a signature captured on the wire.
func functionKey(tb testing.TB, fn string) []byte {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(rig.data, "provider", "secrets", "*", fn+"-invoke-key"))
	if len(files) != 1 {
		tb.Fatalf("the invocation key of %s: %d files %v", fn, len(files), files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

// call sends method to /function/<fn>?query with body, its headers set by
// hdr, and returns the answer.
func call(tb testing.TB, method, fn, query string, body []byte, hdr func(http.Header)) (int, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u := rig.e.Gateway + "/function/" + fn
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if hdr != nil {
		hdr(req.Header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s /function/%s: %v", method, fn, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Ways to sign or authenticate a request.
func signed(key []byte, body []byte, at time.Time) func(http.Header) {
	return func(h http.Header) { invokesig.Sign(h, key, http.MethodPost, "/", "", body, at) }
}

func basicAuth(user, password string) func(http.Header) {
	return func(h http.Header) {
		r := http.Request{Header: h}
		r.SetBasicAuth(user, password)
	}
}

func bearer(token string) func(http.Header) {
	return func(h http.Header) { h.Set("Authorization", "Bearer "+token) }
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// s3Event is an S3 event as MinIO sends it.
func s3Event(bucket, key, etag string, size int64) events.S3Event {
	return events.S3Event{Records: []events.S3EventRecord{{
		EventVersion: "2.0", EventSource: "minio:s3", EventName: "s3:ObjectCreated:Put", EventTime: time.Now().UTC(),
		S3: events.S3Entity{Bucket: events.S3Bucket{Name: bucket}, Object: events.S3Object{Key: url.QueryEscape(key), Size: size, ETag: etag}},
	}}}
}

// Invocations that do not carry a good signature of the function called
// are refused with 401 before the function runs, whatever else they
// carry: forged stream batches and S3 events for tenant2, forged reports
// that would throttle tenant2 or take the ids of its real reports, a
// scaler pass; signed with tenant1's keys, or with tenant2's signature
// replayed on another body, after the window or to another function.
func TestForgedInvocationsAreRefused(t *testing.T) {
	now := time.Now()
	// A stream batch that would store a row in tenant2's collection.
	batch := mustJSON(t, contract.Batch{Tenant: victim, Records: []contract.Record{{
		ID: "forged-1", Subject: contract.TenantSubjectPrefixOf(victim) + "covid", Data: ecdc.JSON(100_000), PublishedAt: now,
	}}})
	other := mustJSON(t, contract.Batch{Tenant: victim, Records: []contract.Record{{
		ID: "forged-2", Subject: contract.TenantSubjectPrefixOf(victim) + "covid", Data: ecdc.JSON(100_001), PublishedAt: now,
	}}})
	// A report that would throttle tenant2, under the id its next real
	// report would have.
	const forgedReportID = "REPORTS:999999"
	report := mustJSON(t, contract.Batch{Records: []contract.Record{{
		ID: forgedReportID, Subject: contract.ReportSubjectPrefix + "." + victim, PublishedAt: now,
		Data: mustJSON(t, contract.WindowReport{Tenant: victim, Kind: contract.KindStream,
			WindowStart: now.Add(-time.Second), WindowEnd: now, Messages: 1 << 40, Bytes: 1 << 50, Batches: 1}),
	}}})
	info, err := rig.s3.StatObject(context.Background(), victim, seedObject, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	event := mustJSON(t, s3Event(victim, seedObject, info.ETag, info.Size))

	victimStreamKey := functionKey(t, victimStreamFn) // "captured": see functionKey
	t1Stream, t1Batch := functionKey(t, attackerStreamFn), functionKey(t, attackerBatchFn)
	for _, tt := range []struct {
		name, fn string
		body     []byte
		send     []byte // the body sent, when not body
		hdr      func(http.Header)
		want     string
	}{
		{name: "stream batch, no credentials", fn: victimStreamFn, body: batch, want: "unsigned invocation"},
		{name: "stream batch, tenant1's S3 keys", fn: victimStreamFn, body: batch, hdr: basicAuth(rig.t1.S3AccessKey, rig.t1.S3SecretKey), want: "unsigned invocation"},
		{name: "stream batch, tenant1's stats token", fn: victimStreamFn, body: batch, hdr: bearer(rig.t1.StatsToken), want: "unsigned invocation"},
		{name: "stream batch signed with tenant1's stream key", fn: victimStreamFn, body: batch, hdr: signed(t1Stream, batch, now), want: "bad signature"},
		{name: "stream batch signed with tenant1's batch key", fn: victimStreamFn, body: batch, hdr: signed(t1Batch, batch, now), want: "bad signature"},
		{name: "tenant2's signature replayed with another body", fn: victimStreamFn, body: other, send: batch, hdr: signed(victimStreamKey, other, now), want: "bad signature"},
		{name: "tenant2's signature replayed after the window", fn: victimStreamFn, body: batch, hdr: signed(victimStreamKey, batch, now.Add(-invokesig.DefaultWindow-time.Minute)), want: "stale timestamp"},
		{name: "tenant2's signature replayed to its batch function", fn: victimBatchFn, body: event, hdr: signed(victimStreamKey, event, now), want: "bad signature"},
		{name: "S3 event for tenant2's file, no credentials", fn: victimBatchFn, body: event, want: "unsigned invocation"},
		{name: "S3 event for tenant2's file signed with tenant1's batch key", fn: victimBatchFn, body: event, hdr: signed(t1Batch, event, now), want: "bad signature"},
		{name: "forged report, no credentials", fn: statsFn, body: report, want: "unsigned invocation"},
		{name: "forged report, tenant1's stats token", fn: statsFn, body: report, hdr: bearer(rig.t1.StatsToken), want: "unsigned invocation"},
		{name: "forged report, tenant1's S3 keys", fn: statsFn, body: report, hdr: basicAuth(rig.t1.S3AccessKey, rig.t1.S3SecretKey), want: "unsigned invocation"},
		{name: "forged report signed with tenant1's stream key", fn: statsFn, body: report, hdr: signed(t1Stream, report, now), want: "bad signature"},
		{name: "empty tick, no credentials", fn: statsFn, want: "unsigned invocation"},
		{name: "scaler pass, no credentials", fn: scalerFn, want: "unsigned invocation"},
		{name: "scaler pass signed with tenant1's batch key", fn: scalerFn, hdr: signed(t1Batch, nil, now), want: "bad signature"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t)
			send := tt.body
			if tt.send != nil {
				send = tt.send
			}
			code, body := call(t, http.MethodPost, tt.fn, "", send, tt.hdr)
			if code != http.StatusUnauthorized || !strings.Contains(body, tt.want) {
				t.Errorf("POST /function/%s = %d %q, want 401 %q", tt.fn, code, body, tt.want)
			}
			unchanged(t, before)
		})
	}
	// Nothing took the forged report's id.
	n, err := rig.db.Database(platformDB).Collection(reportsCollName).CountDocuments(context.Background(), bson.D{{Key: "_id", Value: forgedReportID}})
	if err != nil || n != 0 {
		t.Errorf("stored reports with the forged id %s: %d, %v", forgedReportID, n, err)
	}
}

// tenant1's batch function, invoked with a good signature (its own key,
// which its code holds) and an event naming tenant2's bucket, is refused
// and stores nothing: not in tenant2's database, not in tenant1's; the
// file stays where it was.
func TestBatchFunctionRefusesAnotherTenantsBucket(t *testing.T) {
	ctx := context.Background()
	key := functionKey(t, attackerBatchFn)
	info, err := rig.s3.StatObject(ctx, victim, seedObject, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, key, etag string }{
		{name: "tenant2's file", key: seedObject, etag: info.ETag},
		{name: "tenant2's file, no etag", key: seedObject},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t)
			event := mustJSON(t, s3Event(victim, tt.key, tt.etag, info.Size))
			code, body := call(t, http.MethodPost, attackerBatchFn, "", event, signed(key, event, time.Now()))
			if code < 400 || code >= 500 {
				t.Errorf("tenant1's batch function on tenant2's %s = %d %q, want a refusal (4xx)", tt.key, code, body)
			}
			unchanged(t, before)
			if _, err := rig.s3.StatObject(ctx, victim, seedObject, minio.StatObjectOptions{}); err != nil {
				t.Errorf("tenant2's file after the attack: %v", err)
			}
		})
	}
}

// The stats are read only with credentials: the gateway's show every
// tenant; tenant1's stats token shows tenant1's rows and is refused
// tenant2's; no credentials, or tenant1's other credentials, get 401.
func TestReadingStatsNeedsCredentials(t *testing.T) {
	creds, err := localstack.LoadOrCreateCredentials(rig.data)
	if err != nil {
		t.Fatal(err)
	}
	if rig.t1.StatsToken == "" {
		t.Fatal("tenant1 has no stats token in its credentials.json")
	}
	forgedToken := victim + strings.TrimPrefix(rig.t1.StatsToken, attacker)
	for _, tt := range []struct {
		name, query string
		hdr         func(http.Header)
		code        int
		tenants     []string // the rows shown on 200
	}{
		{name: "no credentials", code: 401},
		{name: "tenant1's S3 keys", hdr: basicAuth(rig.t1.S3AccessKey, rig.t1.S3SecretKey), code: 401},
		{name: "tenant1's NATS user", hdr: basicAuth(rig.t1.NATSUser, rig.t1.NATSPassword), code: 401},
		{name: "tenant1's NATS password as a token", hdr: bearer(rig.t1.NATSPassword), code: 401},
		{name: "tenant1's token renamed to tenant2", hdr: bearer(forgedToken), code: 401},
		{name: "tenant1's token for tenant2's stats", query: "&tenant=" + victim, hdr: bearer(rig.t1.StatsToken), code: 403},
		{name: "tenant1's token", hdr: bearer(rig.t1.StatsToken), code: 200, tenants: []string{attacker}},
		{name: "tenant2's token", hdr: bearer(rig.t2.StatsToken), code: 200, tenants: []string{victim}},
		// The control: the operator sees both.
		{name: "the gateway's credentials", hdr: basicAuth(creds.GatewayUser, creds.GatewayPassword), code: 200, tenants: []string{attacker, victim}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t)
			code, body := call(t, http.MethodGet, statsFn, "format=json"+tt.query, nil, tt.hdr)
			if code != tt.code {
				t.Fatalf("GET /function/stats = %d %q, want %d", code, body, tt.code)
			}
			unchanged(t, before)
			if code != 200 {
				if strings.Contains(body, `"rows_ok"`) {
					t.Errorf("a refusal carries figures: %s", body)
				}
				return
			}
			var sm stats.Summary
			if err := json.Unmarshal([]byte(body), &sm); err != nil {
				t.Fatalf("%v in %s", err, body)
			}
			var got []string
			for _, ts := range sm.Tenants {
				got = append(got, ts.Tenant)
			}
			if strings.Join(got, ",") != strings.Join(tt.tenants, ",") {
				t.Fatalf("rows of %v, want %v", got, tt.tenants)
			}
			for _, d := range sm.Decisions {
				if len(tt.tenants) == 1 && d.Tenant != tt.tenants[0] {
					t.Errorf("%s's decision shown to %s: %+v", d.Tenant, tt.tenants[0], d)
				}
			}
		})
	}
}
