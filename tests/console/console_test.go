// Package console drives the operator's dashboard (infra/console, /ui/ on
// the gateway's address) in a real headless Chromium, with chromedp,
// against a whole local platform (infra/local/localstack) onboarding the
// repo's two tenants: what the operator sees is checked against what the
// platform does.
package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/connector/stream"
	"github.com/mysimbdp/mysimbdp/infra/deadletter"
	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// screenshotsEnv names a folder to save the dashboard's screenshots in
// (the README's are made so: MYSIMBDP_CONSOLE_SCREENSHOTS=docs/images);
// unset, they go to the test's temporary folder.
const screenshotsEnv = "MYSIMBDP_CONSOLE_SCREENSHOTS"

// tenant1's sink, as tenants/tenant1.yaml says.
const (
	sinkDB   = "tenant1"
	sinkColl = "covid_daily"
)

type platform struct {
	stack *localstack.Stack
	gw    *gateway.Client
	js    jetstream.JetStream
	db    *mongo.Client
	s3    *minio.Client
}

func startPlatform(t *testing.T) *platform {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "minio")); err != nil {
		t.Fatalf("bin/minio is missing: run ./scripts/setup first (%v)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := localstack.Start(ctx, localstack.Config{
		DataDir:              t.TempDir(),
		StackFile:            filepath.Join(root, "stack.yml"),
		ConnectorMaxAttempts: 2,
		ConnectorBackoff:     100 * time.Millisecond,
		Progress:             func(f string, a ...any) { t.Logf(f, a...) },
	}, harness.Logger(t, slog.LevelWarn))
	if err != nil {
		t.Fatalf("start the platform: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop the platform: %v", err)
		}
	})
	p := &platform{stack: s}
	if p.gw, err = gateway.New(s.Endpoints.Gateway, s.Creds.GatewayUser, s.Creds.GatewayPassword); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(s.Endpoints.NATS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if p.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	if p.db, err = mongo.Connect(options.Client().ApplyURI(s.Endpoints.MongoURI)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.db.Disconnect(context.Background()) })
	if p.s3, err = minio.New(s.Endpoints.MinIO, &minio.Options{Creds: credentials.NewStaticV4(s.Creds.MinIOUser, s.Creds.MinIOPassword, "")}); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *platform) count(t *testing.T) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := p.db.Database(sinkDB).Collection(sinkColl).CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatalf("count %s.%s: %v", sinkDB, sinkColl, err)
	}
	return n
}

// metric is the connector's sample named exactly by series ("name{labels}"), or -1.
func (p *platform) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get(p.stack.Endpoints.Gateway + "/connector/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// browser starts a headless Chromium for t (Debian's package, which
// scripts/setup installs) and returns a tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		t.Fatal("no chromium on PATH: run ./scripts/setup (it installs Debian's chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	// The browser is stopped (and waited for) before the platform.
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	return tab
}

// within bounds one step in the tab.
func within(t *testing.T, tab context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(tab, d)
	t.Cleanup(cancel)
	return ctx
}

// do runs steps in the tab within d.
func do(t *testing.T, tab context.Context, d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(within(t, tab, d), steps...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// load runs steps that load a page (a navigation, a form's button) and
// returns the page's HTTP status.
func load(t *testing.T, tab context.Context, what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	t.Helper()
	resp, err := chromedp.RunResponse(within(t, tab, 30*time.Second), steps...)
	if err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
	return resp.Status
}

// text is the visible text of the first element matching the CSS selector.
func text(t *testing.T, tab context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(within(t, tab, 20*time.Second), chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("browser: read %s: %v", sel, err)
	}
	return s
}

// overview loads the dashboard's main page afresh.
func overview(t *testing.T, tab context.Context, ui string) {
	t.Helper()
	if st := load(t, tab, "open "+ui, chromedp.Navigate(ui)); st != http.StatusOK {
		t.Fatalf("%s answered %d", ui, st)
	}
}

// click presses a form's button and checks the page it leads to.
func click(t *testing.T, tab context.Context, sel string) {
	t.Helper()
	if st := load(t, tab, "click "+sel, chromedp.Click(chromedp.CSS(sel))); st != http.StatusOK {
		t.Fatalf("clicking %s led to a %d page: %s", sel, st, text(t, tab, "body"))
	}
}

func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		dir = t.TempDir()
	} else if !filepath.IsAbs(dir) {
		root, _ := harness.RepoRoot()
		dir = filepath.Join(root, dir)
	}
	png, err := chromedp.Run(within(t, tab, 30*time.Second), chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", filepath.Join(dir, name), len(png))
}

// TestDashboard is the operator at the dashboard: refused without
// credentials; with them, both tenants and their functions; pause stops a
// tenant's stream delivery (its records wait, counted in the backlog) and
// resume delivers them; a dead letter replayed from the page is stored.
func TestDashboard(t *testing.T) {
	p := startPlatform(t)
	ui := p.stack.Endpoints.Gateway + "/ui/"
	tab := browser(t)

	// Without credentials: 401, as the gateway's /system. Headless
	// Chromium, which has no login dialog, fails such a page load
	// (net::ERR_INVALID_AUTH_CREDENTIALS); the status is the response's.
	statuses := make(chan int64, 16)
	do(t, tab, 10*time.Second, "watch responses", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
		return err
	}))
	if err := chromedp.Listen(tab, func(ev any) {
		if r, ok := ev.(*network.EventResponseReceivedExtraInfo); ok {
			select {
			case statuses <- r.StatusCode:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(within(t, tab, 30*time.Second), chromedp.Navigate(ui))
	select {
	case st := <-statuses:
		if st != http.StatusUnauthorized {
			t.Fatalf("/ui/ without credentials answered %d (load error %v), want 401", st, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no answer to /ui/ without credentials (load error %v)", err)
	}
	if body, _ := chromedp.Run(within(t, tab, 10*time.Second), chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(body, "tenant1") {
		t.Fatalf("the refusal shows the dashboard: %q", body)
	}

	// With the gateway's credentials, sent with every request of the tab
	// (form posts too), as a browser does once the user has logged in.
	auth := base64.StdEncoding.EncodeToString([]byte(p.stack.Creds.GatewayUser + ":" + p.stack.Creds.GatewayPassword))
	do(t, tab, 10*time.Second, "send the credentials", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Basic " + auth}})
		return err
	}))
	overview(t, tab, ui)

	// Both tenants, each with every function the gateway lists for it.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	fns, err := p.gw.Functions(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"tenant1", "tenant2"} {
		row := text(t, tab, "#tenant-"+tenant)
		if !strings.Contains(row, "running") || !strings.Contains(row, "ready") {
			t.Errorf("tenant %s's row: %q, want ready and running", tenant, row)
		}
		found := 0
		for _, fn := range fns {
			if fn.Labels == nil || (*fn.Labels)[contract.LabelTenant] != tenant {
				continue
			}
			found++
			if !strings.Contains(row, fn.Name) {
				t.Errorf("tenant %s's row lacks its function %s: %q", tenant, fn.Name, row)
			}
			if fnRow := text(t, tab, `tr[id="fn-`+fn.Name+"."+fn.Namespace+`"]`); !strings.Contains(fnRow, tenant) {
				t.Errorf("function %s's row: %q, want its tenant %s", fn.Name, fnRow, tenant)
			}
		}
		if found < 2 {
			t.Errorf("tenant %s has %d functions, want its batch and stream apps", tenant, found)
		}
	}

	// Pause tenant1 with its button: the page says so, the connector
	// stops pulling, and records published now wait in the stream.
	click(t, tab, "#pause-tenant1")
	if row := text(t, tab, "#tenant-tenant1 .delivery"); !strings.Contains(row, "paused") {
		t.Fatalf("after pause tenant1's delivery reads %q", row)
	}
	if row := text(t, tab, "#tenant-tenant2 .delivery"); !strings.Contains(row, "running") {
		t.Fatalf("pausing tenant1 changed tenant2: %q", row)
	}
	consumer, err := p.js.Consumer(ctx, contract.TenantStream("tenant1"), stream.ConsumerName("tenant1-stream-ingest", "openfaas-fn"))
	if err != nil {
		t.Fatal(err)
	}
	harness.Until(t, 30*time.Second, "the connector pauses tenant1", func() (bool, string) {
		if v := p.metric(t, `mysimbdp_connector_tenant_paused{tenant="tenant1"}`); v != 1 {
			return false, fmt.Sprintf("tenant_paused %v", v)
		}
		ci, err := consumer.Info(ctx)
		return err == nil && ci.NumWaiting == 0, fmt.Sprintf("consumer %+v, %v", ci, err)
	})
	before := p.count(t)
	const records = 50
	if err := ecdc.Publish(ctx, p.js, "ingest.tenant1.covid", 0, records); err != nil {
		t.Fatal(err)
	}
	harness.Until(t, 30*time.Second, "the records wait in tenant1's stream", func() (bool, string) {
		ci, err := consumer.Info(ctx)
		return err == nil && ci.NumPending == records, fmt.Sprintf("consumer %+v, %v", ci, err)
	})
	overview(t, tab, ui)
	if cell := text(t, tab, `tr[id="fn-tenant1-stream-ingest.openfaas-fn"] td:nth-child(3)`); strings.TrimSpace(cell) != strconv.Itoa(records) {
		t.Errorf("tenant1-stream-ingest's backlog on the page: %q, want %d", cell, records)
	}
	// Observed for a second: nothing of them is stored while paused.
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if n := p.count(t); n != before {
			t.Fatalf("paused tenant1 went from %d to %d documents", before, n)
		}
	}
	screenshot(t, tab, "console-paused.png")
	click(t, tab, "#resume-tenant1")
	if row := text(t, tab, "#tenant-tenant1 .delivery"); !strings.Contains(row, "running") {
		t.Fatalf("after resume tenant1's delivery reads %q", row)
	}
	harness.Until(t, time.Minute, "the records published while paused are stored after resume", func() (bool, string) {
		n := p.count(t)
		return n == before+records, fmt.Sprintf("%d documents, want %d", n, before+records)
	})

	// A dead letter: tenant1's batch app listens to another topic for a
	// while, so the event of a file uploaded meanwhile finds no function
	// and is dead-lettered after its attempts.
	subscribed := func() float64 { return p.metric(t, "mysimbdp_connector_subscribed_functions") }
	all := subscribed()
	setTopic := func(topic string, want float64) {
		t.Helper()
		if err := p.gw.Redeploy(ctx, "tenant1-batch-ingest", "", func(d *types.FunctionDeployment) {
			(*d.Annotations)[contract.AnnotationTopic] = topic
		}); err != nil {
			t.Fatal(err)
		}
		harness.Until(t, 30*time.Second, "the connector sees tenant1-batch-ingest's topic "+topic, func() (bool, string) {
			n := subscribed()
			return n == want, fmt.Sprintf("%v functions subscribed, want %v", n, want)
		})
	}
	setTopic("s3:tenant1-elsewhere", all-1)
	const key = "incoming/console-replay.csv"
	csv := append(ecdc.CSV(1000, 1010), []byte("not,a,row\n")...)
	if _, err := p.s3.PutObject(ctx, "tenant1", key, bytes.NewReader(csv), int64(len(csv)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	store := deadletter.New(p.js, deadletter.Config{})
	var letter deadletter.Letter
	harness.Until(t, time.Minute, "the file's event is dead-lettered", func() (bool, string) {
		ls, err := store.List(ctx, "tenant1")
		for _, l := range ls {
			if strings.Contains(l.What, key) {
				letter = l
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d letters, %v", len(ls), err)
	})
	setTopic("s3:tenant1", all)
	overview(t, tab, ui)
	row := text(t, tab, fmt.Sprintf("#letter-%d", letter.ID))
	if !strings.Contains(row, key) || !strings.Contains(row, "no function subscribed") {
		t.Errorf("dead letter %d on the page: %q, want its file and reason", letter.ID, row)
	}
	screenshot(t, tab, "console-overview.png")
	rowsBefore := p.count(t)
	click(t, tab, fmt.Sprintf("#replay-%d", letter.ID))
	if flash := text(t, tab, "#flash"); !strings.Contains(flash, "replayed") {
		t.Fatalf("after replay the page says %q", flash)
	}
	harness.Until(t, time.Minute, "the replayed file's rows are stored", func() (bool, string) {
		n := p.count(t)
		return n == rowsBefore+10, fmt.Sprintf("%d documents, want %d", n, rowsBefore+10)
	})
	if _, err := store.Get(ctx, letter.ID); err == nil {
		t.Errorf("dead letter %d is still there after its replay", letter.ID)
	}

	// The file, its report and its quarantined row, once the stats
	// function has its report.
	harness.Until(t, time.Minute, "the file is listed with its report", func() (bool, string) {
		overview(t, tab, ui)
		files, err := chromedp.Run(within(t, tab, 10*time.Second), chromedp.Text(chromedp.CSS("main")))
		return err == nil && strings.Contains(files, "tenant1/"+key+"@"), fmt.Sprintf("page: %q, %v", files, err)
	})
	click(t, tab, "#files a")
	if q := text(t, tab, "#quarantine"); !strings.Contains(q, "not,a,row") {
		t.Errorf("the file's page shows no quarantined row: %q", q)
	}
	screenshot(t, tab, "console-file.png")
}
