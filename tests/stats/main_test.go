// Package stats tests the stats function against the real parts: an
// embedded FerretDB and an embedded NATS per test, on free ports, in the
// test's temporary folders. Report batches go through the function's HTTP
// handler (httptest) as the connector delivers them; profiles are
// published to the profile bucket as onboarding does; decisions are read
// back from the control bucket the connector obeys.
package stats

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"

	function "github.com/mysimbdp/mysimbdp/functions/stats"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
	"github.com/mysimbdp/mysimbdp/shared/quota"
	"github.com/mysimbdp/mysimbdp/shared/stats"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// platform is one test's FerretDB and NATS, and the stats function.
type platform struct {
	db  *mongo.Client
	js  jetstream.JetStream
	url string // the function
	// key is the function's invocation key, under which tenants' stats
	// tokens are made; user and password are the gateway's, the
	// operator's credentials for reading the stats.
	key            []byte
	user, password string
}

func startPlatform(t *testing.T, window string) *platform {
	t.Helper()
	ns := harness.NATS(t)
	fs, db := harness.FerretDB(t)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The secrets the function reads its readers' credentials from, as
	// `mysimbdp up` gives them: the gateway's and its invocation key.
	secrets := t.TempDir()
	p := &platform{db: db, js: js, key: invokesig.FunctionKey([]byte("master"), "stats"), user: "admin", password: "gateway-password"}
	for name, v := range map[string]string{"basic-auth-user": p.user, "basic-auth-password": p.password, "stats-invoke-key": string(p.key)} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"MYSIMBDP_MONGO_URI":         fs.URI(),
		"MYSIMBDP_NATS_URL":          ns.ClientURL(),
		"MYSIMBDP_STATS_WINDOW":      window,
		"MYSIMBDP_SECRETS_DIR":       secrets,
		"MYSIMBDP_INVOKE_KEY_SECRET": "stats-invoke-key",
	}
	h := function.NewHandler(func(k string) string { return env[k] },
		harness.Logger(t, slog.LevelInfo))
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		_ = h.Close(context.Background())
	})
	p.url = srv.URL
	return p
}

// onboard publishes a tenant's profile as onboarding does: ECDC rows, with
// limits as extra YAML sections.
func (p *platform) onboard(t *testing.T, tenant, limits string) {
	t.Helper()
	if err := quota.PublishProfile(context.Background(), p.js, 0, tenant, []byte(ecdc.Profile(tenant, ecdc.SourceNames, limits))); err != nil {
		t.Fatal(err)
	}
}

// post delivers records as the connector does and decodes the answer.
func (p *platform) post(t *testing.T, recs ...contract.Record) contract.Response {
	t.Helper()
	body, err := json.Marshal(contract.Batch{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post(p.url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST answered %d: %s", res.StatusCode, raw)
	}
	var resp contract.Response
	if err := json.Unmarshal(raw, &resp); err != nil || resp.BatchItemFailures == nil {
		t.Fatalf("answer %s: %v (batchItemFailures must be a list)", raw, err)
	}
	return resp
}

// get fetches the stats; accept "" asks for the text table.
func (p *platform) get(t *testing.T, query, accept string) (string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.url+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.SetBasicAuth(p.user, p.password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s answered %d: %s", query, res.StatusCode, raw)
	}
	return res.Header.Get("Content-Type"), string(raw)
}

func (p *platform) summary(t *testing.T) stats.Summary {
	t.Helper()
	ct, body := p.get(t, "?format=json", "")
	if !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("?format=json answered %s", ct)
	}
	var sm stats.Summary
	if err := json.Unmarshal([]byte(body), &sm); err != nil {
		t.Fatalf("summary %s: %v", body, err)
	}
	return sm
}

func (p *platform) decision(t *testing.T, tenant string) quota.Decision {
	t.Helper()
	kv, err := quota.ControlKV(context.Background(), p.js, 0)
	if err != nil {
		t.Fatal(err)
	}
	d, err := quota.Get(context.Background(), kv, tenant)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// record wraps a report as the connector delivers it from REPORTS.
func record(id string, report any) contract.Record {
	data, ok := report.([]byte)
	if !ok {
		var err error
		if data, err = json.Marshal(report); err != nil {
			panic(err)
		}
	}
	tenant := ""
	var probe struct{ Tenant string }
	if json.Unmarshal(data, &probe) == nil {
		tenant = probe.Tenant
	}
	return contract.Record{ID: id, Subject: "mysimbdp.reports." + tenant, Data: data, PublishedAt: time.Now()}
}

// fileReport is a batch app's report of one file.
func fileReport(tenant, name, etag string, st contract.Status, rowsOK, rowsRejected, ms int64, ended time.Time) contract.BatchReport {
	return contract.BatchReport{Kind: contract.KindBatch, Tenant: tenant, Bucket: tenant, Key: "incoming/" + name, ETag: etag,
		Size: 1000 * (rowsOK + rowsRejected), Bytes: 1000 * (rowsOK + rowsRejected), RowsOK: rowsOK, RowsRejected: rowsRejected,
		DurationMS: ms, Status: st, StartedAt: ended.Add(-time.Duration(ms) * time.Millisecond), EndedAt: ended}
}

// windowReport is a stream app's report of one window.
func windowReport(tenant string, messages, bytes int64, end time.Time, window time.Duration) contract.WindowReport {
	return contract.WindowReport{Tenant: tenant, Kind: contract.KindStream, WindowStart: end.Add(-window), WindowEnd: end,
		Messages: messages, Bytes: bytes, Batches: max(1, messages/10), AvgIngestMS: 4}
}

func failures(r contract.Response) []string {
	out := make([]string, len(r.BatchItemFailures))
	for i, f := range r.BatchItemFailures {
		out[i] = fmt.Sprintf("%s: %s", f.ItemIdentifier, f.Reason)
	}
	return out
}
