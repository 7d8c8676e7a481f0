package checker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/checker"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/tests/harness"
	"github.com/mysimbdp/mysimbdp/tests/harness/localgw"
)

const (
	master     = "checker-test-master-key"
	badChecker = "tenant1-bad-checker"
)

// rig is a provider running the example checker and the bad checker,
// each with its invocation key, as `mysimbdp up` deploys a tenant's
// functions.
type rig struct {
	gw    *gateway.Client
	gwURL string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	gw, gwURL := localgw.Start(t, shared.images, testLogger(t).With("part", "provider"))
	example, err := shared.stack.Deployment(exampleChecker)
	if err != nil {
		t.Fatal(err)
	}
	bad := types.FunctionDeployment{Service: badChecker, Image: badImage,
		EnvVars: map[string]string{"read_timeout": "30s", "write_timeout": "30s", "exec_timeout": "30s"},
		Labels:  &map[string]string{contract.LabelTenant: "tenant1"}}
	for _, d := range []types.FunctionDeployment{example, bad} {
		deploy(t, gw, d, master)
	}
	return &rig{gw: gw, gwURL: gwURL}
}

// deploy deploys d, with its invocation key unless master is "".
func deploy(t *testing.T, gw *gateway.Client, d types.FunctionDeployment, master string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := tenant.WithInvokeKey(ctx, gw, master, &d); err != nil {
		t.Fatal(err)
	}
	if err := gw.Deploy(ctx, d); err != nil {
		t.Fatalf("deploy %s: %v", d.Service, err)
	}
}

func (r *rig) client(t *testing.T, fn string, key []byte, mutate ...func(*checker.Config)) *checker.Client {
	t.Helper()
	cfg := checker.Config{GatewayURL: r.gwURL, Function: fn, Key: key, Timeout: 30 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := checker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ecdcRequest is five rows of tenant1's dataset, as stored: line 3 and 6
// have all-caps country names, line 4 has over 10 times the median cases
// (11).
func ecdcRequest(t *testing.T, dataset string) contract.CheckRequest {
	t.Helper()
	day := time.Date(2020, 12, 14, 0, 0, 0, 0, time.UTC)
	req := contract.CheckRequest{Tenant: "tenant1", Dataset: dataset, Bucket: "tenant1", Key: "incoming/covid/a.csv", ETag: "abc", Sample: true}
	for i, r := range []struct {
		country string
		cases   int64
	}{{"Afghanistan", 10}, {"FRANCE", 12}, {"Germany", 500}, {"Côte_d’Ivoire", 8}, {"ÉGYPTE", 11}} {
		row, err := checker.Row(i+2, bson.D{{Key: "dateRep", Value: day}, {Key: "cases", Value: r.cases}, {Key: "countriesAndTerritories", Value: r.country}})
		if err != nil {
			t.Fatal(err)
		}
		req.Rows = append(req.Rows, row)
	}
	return req
}

var exampleAnswer = contract.CheckResponse{Rules: []contract.CheckRule{
	{Name: "country_not_all_caps", Severity: contract.CheckReject, Failures: []contract.CheckFailure{
		{Line: 3, Reason: `countriesAndTerritories "FRANCE" is all upper case`},
		{Line: 6, Reason: `countriesAndTerritories "ÉGYPTE" is all upper case`},
	}},
	{Name: "cases_within_10x_median", Severity: contract.CheckWarn, Failures: []contract.CheckFailure{
		{Line: 4, Reason: "cases 500 is over 10 times the median of the 5 rows checked (11)"},
	}},
}}

// The example checker, deployed from stack.yml with its key, answers a
// signed call with its rules, and refuses calls not signed with its key
// before its handler runs.
func TestExampleChecker(t *testing.T) {
	r := newRig(t)
	req := ecdcRequest(t, "covid")
	key := invokesig.FunctionKey([]byte(master), exampleChecker)
	for _, tt := range []struct {
		name string
		key  []byte
		want string // "" = the example's answer
	}{
		{name: "signed with its key", key: key},
		{name: "unsigned", want: "401 Unauthorized (from mysimbdp.fnrun): unsigned invocation"},
		{name: "signed with another checker's key", key: invokesig.FunctionKey([]byte(master), badChecker), want: "401 Unauthorized (from mysimbdp.fnrun): bad signature"},
		{name: "signed with a guessed master's", key: invokesig.FunctionKey([]byte("guess"), exampleChecker), want: "bad signature"},
		{name: "signed with the master key itself", key: []byte(master), want: "bad signature"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.client(t, exampleChecker, tt.key).Check(t.Context(), req)
			if tt.want != "" {
				if !errors.Is(err, checker.ErrBadAnswer) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want ErrBadAnswer with %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, exampleAnswer) {
				t.Fatalf("answer %+v\nwant %+v", got, exampleAnswer)
			}
		})
	}
}

// Answers outside the contract are ErrBadAnswer; a busy or down checker,
// gateway or network is ErrUnavailable; a request over the bounds is
// ErrTooLarge and sends nothing.
func TestAnswers(t *testing.T) {
	r := newRig(t)
	key := invokesig.FunctionKey([]byte(master), badChecker)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	tooMany := ecdcRequest(t, "good")
	for i := range contract.CheckMaxRows {
		tooMany.Rows = append(tooMany.Rows, contract.CheckRow{Line: 100 + i, Doc: json.RawMessage(`{}`)})
	}
	bigDoc := json.RawMessage(`{"pad":"` + strings.Repeat("x", contract.CheckMaxRequestBytes) + `"}`)
	tooBig := ecdcRequest(t, "good")
	tooBig.Rows[0].Doc = bigDoc

	for _, tt := range []struct {
		name    string
		dataset string
		req     *contract.CheckRequest
		fn      string
		mutate  func(*checker.Config)
		want    error // nil: a valid answer
		msg     string
	}{
		{name: "a valid answer", dataset: "good"},
		{name: "garbage", dataset: "garbage", want: checker.ErrBadAnswer, msg: "not a check response"},
		{name: "an empty 200", dataset: "empty", want: checker.ErrBadAnswer, msg: "not a check response"},
		{name: "503 from the checker", dataset: "down", want: checker.ErrUnavailable, msg: "503 Service Unavailable: the database is down"},
		{name: "429 from the checker", dataset: "busy", want: checker.ErrUnavailable, msg: "429"},
		{name: "400 from the checker", dataset: "refuse", want: checker.ErrBadAnswer, msg: "400 Bad Request: no"},
		{name: "500 from the checker", dataset: "crash", want: checker.ErrBadAnswer, msg: "500"},
		{name: "a line not sent", dataset: "unknown-line", want: checker.ErrBadAnswer, msg: "rule x: line 99 was not sent"},
		{name: "an unknown severity", dataset: "unknown-severity", want: checker.ErrBadAnswer, msg: `severity "fatal"`},
		{name: "more failures than rows", dataset: "too-many", want: checker.ErrBadAnswer, msg: "6 failures, more than the 5 rows sent"},
		{name: "an unknown field", dataset: "unknown-field", want: checker.ErrBadAnswer, msg: `unknown field "maxShare"`},
		{name: "more after the answer", dataset: "trailing", want: checker.ErrBadAnswer, msg: "more after the JSON object"},
		{name: "an answer over the bound", dataset: "huge", want: checker.ErrBadAnswer, msg: "over 8388608 bytes"},
		{name: "slower than the timeout", dataset: "slow", mutate: func(c *checker.Config) { c.Timeout = 500 * time.Millisecond }, want: checker.ErrUnavailable, msg: "deadline exceeded"},
		{name: "no such function", dataset: "good", fn: "tenant1-nothing", want: checker.ErrBadAnswer, msg: "404"},
		{name: "no gateway", dataset: "good", mutate: func(c *checker.Config) { c.GatewayURL = closed }, want: checker.ErrUnavailable, msg: "connection refused"},
		{name: "too many rows", req: &tooMany, want: checker.ErrTooLarge, msg: "10005 rows"},
		{name: "too many bytes", req: &tooBig, want: checker.ErrTooLarge, msg: "the contract takes 16777216 at most"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := ecdcRequest(t, tt.dataset)
			if tt.req != nil {
				req = *tt.req
			}
			fn := badChecker
			if tt.fn != "" {
				fn = tt.fn
			}
			var mutate []func(*checker.Config)
			if tt.mutate != nil {
				mutate = append(mutate, tt.mutate)
			}
			got, err := r.client(t, fn, key, mutate...).Check(t.Context(), req)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Rules) != 1 || got.Rules[0].MaxShare != 0.5 || len(got.Rules[0].Failures) != 1 {
					t.Fatalf("answer %+v", got)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want %v with %q", err, tt.want, tt.msg)
			}
			for _, other := range []error{checker.ErrBadAnswer, checker.ErrUnavailable, checker.ErrTooLarge} {
				if other != tt.want && errors.Is(err, other) {
					t.Fatalf("error %v is %v too", err, other)
				}
			}
		})
	}

	t.Run("the caller's deadline is the caller's, not unavailable", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := r.client(t, badChecker, key).Check(ctx, ecdcRequest(t, "slow"))
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, checker.ErrUnavailable) {
			t.Fatalf("error %v, want context.DeadlineExceeded only", err)
		}
	})
}

// A function deployed as `tenant apply` deploys the tenant's platform
// batch app with checkers (CheckerEnv, WithCheckerKeys) calls its
// tenant's checker with the key it was given, through the gateway it was
// told; it has no key for a checker its profile does not name.
func TestBatchAppCallsItsChecker(t *testing.T) {
	r := newRig(t)
	p := tenant1Profile(t)
	pl := tenant.Platform{Gateway: r.gw, Store: tenant.Store{Dir: t.TempDir()}}
	named := []string{exampleChecker, "", exampleChecker}
	if err := pl.CheckCheckers(t.Context(), p, named); err != nil {
		t.Fatal(err)
	}
	vars, err := tenant.CheckerEnv(p, tenant.FunctionEnv{GatewayURL: r.gwURL}, named)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{contract.EnvCheckerFunctions: exampleChecker, contract.EnvGatewayURL: r.gwURL}
	if !reflect.DeepEqual(vars, want) {
		t.Fatalf("CheckerEnv = %v, want %v", vars, want)
	}
	vars["read_timeout"], vars["write_timeout"], vars["exec_timeout"] = "30s", "30s", "30s"
	app := types.FunctionDeployment{Service: p.BatchFunction(), Image: callerImage, EnvVars: vars,
		Labels: &map[string]string{contract.LabelTenant: p.Tenant}}
	if err := tenant.WithCheckerKeys(t.Context(), r.gw, master, p, &app, named); err != nil {
		t.Fatal(err)
	}
	if want := []string{contract.InvokeKeySecret(exampleChecker)}; !reflect.DeepEqual(app.Secrets, want) {
		t.Fatalf("secrets %v, want %v", app.Secrets, want)
	}
	// Open, so that the test may call it: what is tested is its call out.
	deploy(t, r.gw, app, "")

	call := func(fn string) (int, []byte) {
		body, _ := json.Marshal(map[string]any{"function": fn, "request": ecdcRequest(t, "covid")})
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		resp, err := r.gw.Invoke(ctx, p.BatchFunction(), bytes.NewReader(body), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, body := call(exampleChecker)
	var got contract.CheckResponse
	if code != http.StatusOK || json.Unmarshal(body, &got) != nil || !reflect.DeepEqual(got, exampleAnswer) {
		t.Fatalf("the app's call: %d %s, want 200 with the example's answer", code, body)
	}
	code, body = call(badChecker)
	if code != http.StatusBadGateway || !strings.Contains(string(body), `"kind":"config"`) || !strings.Contains(string(body), "was given no key") {
		t.Fatalf("the app's call to a checker it has no key of: %d %s, want 502, config", code, body)
	}
}

// `tenant apply` refuses a checker that is not the tenant's own.
func TestCheckerRefused(t *testing.T) {
	r := newRig(t)
	p := tenant1Profile(t)
	store := tenant.Store{Dir: t.TempDir()}
	// tenant1-x is a tenant known to the platform: tenant1-x-check is its.
	if err := os.MkdirAll(filepath.Join(store.Dir, "tenant1-x"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, d := range []types.FunctionDeployment{
		{Service: "tenant1-y-check", Image: badImage, Labels: &map[string]string{contract.LabelTenant: "tenant1-y"}},
		{Service: "tenant1-open", Image: badImage},
	} {
		deploy(t, r.gw, d, master)
	}
	pl := tenant.Platform{Gateway: r.gw, Store: store}
	for _, tt := range []struct {
		name, fn, want string
		// deployed: refused only by what is deployed or known, which
		// CheckerEnv does not ask.
		deployed bool
	}{
		{name: "its own, deployed", fn: exampleChecker},
		{name: "its own, not deployed yet", fn: "tenant1-later"},
		{name: "another tenant's name", fn: "tenant2-batch-ingest", want: "not a function of tenant tenant1"},
		{name: "a platform function's name", fn: "stats", want: "not a function of tenant tenant1"},
		{name: "its platform batch app", fn: "tenant1-batch-ingest", want: "the platform's ingest app of tenant tenant1"},
		{name: "its platform stream app", fn: "tenant1-stream-ingest", want: "the platform's ingest app"},
		{name: "a function of a tenant named like it", fn: "tenant1-y-check", want: "tenant1-y-check is tenant tenant1-y's function", deployed: true},
		{name: "a function without a tenant", fn: "tenant1-open", want: "is a platform function", deployed: true},
		{name: "under a known tenant's name", fn: "tenant1-x-check", want: "named as tenant tenant1-x's function", deployed: true},
		{name: "not a function name", fn: "tenant1-Check", want: "not a function name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := pl.CheckCheckers(t.Context(), p, []string{tt.fn})
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			// The checks of the name alone refuse alike in CheckerEnv.
			_, err = tenant.CheckerEnv(p, tenant.FunctionEnv{}, []string{tt.fn})
			if static := tt.want != "" && !tt.deployed; static != (err != nil) {
				t.Fatalf("CheckerEnv: error %v, want one: %v", err, static)
			}
		})
	}
}

func tenant1Profile(t *testing.T) *profile.Profile {
	t.Helper()
	repo, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	l, err := tenant.Load(filepath.Join(repo, "tenants", "tenant1.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return l.Profile
}
