package provider

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

func TestSystemRoutesRequireBasicAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	routes := []struct{ method, path string }{
		{http.MethodGet, "/system/functions"},
		{http.MethodPost, "/system/functions"},
		{http.MethodPut, "/system/functions"},
		{http.MethodDelete, "/system/functions"},
		{http.MethodGet, "/system/function/echo"},
		{http.MethodPost, "/system/scale-function/echo"},
		{http.MethodGet, "/system/info"},
		{http.MethodGet, "/system/secrets"},
		{http.MethodPost, "/system/secrets"},
		{http.MethodPut, "/system/secrets"},
		{http.MethodDelete, "/system/secrets"},
		{http.MethodGet, "/system/logs?name=echo"},
		{http.MethodGet, "/system/namespaces"},
		{http.MethodGet, "/system/namespace/team-a"},
		{http.MethodPost, "/system/namespace/team-a"},
		{http.MethodPut, "/system/namespace/team-a"},
		{http.MethodDelete, "/system/namespace/team-a"},
		{http.MethodGet, "/system/telemetry"},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			if code, body := h.do(rt.method, rt.path, "{}", false); code != http.StatusUnauthorized {
				t.Errorf("without credentials: %d %q, want 401", code, body)
			}
			req, _ := http.NewRequest(rt.method, h.srv.URL+rt.path, strings.NewReader("{}"))
			req.SetBasicAuth(testUser, "wrong")
			resp, err := h.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("wrong password: %d, want 401", resp.StatusCode)
			}
		})
	}
	// The open endpoints stay open.
	if code, _ := h.do(http.MethodGet, "/healthz", nil, false); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if code, _ := h.do(http.MethodGet, "/metrics", nil, false); code != http.StatusOK {
		t.Errorf("/metrics = %d, want 200", code)
	}
}

func TestUnknownFunctionIs404(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cases := []struct {
		name, method, path string
		body               any
		auth               bool
	}{
		{"status", http.MethodGet, "/system/function/nope", nil, true},
		{"scale", http.MethodPost, "/system/scale-function/nope", types.ScaleServiceRequest{ServiceName: "nope", Replicas: 1}, true},
		{"delete", http.MethodDelete, "/system/functions", types.DeleteFunctionRequest{FunctionName: "nope"}, true},
		{"update", http.MethodPut, "/system/functions", spec("nope", nil, nil), true},
		{"logs", http.MethodGet, "/system/logs?name=nope", nil, true},
		{"invoke", http.MethodPost, "/function/nope", "hi", false},
		{"invoke path", http.MethodGet, "/function/nope/a/b?c=d", nil, false},
		{"invoke other namespace", http.MethodGet, "/function/nope.team-a", nil, false},
		{"invoke asynchronously", http.MethodPost, "/async-function/nope", "hi", false},
		{"invoke asynchronously with a path", http.MethodPost, "/async-function/nope.team-a/a/b?c=d", "hi", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := h.do(c.method, c.path, c.body, c.auth)
			if code != http.StatusNotFound || !strings.Contains(body, "nope") {
				t.Errorf("%s %s = %d %q, want 404 naming the function", c.method, c.path, code, body)
			}
		})
	}
}

func TestBadRequestsAre400(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(spec("capped", map[string]string{contract.LabelScaleMin: "0", contract.LabelScaleMax: "2"}, nil))

	long := strings.Repeat("a", 64)
	cases := []struct {
		name, method, path string
		body               any
		want               string // in the message
	}{
		{"deploy bad json", http.MethodPost, "/system/functions", `{"service":`, "decode function deployment"},
		{"deploy uppercase name", http.MethodPost, "/system/functions", spec("Echo", nil, nil), "DNS-1123"},
		{"deploy underscore name", http.MethodPost, "/system/functions", spec("my_fn", nil, nil), "DNS-1123"},
		{"deploy long name", http.MethodPost, "/system/functions", spec(long, nil, nil), "at most 63"},
		{"deploy empty name", http.MethodPost, "/system/functions", spec("", nil, nil), "required"},
		{"deploy unknown image", http.MethodPost, "/system/functions", types.FunctionDeployment{Service: "x", Image: "mysimbdp/missing:1"}, "no build at"},
		{"deploy bad image ref", http.MethodPost, "/system/functions", types.FunctionDeployment{Service: "x", Image: "Bad Image"}, "not a valid image name"},
		{"deploy unknown namespace", http.MethodPost, "/system/functions", types.FunctionDeployment{Service: "x", Image: testImage, Namespace: "team-zzz"}, "namespace \"team-zzz\" does not exist"},
		{"deploy min above max", http.MethodPost, "/system/functions", spec("x", map[string]string{contract.LabelScaleMin: "3", contract.LabelScaleMax: "2"}, nil), "greater than"},
		{"deploy min not a number", http.MethodPost, "/system/functions", spec("x", map[string]string{contract.LabelScaleMin: "one"}, nil), "non-negative integer"},
		{"deploy negative max", http.MethodPost, "/system/functions", spec("x", map[string]string{contract.LabelScaleMax: "-1"}, nil), "non-negative integer"},
		{"deploy missing secret", http.MethodPost, "/system/functions", types.FunctionDeployment{Service: "x", Image: testImage, Secrets: []string{"db-pass"}}, "secret \"db-pass\" does not exist"},
		{"deploy bad timeout", http.MethodPost, "/system/functions", spec("x", nil, map[string]string{"exec_timeout": "soon"}), "exec_timeout"},
		{"deploy sets port", http.MethodPost, "/system/functions", spec("x", nil, map[string]string{"port": "80"}), "set by the provider"},
		{"update bad json", http.MethodPut, "/system/functions", `nope`, "decode function deployment"},
		{"delete bad json", http.MethodDelete, "/system/functions", `[`, "decode delete request"},
		{"delete no name", http.MethodDelete, "/system/functions", `{}`, "functionName is required"},
		{"scale bad json", http.MethodPost, "/system/scale-function/capped", `{"replicas":"many"}`, "decode scale request"},
		{"scale above max", http.MethodPost, "/system/scale-function/capped", types.ScaleServiceRequest{ServiceName: "capped", Replicas: 3}, "3 replicas is above its label com.openfaas.scale.max=2"},
		{"secret bad name", http.MethodPost, "/system/secrets", types.Secret{Name: "../etc", Value: "x"}, "DNS-1123"},
		{"secret unknown namespace", http.MethodPost, "/system/secrets", types.Secret{Name: "a", Namespace: "team-zzz", Value: "x"}, "does not exist"},
		{"namespace without openfaas label", http.MethodPost, "/system/namespace/team-a", types.FunctionNamespace{Name: "team-a"}, `"openfaas": "1"`},
		{"namespace bad name", http.MethodPost, "/system/namespace/Team_A", types.FunctionNamespace{Labels: map[string]string{"openfaas": "1"}}, "DNS-1123"},
		{"delete default namespace", http.MethodDelete, "/system/namespace/openfaas-fn", nil, "default namespace"},
		{"list unknown namespace", http.MethodGet, "/system/functions?namespace=team-zzz", nil, "does not exist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := h.do(c.method, c.path, c.body, true)
			if code != http.StatusBadRequest || !strings.Contains(body, c.want) {
				t.Errorf("%s %s = %d %q, want 400 containing %q", c.method, c.path, code, body, c.want)
			}
		})
	}
	// A rejected deploy leaves nothing behind.
	var list []types.FunctionStatus
	if err := json.Unmarshal([]byte(h.must(http.StatusOK, http.MethodGet, "/system/functions", nil)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "capped" {
		t.Errorf("functions after rejected deploys = %+v, want only capped", list)
	}
}

func TestInfoHealthTelemetry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Version = "1.2.3" })
	var info types.ProviderInfo
	if err := json.Unmarshal([]byte(h.must(http.StatusOK, http.MethodGet, "/system/info", nil)), &info); err != nil {
		t.Fatal(err)
	}
	if info.Name != "mysimbdp-local" || info.Orchestration != "process" || info.Version == nil || info.Version.Release != "1.2.3" {
		t.Errorf("info = %+v", info)
	}
	if code, body := h.do(http.MethodHead, "/healthz", nil, false); code != http.StatusOK {
		t.Errorf("HEAD /healthz = %d %q", code, body)
	}
	h.deploy(spec("idle", map[string]string{contract.LabelScaleMin: "0"}, nil))
	var tel Telemetry
	if err := json.Unmarshal([]byte(h.must(http.StatusOK, http.MethodGet, "/system/telemetry", nil)), &tel); err != nil {
		t.Fatal(err)
	}
	if tel.Functions != 1 || tel.Replicas != 0 || tel.Namespaces != 1 {
		t.Errorf("telemetry = %+v", tel)
	}
}

func TestNamespaces(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ns := types.FunctionNamespace{Name: "team-a", Labels: map[string]string{"openfaas": "1"}}
	h.must(http.StatusCreated, http.MethodPost, "/system/namespace/team-a", ns)
	h.must(http.StatusConflict, http.MethodPost, "/system/namespace/team-a", ns)
	h.must(http.StatusNotFound, http.MethodPut, "/system/namespace/team-b", types.FunctionNamespace{Annotations: map[string]string{"openfaas": "1"}})
	ns.Annotations = map[string]string{"owner": "ingest", "openfaas": "1"}
	h.must(http.StatusAccepted, http.MethodPut, "/system/namespace/team-a", ns)

	var got types.FunctionNamespace
	if err := json.Unmarshal([]byte(h.must(http.StatusOK, http.MethodGet, "/system/namespace/team-a", nil)), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "team-a" || got.Annotations["owner"] != "ingest" {
		t.Errorf("namespace = %+v", got)
	}
	var names []string
	if err := json.Unmarshal([]byte(h.must(http.StatusOK, http.MethodGet, "/system/namespaces", nil)), &names); err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "openfaas-fn,team-a" {
		t.Errorf("namespaces = %v", names)
	}

	// A function in the namespace answers on name.namespace and pins it.
	s := spec("echo", nil, nil)
	s.Namespace = "team-a"
	h.deploy(s)
	code, body := h.do(http.MethodPost, "/function/echo.team-a", "hello team", false)
	if code != http.StatusOK || body != "hello team" {
		t.Fatalf("invoke echo.team-a = %d %q", code, body)
	}
	if code, _ := h.invoke("echo"); code != http.StatusNotFound {
		t.Errorf("echo in the default namespace = %d, want 404", code)
	}
	if _, body := h.do(http.MethodDelete, "/system/namespace/team-a", nil, true); !strings.Contains(body, "still has 1 function") {
		t.Errorf("deleting a namespace with functions: %q", body)
	}
	h.must(http.StatusAccepted, http.MethodDelete, "/system/functions", types.DeleteFunctionRequest{FunctionName: "echo", Namespace: "team-a"})
	h.must(http.StatusAccepted, http.MethodDelete, "/system/namespace/team-a", nil)
	h.must(http.StatusNotFound, http.MethodGet, "/system/namespace/team-a", nil)
	h.must(http.StatusNotFound, http.MethodDelete, "/system/namespace/team-a", nil)
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.must(http.StatusCreated, http.MethodPost, "/system/secrets", types.Secret{Name: "db-pass", Value: "hunter2"})
	h.must(http.StatusCreated, http.MethodPost, "/system/secrets", types.Secret{Name: "api.key", RawValue: []byte{0, 1, 2, 'k'}})
	h.must(http.StatusConflict, http.MethodPost, "/system/secrets", types.Secret{Name: "db-pass", Value: "again"})
	h.must(http.StatusNotFound, http.MethodPut, "/system/secrets", types.Secret{Name: "nope", Value: "x"})
	h.must(http.StatusNotFound, http.MethodDelete, "/system/secrets", types.Secret{Name: "nope"})

	var list []types.Secret
	if err := json.Unmarshal([]byte(h.must(http.StatusOK, http.MethodGet, "/system/secrets", nil)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "api.key" || list[1].Name != "db-pass" || list[1].Value != "" {
		t.Errorf("secret list = %+v, want names only", list)
	}
	fi, err := os.Stat(filepath.Join(h.cfg.DataDir, "secrets", "openfaas-fn", "db-pass"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file: %v, mode %v, want 0600", err, fi.Mode())
	}

	h.deploy(types.FunctionDeployment{Service: "reader", Image: testImage, Secrets: []string{"db-pass", "api.key"}})
	for name, want := range map[string]string{"db-pass": "hunter2", "api.key": "\x00\x01\x02k"} {
		code, body := h.invoke("reader/secret?name=" + name)
		if code != http.StatusOK || body != want {
			t.Errorf("secret %s in the function = %d %q, want %q", name, code, body, want)
		}
	}
	// The replica's copy is private too.
	copies, _ := filepath.Glob(filepath.Join(h.cfg.DataDir, "replicas", "openfaas-fn", "reader", "*", "secrets", "db-pass"))
	if len(copies) != 1 {
		t.Fatalf("replica secret copies = %v", copies)
	}
	if fi, err := os.Stat(copies[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("replica secret copy: %v, want mode 0600", err)
	}
	h.pids("reader", "openfaas-fn")
	h.must(http.StatusAccepted, http.MethodPut, "/system/secrets", types.Secret{Name: "db-pass", Value: "changed"})
	h.must(http.StatusAccepted, http.MethodDelete, "/system/secrets", types.Secret{Name: "api.key"})
	if err := json.Unmarshal([]byte(h.must(http.StatusOK, http.MethodGet, "/system/secrets", nil)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("after delete: %+v", list)
	}
}
