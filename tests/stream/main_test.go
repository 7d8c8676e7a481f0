// Package stream tests stream ingestion against the real parts: an
// embedded FerretDB and an embedded NATS, each test with its own, in its
// own temporary folders on free ports, stopped in its Cleanup. Batches go
// through the function's HTTP handler (httptest) and through the
// shared/streamingest API; the connector side is infra/connector's.
package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	function "github.com/mysimbdp/mysimbdp/functions/stream-ingest"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/streamingest"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// platform is one test's FerretDB and NATS.
type platform struct {
	mongoURI, natsURL string
	db                *mongo.Client
}

// startPlatform starts FerretDB and NATS for tb; both stop in its Cleanup,
// after the client made here disconnects (so FerretDB need not wait).
func startPlatform(tb testing.TB) *platform {
	tb.Helper()
	ns := harness.NATS(tb)
	fs, db := harness.FerretDB(tb)
	return &platform{mongoURI: fs.URI(), natsURL: ns.ClientURL(), db: db}
}

// getenv is the environment a deployed stream function would get.
func (p *platform) getenv(profileYAML string, extra ...string) func(string) string {
	vars := map[string]string{
		"MYSIMBDP_PROFILE":   profileYAML,
		"MYSIMBDP_MONGO_URI": p.mongoURI,
		"MYSIMBDP_NATS_URL":  p.natsURL,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	return func(k string) string { return vars[k] }
}

// ingester is the shared/streamingest API for the profile.
func (p *platform) ingester(tb testing.TB, profileYAML string, extra ...string) *streamingest.Ingester {
	tb.Helper()
	cfg, err := streamingest.ConfigFromEnv(p.getenv(profileYAML, extra...))
	if err != nil {
		tb.Fatal(err)
	}
	in, err := streamingest.New(cfg, streamingest.Options{Log: testLog(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = in.Close(context.Background()) })
	return in
}

// handler serves the real function handler over HTTP.
func (p *platform) handler(tb testing.TB, profileYAML string, extra ...string) *httptest.Server {
	tb.Helper()
	h := function.NewHandler(p.getenv(profileYAML, extra...), testLog(tb))
	srv := httptest.NewServer(h)
	tb.Cleanup(func() {
		srv.Close()
		_ = h.Close(context.Background())
	})
	return srv
}

// subscribe collects the messages on subject until the test ends.
func (p *platform) subscribe(tb testing.TB, subject string) <-chan *nats.Msg {
	tb.Helper()
	nc, err := nats.Connect(p.natsURL)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	ch := make(chan *nats.Msg, 64)
	if _, err := nc.ChanSubscribe(subject, ch); err != nil {
		tb.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the subscription is live before we publish
		tb.Fatal(err)
	}
	return ch
}

// post sends a batch as the connector does and decodes the answer.
func post(tb testing.TB, url, tenant string, body []byte) (int, contract.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(contract.HeaderTenant, tenant)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(res.Body).Decode(&raw); err != nil {
		tb.Fatalf("answer %d is not JSON: %v", res.StatusCode, err)
	}
	var resp contract.Response
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &resp); err != nil {
			tb.Fatal(err)
		}
		if resp.BatchItemFailures == nil {
			tb.Errorf("batchItemFailures is null, want a list: %s", raw)
		}
	}
	return res.StatusCode, resp, string(raw)
}

func count(tb testing.TB, coll *mongo.Collection) int64 {
	tb.Helper()
	n, err := coll.CountDocuments(context.Background(), bson.D{})
	if err != nil {
		tb.Fatalf("count %s: %v", coll.Name(), err)
	}
	return n
}

func testLog(tb testing.TB) *slog.Logger { return harness.Logger(tb, slog.LevelWarn) }

// failures renders a response's failures as "id: reason" for messages.
func failures(r contract.Response) []string {
	out := make([]string, len(r.BatchItemFailures))
	for i, f := range r.BatchItemFailures {
		out[i] = fmt.Sprintf("%s: %s", f.ItemIdentifier, f.Reason)
	}
	return out
}
