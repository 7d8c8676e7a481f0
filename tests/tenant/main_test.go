// Package tenant tests tenant onboarding and isolation on a whole local
// platform (real MinIO, NATS with authentication, FerretDB, the provider,
// the connector), through `mysimbdp tenant` and infra/tenant: what a
// tenant's credentials can and cannot reach, that apply is idempotent,
// that a bad profile provisions nothing, and that remove leaves nothing
// running.
package tenant

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/tests/harness/localrig"
)

// env is the platform every test of the package shares: starting one takes
// most of a minute on two cores. Each test uses its own tenants.
type env struct {
	st   *localstack.Stack
	data string
	gw   *gateway.Client
	pl   tenant.Platform
	cli  string // the mysimbdp binary
	repo string
}

var shared struct {
	once sync.Once
	env  *env
	err  error
	stop func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	os.Exit(code)
}

// platform returns the shared platform, starting it on first use. A part
// that cannot start (e.g. no bin/minio or bin/mc) fails the test.
func platform(t *testing.T) *env {
	t.Helper()
	shared.once.Do(func() { shared.env, shared.stop, shared.err = startPlatform() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.env
}

func startPlatform() (*env, func(), error) {
	p, stop, err := localrig.Start("tenant")
	if err != nil {
		return nil, nil, err
	}
	return &env{st: p.Stack, data: p.Data, gw: p.Gateway, pl: p.Tenants, cli: p.CLI, repo: p.Repo}, stop, nil
}

// profile writes a tenant's profile in the ECDC source-names shape, with
// extra top-level sections, and returns its path.
func profileFile(t *testing.T, name, sections string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(tenantProfile(name, sections)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tenantProfile is the demo tenant1's shape under name, with sections
// added, and a small JetStream stream: each tenant stream reserves its
// max_bytes (10 GB by default) of the server's store, which is three
// quarters of the free disk, so a dozen tenants with the default would be
// refused on a machine with 100 GB free.
func tenantProfile(name, sections string) string {
	return ecdc.Profile(name, ecdc.SourceNames, sections+"stream:\n  max_bytes_per_window: 32MiB\n  jetstream:\n    max_bytes: 64MiB\n")
}

// mysimbdp runs the CLI against the shared platform's data folder.
func (e *env) mysimbdp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.cli, args...)
	cmd.Dir = e.repo // bin/mc
	cmd.Env = append(cleanEnv(), "MYSIMBDP_DATA="+e.data)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cleanEnv drops variables that would point the CLI elsewhere.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "MYSIMBDP_"), strings.HasPrefix(name, "OPENFAAS_"), strings.HasPrefix(name, "NATS_"):
			continue
		}
		out = append(out, kv)
	}
	return out
}

// apply provisions a tenant through the CLI and returns its credentials.
func (e *env) apply(t *testing.T, path string) (tenant.Credentials, string) {
	t.Helper()
	out, err := e.mysimbdp(t, "tenant", "apply", "-f", path)
	if err != nil {
		t.Fatalf("tenant apply -f %s: %v\n%s", path, err, out)
	}
	name := strings.TrimSuffix(filepath.Base(path), ".yaml")
	c, err := e.pl.Store.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return c, out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last error: %v)", what, timeout, last)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
