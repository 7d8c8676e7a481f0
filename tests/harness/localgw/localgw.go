// Package localgw starts the platform's OpenFaaS provider for a test, as
// the local stack wires it: the gateway's credentials in a secrets folder,
// replicas run from an images folder, short probe and stop timings, and
// everything stopped in the test's Cleanup. (It is apart from
// tests/harness because the provider's own tests use that package.)
package localgw

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/provider"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
)

// The gateway's credentials in every test.
const (
	User     = "admin"
	Password = "s3cret"
)

// Start runs a provider serving the functions whose images are in
// imagesDir and returns a client of it and its URL.
func Start(t *testing.T, imagesDir string, log *slog.Logger) (*gateway.Client, string) {
	t.Helper()
	return StartConfig(t, imagesDir, log, nil)
}

// StartConfig is Start with the provider's configuration changed by
// mutate (nil: as Start), e.g. to give it a Publisher for asynchronous
// invocations.
func StartConfig(t *testing.T, imagesDir string, log *slog.Logger, mutate func(*provider.Config)) (*gateway.Client, string) {
	t.Helper()
	secrets := t.TempDir()
	for f, v := range map[string]string{contract.SecretGatewayUser: User, contract.SecretGatewayPassword: Password} {
		if err := os.WriteFile(filepath.Join(secrets, f), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := provider.Config{
		DataDir: t.TempDir(), ImagesDir: imagesDir, SecretMountPath: secrets,
		ColdStartTimeout: 20 * time.Second, DrainTimeout: 10 * time.Second, StopTimeout: 5 * time.Second,
		ProbeInterval: 200 * time.Millisecond,
		// The test functions record their calls in the test's own
		// folders, which a tenant's OS user could not enter; replicas
		// under users of their own are infra/provider's and
		// tests/adversary's to test.
		TenantUIDCount: -1,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := provider.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("provider: %v", err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("close provider: %v", err)
		}
	})
	gw, err := gateway.NewFromSecrets(srv.URL, secrets)
	if err != nil {
		t.Fatal(err)
	}
	return gw, srv.URL
}
