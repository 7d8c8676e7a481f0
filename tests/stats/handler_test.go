package stats

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	function "github.com/mysimbdp/mysimbdp/functions/stats"
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
		{"other method", p.url, http.MethodPut, "", 405, "GET the stats, or POST a batch of reports"},
		{"misconfigured", misconfigured.URL, http.MethodPost, "", 500, "MYSIMBDP_MONGO_URI is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
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
