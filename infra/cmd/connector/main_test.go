package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/connector"
	"github.com/mysimbdp/mysimbdp/infra/local/natsd"
	"github.com/mysimbdp/mysimbdp/infra/provider"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// TestNoDatabaseDriver: the connector binary links no MongoDB driver (nor
// the NATS server): it needs neither, and the driver was only ever pulled
// in through type aliases and shared helpers.
func TestNoDatabaseDriver(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 || !strings.Contains(string(out), "github.com/mysimbdp/mysimbdp/infra/connector") {
		t.Fatalf("go list -deps listed %d packages, not the connector's: %s", len(deps), out)
	}
	for _, d := range deps {
		for _, banned := range []string{"go.mongodb.org/", "github.com/nats-io/nats-server/"} {
			if strings.HasPrefix(d, banned) {
				t.Errorf("the connector links %s", d)
			}
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An unreadable level stops run before it connects anywhere.
			err := run(tc.args, func(k string) string { return tc.env[k] })
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
	secrets := t.TempDir()
	for f, v := range map[string]string{"basic-auth-user": "admin", "basic-auth-password": "s3cret"} {
		if err := os.WriteFile(filepath.Join(secrets, f), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p, err := provider.New(ctx, provider.Config{DataDir: t.TempDir(), ImagesDir: t.TempDir(), SecretMountPath: secrets}, log)
	if err != nil {
		t.Fatalf("provider: %v", err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(func() {
		srv.Close()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := p.Close(cctx); err != nil {
			t.Errorf("close provider: %v", err)
		}
	})
	good, err := gateway.New(srv.URL, "admin", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := gateway.New(srv.URL, "admin", "not-the-password")
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
