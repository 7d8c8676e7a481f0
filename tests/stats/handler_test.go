package stats

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	function "github.com/mysimbdp/mysimbdp/functions/stats"
	"github.com/mysimbdp/mysimbdp/shared/stats"
)

// The answers that are not a stored batch or the stats.
func TestHandlerAnswers(t *testing.T) {
	p := startPlatform(t, "10s")
	misconfigured := httptest.NewServer(function.NewHandler(func(string) string { return "" }, slog.New(slog.DiscardHandler)))
	t.Cleanup(misconfigured.Close)
	for _, tc := range []struct {
		name, url, method, body string
		code                    int
		want                    string
	}{
		{"empty body is an empty batch", p.url, http.MethodPost, "", 200, `{"batchItemFailures":[]}`},
		{"empty batch", p.url, http.MethodPost, `{"records":[]}`, 200, `{"batchItemFailures":[]}`},
		{"not a batch", p.url, http.MethodPost, `[1,2]`, 400, "the body is not a batch"},
		{"record without id", p.url, http.MethodPost, `{"records":[{"data":"e30="}]}`, 400, "malformed batch: a record has no id"},
		{"bad since", p.url + "?since=yesterday", http.MethodGet, "", 400, `since=\"yesterday\": want a duration`},
		{"range too long", p.url + "?since=720h", http.MethodGet, "", 400, "reaches back more than 168h"},
		{"not a tenant id", p.url + "?tenant=quota.tenant2", http.MethodGet, "", 400, `tenant=\"quota.tenant2\"`},
		{"other method", p.url, http.MethodPut, "", 405, "GET the stats, or POST a batch of reports"},
		{"misconfigured", misconfigured.URL, http.MethodPost, "", 500, "MYSIMBDP_MONGO_URI is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth(p.user, p.password) // the operator's: the answers after the credentials
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
				t.Errorf("%s answered %d %s, want %d with %q", tc.method, res.StatusCode, b, tc.code, tc.want)
			}
		})
	}
}

// Reading the stats needs credentials: the gateway's show every tenant,
// a tenant's stats token only that tenant; without or with bad ones the
// answer is 401, and a token asking for another tenant gets 403.
func TestReadersOfTheStats(t *testing.T) {
	p := startPlatform(t, "10s")
	p.onboard(t, "tenant1", "")
	p.onboard(t, "tenant2", "")
	token1 := stats.TenantToken(p.key, "tenant1")
	basic := func(u, pw string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, pw) } }
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	for _, tc := range []struct {
		name, query string
		auth        func(*http.Request)
		code        int
		tenants     []string // the rows shown, on 200
	}{
		{name: "operator sees every tenant", auth: basic(p.user, p.password), code: 200, tenants: []string{"tenant1", "tenant2"}},
		{name: "operator asks for one tenant", query: "&tenant=tenant2", auth: basic(p.user, p.password), code: 200, tenants: []string{"tenant2"}},
		{name: "tenant token sees its own rows", auth: bearer(token1), code: 200, tenants: []string{"tenant1"}},
		{name: "tenant token asks for itself", query: "&tenant=tenant1", auth: bearer(token1), code: 200, tenants: []string{"tenant1"}},
		{name: "tenant token asks for another tenant", query: "&tenant=tenant2", auth: bearer(token1), code: 403},
		{name: "no credentials", code: 401},
		{name: "wrong password", auth: basic(p.user, "guess"), code: 401},
		{name: "wrong user", auth: basic("tenant1", p.password), code: 401},
		{name: "token renamed to another tenant", auth: bearer("tenant2" + strings.TrimPrefix(token1, "tenant1")), code: 401},
		{name: "token under another key", auth: bearer(stats.TenantToken([]byte("other key"), "tenant1")), code: 401},
		{name: "tenant's NATS password as a token", auth: bearer("tenant1.s3cret"), code: 401},
		{name: "unknown scheme", auth: func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }, code: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, p.url+"?format=json"+tc.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.auth != nil {
				tc.auth(req)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.code {
				t.Fatalf("GET = %d %s, want %d", res.StatusCode, b, tc.code)
			}
			if tc.code != 200 {
				if strings.Contains(string(b), "tenant2") && tc.code == 401 {
					t.Errorf("a refusal tells about tenant2: %s", b)
				}
				return
			}
			var sm stats.Summary
			if err := json.Unmarshal(b, &sm); err != nil {
				t.Fatalf("%v in %s", err, b)
			}
			var got []string
			for _, ts := range sm.Tenants {
				got = append(got, ts.Tenant)
			}
			if strings.Join(got, ",") != strings.Join(tc.tenants, ",") {
				t.Fatalf("rows of %v, want %v", got, tc.tenants)
			}
			for _, d := range sm.Decisions {
				if !slices.Contains(tc.tenants, d.Tenant) {
					t.Errorf("a decision of %s shown: %+v", d.Tenant, d)
				}
			}
			for _, w := range sm.Windows {
				if len(tc.tenants) == 1 && w.Tenant != tc.tenants[0] {
					t.Errorf("window of %s shown to %s's reader", w.Tenant, tc.tenants[0])
				}
			}
		})
	}
}
