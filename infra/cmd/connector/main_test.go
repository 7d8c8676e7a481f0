package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/connector"
	"github.com/mysimbdp/mysimbdp/infra/connector/control"
	"github.com/mysimbdp/mysimbdp/infra/local/freeport"
	"github.com/mysimbdp/mysimbdp/infra/local/natsd"
	"github.com/mysimbdp/mysimbdp/infra/provider"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/quota"
	"github.com/mysimbdp/mysimbdp/tests/harness"
	"github.com/mysimbdp/mysimbdp/tests/harness/localgw"
)

// TestNoDatabaseDriver: the connector links no NATS server, and no
// MongoDB driver but the dashboard's: the connector's own packages
// (infra/connector/...) need none, and the driver was once pulled in
// through type aliases and shared helpers. The command links it only
// through infra/console, which reads the platform's database.
func TestNoDatabaseDriver(t *testing.T) {
	const module = "github.com/mysimbdp/mysimbdp/"
	// imports maps each package of the listed ones' dependencies to its
	// direct imports.
	imports := func(pkgs ...string) map[string][]string {
		t.Helper()
		out, err := exec.Command("go", append([]string{"list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}"}, pkgs...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %v: %v\n%s", pkgs, err, out)
		}
		m := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			m[f[0]] = f[1:]
		}
		return m
	}
	banned := func(pkg string, prefixes ...string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(pkg, p) {
				return true
			}
		}
		return false
	}
	const mongoDriver, natsServer = "go.mongodb.org/", "github.com/nats-io/nats-server/"

	cmd := imports(".")
	if len(cmd) < 20 || cmd[module+"infra/connector"] == nil || cmd[module+"infra/console"] == nil {
		t.Fatalf("go list -deps listed %d packages, not the connector's and the console's", len(cmd))
	}
	console := imports(module + "infra/console")
	for pkg, imps := range cmd {
		if banned(pkg, natsServer) {
			t.Errorf("the connector links %s", pkg)
		}
		if _, viaConsole := console[pkg]; !viaConsole && strings.HasPrefix(pkg, module) && slices.ContainsFunc(imps, func(i string) bool { return banned(i, mongoDriver) }) {
			t.Errorf("%s links the MongoDB driver into the connector, and not for the dashboard", pkg)
		}
	}
	for pkg := range imports("../../connector/...") {
		if banned(pkg, mongoDriver, natsServer) {
			t.Errorf("infra/connector links %s", pkg)
		}
	}
}

// TestEnvironment: flags default to the environment as contract.FromEnv
// reads it, old names included; a flag wins over its variable.
func TestEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{name: "new name", env: map[string]string{"MYSIMBDP_LOG_LEVEL": "loud"}, want: `log level "loud"`},
		{name: "old name", env: map[string]string{"LOG_LEVEL": "shouty"}, want: `log level "shouty"`},
		{name: "both", env: map[string]string{"MYSIMBDP_LOG_LEVEL": "new", "LOG_LEVEL": "old"}, want: `log level "new"`},
		{name: "flag wins", env: map[string]string{"MYSIMBDP_LOG_LEVEL": "env"}, args: []string{"-log-level", "flag"}, want: `log level "flag"`},
		{name: "bad value", env: map[string]string{"MYSIMBDP_S3_SECURE": "maybe"}, want: "MYSIMBDP_S3_SECURE"},
		{name: "dashboard without MongoDB", env: map[string]string{"MYSIMBDP_CONSOLE_ADDR": ":0"}, want: "MYSIMBDP_MONGO_URI is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An unreadable level stops run before it connects anywhere.
			err := run(t.Context(), tc.args, func(k string) string { return tc.env[k] })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestReadiness: /readyz answers 200 only while NATS (with JetStream) and
// the gateway (with the connector's credentials) both answer, and says
// which one does not.
func TestReadiness(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ns, err := natsd.Start(ctx, natsd.Config{StoreDir: t.TempDir()}, log)
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(ns.Shutdown)
	gwURL, _ := startGateway(t)
	good, err := gateway.New(gwURL, "admin", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := gateway.New(gwURL, "admin", "not-the-password")
	if err != nil {
		t.Fatal(err)
	}
	probe := func(r *readiness) (int, string) {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	newReady := func(gw *gateway.Client) *readiness {
		r, err := newReadiness(connector.Config{NATSURL: ns.ClientURL()}, gw)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.close)
		// Connected before the first probe, as a pod is long before its
		// first readiness probe.
		harness.Until(t, 10*time.Second, "readiness connection up", func() (bool, string) { return r.nc.IsConnected(), r.nc.Status().String() })
		return r
	}
	for _, tc := range []struct {
		name     string
		gw       *gateway.Client
		stopNATS bool
		code     int
		says     string
	}{
		{name: "both answer", gw: good, code: http.StatusOK, says: "OK"},
		{name: "gateway refuses the credentials", gw: wrong, code: http.StatusServiceUnavailable, says: "gateway:"},
		{name: "NATS gone", gw: good, stopNATS: true, code: http.StatusServiceUnavailable, says: "NATS: not connected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReady(tc.gw)
			if tc.stopNATS {
				ns.Shutdown()
				harness.Until(t, 10*time.Second, "readiness connection down", func() (bool, string) { return !r.nc.IsConnected(), r.nc.Status().String() })
			}
			code, body := probe(r)
			if code != tc.code || !strings.Contains(body, tc.says) {
				t.Errorf("/readyz = %d %q, want %d containing %q", code, body, tc.code, tc.says)
			}
		})
	}
}

// startGateway starts the local provider as the gateway (tests/harness/
// localgw: credentials localgw.User / localgw.Password) and returns its URL
// and the folder of its credentials' secret files (as the connector's pod
// mounts the gateway's Secret).
func startGateway(t *testing.T) (gwURL, secrets string) {
	t.Helper()
	_, gwURL = localgw.StartConfig(t, t.TempDir(), slog.New(slog.DiscardHandler), func(c *provider.Config) { secrets = c.SecretMountPath })
	return gwURL, secrets
}

// TestDashboard: with a console address and the platform's MongoDB, the
// command serves the operator's dashboard behind the gateway's
// credentials (read from the mounted secret files, as on a cluster),
// reading NATS as the platform user; two replicas accept each other's
// forms (a Service may send the POST to the other); the per-tenant gauges
// are on /metrics.
func TestDashboard(t *testing.T) {
	const natsUser, natsPassword, tenant = "mysimbdp", "nats-pw", "acme"
	ctx := t.Context()
	ns, err := natsd.Start(ctx, natsd.Config{StoreDir: t.TempDir(), Users: []*server.User{{Username: natsUser, Password: natsPassword}}},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(ns.Shutdown)
	ferret, _ := harness.FerretDB(t)
	gwURL, secrets := startGateway(t)

	nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo(natsUser, natsPassword))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: contract.TenantStream(tenant), Subjects: []string{contract.TenantSubjects(tenant)}}); err != nil {
		t.Fatal(err)
	}

	// Two replicas, each with its dashboard and metrics listeners.
	type replica struct{ ui, metrics string }
	var replicas []replica
	for i := range 2 {
		r := replica{ui: fmt.Sprintf("127.0.0.1:%d", freeport.MustGet()), metrics: fmt.Sprintf("127.0.0.1:%d", freeport.MustGet())}
		env := map[string]string{
			contract.EnvGatewayURL: gwURL, contract.EnvSecretsDir: secrets,
			contract.EnvNATSURL: ns.ClientURL(), contract.EnvNATSUser: natsUser, contract.EnvNATSPassword: natsPassword,
			contract.EnvMongoURI: ferret.URI(), contract.EnvConsoleAddr: r.ui, contract.EnvMetricsAddr: r.metrics,
			contract.EnvLogLevel: "error",
		}
		harness.Run(t, fmt.Sprintf("connector %d", i), func(ctx context.Context) error {
			return run(ctx, nil, func(k string) string { return env[k] })
		})
		replicas = append(replicas, r)
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 20 * time.Second}
	do := func(method, target, user, password string, form url.Values, header http.Header) (int, http.Header, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, target, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range header {
			req.Header[k] = v
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			return 0, nil, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for _, r := range replicas {
		harness.Until(t, 30*time.Second, "the dashboard at "+r.ui+" shows "+tenant, func() (bool, string) {
			code, _, body := do(http.MethodGet, "http://"+r.ui+"/ui/", "admin", "s3cret", nil, nil)
			return code == http.StatusOK && strings.Contains(body, ">"+tenant+"<") && !strings.Contains(body, "unavailable:"), fmt.Sprintf("%d %.300s", code, body)
		})
	}

	a, b := replicas[0], replicas[1]
	for _, tc := range []struct {
		name, path, user, password string
		code                       int
		says                       string
	}{
		{name: "no credentials", path: "/ui/", code: http.StatusUnauthorized},
		{name: "wrong password", path: "/ui/", user: "admin", password: "wrong", code: http.StatusUnauthorized},
		{name: "the gateway's credentials", path: "/ui/", user: "admin", password: "s3cret", code: http.StatusOK, says: tenant},
		{name: "static files too", path: "/ui/static/console.css", code: http.StatusUnauthorized},
		{name: "root goes to the dashboard", path: "/", code: http.StatusFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, h, body := do(http.MethodGet, "http://"+a.ui+tc.path, tc.user, tc.password, nil, nil)
			if code != tc.code || !strings.Contains(body, tc.says) {
				t.Errorf("GET %s = %d %.200q, want %d containing %q", tc.path, code, body, tc.code, tc.says)
			}
			if tc.code == http.StatusFound && h.Get("Location") != "/ui/" {
				t.Errorf("GET / goes to %q, want /ui/", h.Get("Location"))
			}
		})
	}

	// A's form, posted to B, pauses the tenant.
	_, _, page := do(http.MethodGet, "http://"+a.ui+"/ui/", "admin", "s3cret", nil, nil)
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	code, _, body := do(http.MethodPost, "http://"+b.ui+"/ui/pause", "admin", "s3cret", url.Values{"csrf": {m[1]}, "tenant": {tenant}},
		http.Header{"Origin": {"http://" + b.ui}})
	if code != http.StatusSeeOther {
		t.Fatalf("POST /ui/pause to the other replica = %d %q, want 303", code, body)
	}
	if paused, err := control.Paused(ctx, js, tenant); err != nil || !paused {
		t.Errorf("%s paused: %v %v, want true", tenant, paused, err)
	}

	// A tenant held back by its quota: the page says so, until when and why.
	kv, err := js.KeyValue(ctx, contract.ControlBucket)
	if err != nil {
		t.Fatal(err)
	}
	const reason = "620 messages in the 5s window from 10:00:05, over the profile's 500"
	held := quota.Decision{Tenant: tenant, State: quota.Throttled, Until: time.Now().Add(time.Hour), Reason: reason, DecidedAt: time.Now()}
	if _, err := quota.Replace(ctx, kv, held, 0); err != nil {
		t.Fatal(err)
	}
	harness.Until(t, 30*time.Second, "the dashboard shows "+tenant+" throttled and why", func() (bool, string) {
		_, _, body := do(http.MethodGet, "http://"+a.ui+"/ui/", "admin", "s3cret", nil, nil)
		row := body[max(0, strings.Index(body, ">"+tenant+"<")):]
		return strings.Contains(row, string(quota.Throttled)) && strings.Contains(row, html.EscapeString(reason)) && strings.Contains(row, "paused"), fmt.Sprintf("%.600s", row)
	})

	// The gauges, on the connector's /metrics.
	code, _, metrics := do(http.MethodGet, "http://"+a.metrics+"/metrics", "", "", nil, nil)
	for _, want := range []string{
		`mysimbdp_console_source_up{source="backlog"} 1`,
		`mysimbdp_console_source_up{source="rates"} 1`,
		`mysimbdp_tenant_backlog{tenant="` + tenant + `"} 0`,
		`mysimbdp_tenant_files_per_second{tenant="` + tenant + `"} 0`,
	} {
		if code != http.StatusOK || !strings.Contains(metrics, want) {
			t.Errorf("/metrics (%d) has no %s", code, want)
		}
	}
}
