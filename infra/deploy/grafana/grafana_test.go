package grafana

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/connector"
	"github.com/mysimbdp/mysimbdp/infra/console"
	"github.com/mysimbdp/mysimbdp/infra/provider"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// registered is every metric name the code's registries describe: the
// provider's (the gateway's /metrics), the connector's and the console's
// gauges (/connector/metrics).
func registered(t *testing.T) map[string]bool {
	t.Helper()
	secrets := t.TempDir()
	for f, v := range map[string]string{contract.SecretGatewayUser: "admin", contract.SecretGatewayPassword: "pw"} {
		if err := os.WriteFile(filepath.Join(secrets, f), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p, err := provider.New(context.Background(), provider.Config{DataDir: t.TempDir(), ImagesDir: t.TempDir(), SecretMountPath: secrets}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	gw, err := gateway.New("http://127.0.0.1:1", "admin", "pw")
	if err != nil {
		t.Fatal(err)
	}
	c, err := connector.New(connector.Config{NATSURL: "nats://127.0.0.1:1"}, gw, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The console's collector describes its gauges without reading.
	nc, err := nats.Connect(harness.NATS(t).ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	db, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	col, err := console.NewCollector(console.Deps{Gateway: gw, JetStream: js, Mongo: db})
	if err != nil {
		t.Fatal(err)
	}

	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for _, coll := range []prometheus.Collector{p.Registry(), c.Registry(), col} {
		ch := make(chan *prometheus.Desc)
		go func() { coll.Describe(ch); close(ch) }()
		for d := range ch {
			if m := fq.FindStringSubmatch(d.String()); m != nil {
				names[m[1]] = true
			}
		}
	}
	return names
}

// TestDashboardQueriesRegisteredMetrics: every metric a panel of
// mysimbdp.json queries is registered by the code (a histogram by its
// _bucket, _sum and _count series), and the per-function panels of the
// gateway and the connector group by the same label.
func TestDashboardQueriesRegisteredMetrics(t *testing.T) {
	raw, err := os.ReadFile("mysimbdp.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("mysimbdp.json: %v", err)
	}
	known := registered(t)
	metric := regexp.MustCompile(`\b(?:gateway|mysimbdp)_[a-zA-Z0-9_:]+`)
	queried := map[string]bool{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			names := metric.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no mysimbdp or gateway metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				queried[n] = true
				base := n
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(n, suffix); ok && known[b] {
						base = b
					}
				}
				if !known[base] {
					t.Errorf("panel %q queries %s, which no registry of the code has", p.Title, n)
				}
			}
			if strings.Contains(tg.Expr, " by (") && strings.Contains(tg.Expr, "function") &&
				!strings.Contains(tg.Expr, contract.MetricLabelFunction) {
				t.Errorf("panel %q groups functions by another label than %s: %q", p.Title, contract.MetricLabelFunction, tg.Expr)
			}
		}
	}
	if len(queried) < 10 {
		t.Errorf("the dashboard queries only %d metrics", len(queried))
	}
	var names []string
	for n := range queried {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("queried: %s", strings.Join(names, " "))
}
