package adversary

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/infra/build/images"
	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// snoopImage is tenant1's hostile app: the provider's test function, whose
// /read?path= answers a file's content or why it could not read it.
const (
	snoopImage = "tenant1/snoop:1"
	snoopFn    = "tenant1-snoop"
)

// TestTenantAppCannotReadTheDataFolder deploys an app of tenant1's that
// tries to read what the platform keeps in its data folder — tenant2's
// credentials, the platform's passwords and master key, the gateway's
// stored secrets. Each read is refused by the OS (the replica runs as
// tenant1's own user), while a file open to everyone reads fine.
func TestTenantAppCannotReadTheDataFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		// Not skipped: without root a tenant's app can read the data
		// folder, and the suite must say so.
		t.Fatal("run the tests as root (as CI does): tenant replicas run as users of their own only when the platform runs as root")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	creds, err := localstack.LoadOrCreateCredentials(rig.data)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := images.Path(filepath.Join(rig.data, "images"), snoopImage)
	if err != nil {
		t.Fatal(err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", exe, "./infra/provider/testdata/testfn")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build tenant1's app: %v\n%s", err, out)
	}

	// The operator deploys tenant1's app, as stack.yml would: tenant1's
	// label and its credentials secret.
	gateway := func(ctx context.Context, method, path string, body any) (int, string) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, rig.e.Gateway+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(creds.GatewayUser, creds.GatewayPassword)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	deploy := types.FunctionDeployment{
		Service: snoopFn, Image: snoopImage,
		Labels:  &map[string]string{contract.LabelTenant: attacker},
		Secrets: []string{contract.CredentialsSecret(attacker)},
	}
	if code, body := gateway(ctx, http.MethodPost, "/system/functions", deploy); code/100 != 2 {
		t.Fatalf("deploy %s: %d %s", snoopFn, code, body)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if code, body := gateway(ctx, http.MethodDelete, "/system/functions", types.DeleteFunctionRequest{FunctionName: snoopFn}); code/100 != 2 {
			t.Errorf("remove %s: %d %s", snoopFn, code, body)
		}
	})
	read := func(path string) (int, string) {
		return gateway(ctx, http.MethodGet, "/function/"+snoopFn+"/read?path="+url.QueryEscape(path), nil)
	}
	harness.Until(t, 2*time.Minute, snoopFn+" answering", func() (bool, string) {
		code, body := read("/etc/hostname")
		return code == http.StatusOK, fmt.Sprint(code, " ", body)
	})

	secrets, _ := filepath.Glob(filepath.Join(rig.data, "secrets", "*", "*"))
	if len(secrets) == 0 {
		t.Fatalf("no platform secrets found under %s", filepath.Join(rig.data, "secrets"))
	}
	targets := append([]string{
		filepath.Join(rig.data, "tenants", victim, "credentials.json"),
		filepath.Join(rig.data, "endpoints.json"),
		filepath.Join(rig.data, "provider", "secrets", "openfaas-fn", contract.CredentialsSecret(victim)),
		filepath.Join(rig.data, "provider", "secrets", "openfaas-fn", contract.CredentialsSecret(attacker)),
	}, secrets...)
	for _, path := range targets {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: %v (the attack must aim at a file that exists)", path, err)
			continue
		}
		code, body := read(path)
		if code != http.StatusForbidden || !strings.Contains(body, "permission denied") {
			t.Errorf("tenant1's app reading %s: %d %.80q, want 403 permission denied", path, code, body)
		}
	}
}
