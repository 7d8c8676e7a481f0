// Package localrig starts a whole local platform (infra/local/localstack:
// NATS, FerretDB, MinIO, the provider and the connector) with no tenants,
// for a test package that onboards its own with the mysimbdp CLI, as an
// operator would: on free addresses, in a scratch folder of its own, with
// the CLI built and the clients an operator's tools hold. (It is apart from
// tests/harness because it links the whole local stack.)
package localrig

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// Platform is a running local platform and what the tests drive it with.
type Platform struct {
	Stack *localstack.Stack
	// Data is the platform's data folder; Tmp the scratch folder it is in.
	Data, Tmp string
	Repo      string
	// CLI is the mysimbdp binary, built from the repository.
	CLI string
	// Gateway is a client of the gateway with its credentials; Tenants
	// reaches every part as `mysimbdp tenant` does.
	Gateway *gateway.Client
	Tenants tenant.Platform
}

// Start builds the CLI and starts the platform in a scratch folder named
// after name; stop stops it and removes the folder. A part that cannot
// start (no bin/minio: run ./scripts/setup) is an error.
func Start(name string) (_ *Platform, stop func(), err error) {
	repo, err := harness.RepoRoot()
	if err != nil {
		return nil, nil, err
	}
	var cleanups []func()
	stop = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	if _, err := os.Stat(filepath.Join(repo, "bin", "minio")); err != nil {
		return nil, nil, fmt.Errorf("bin/minio is missing: run ./scripts/setup first (%v)", err)
	}
	tmp, err := os.MkdirTemp("", "mysimbdp-"+name+"-test")
	if err != nil {
		return nil, nil, err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(tmp) })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cli, err := harness.BuildCLI(ctx, repo, tmp)
	if err != nil {
		return nil, nil, err
	}
	p := &Platform{Data: filepath.Join(tmp, "data"), Tmp: tmp, CLI: cli, Repo: repo}
	noTenants := filepath.Join(tmp, "no-tenants")
	if err := os.Mkdir(noTenants, 0o755); err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p.Stack, err = localstack.Start(ctx, localstack.Config{
		DataDir:          p.Data,
		StackFile:        filepath.Join(repo, "stack.yml"),
		TenantsDir:       noTenants,
		GatewayAddr:      "127.0.0.1:0",
		MongoAddr:        "127.0.0.1:0",
		MinIOAddr:        "127.0.0.1:0",
		MinIOConsoleAddr: "127.0.0.1:0",
		ConnectorBackoff: 100 * time.Millisecond,
	}, log)
	if err != nil {
		return nil, nil, fmt.Errorf("start the platform: %w", err)
	}
	cleanups = append(cleanups, func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = p.Stack.Stop(sctx)
	})
	p.Gateway, err = gateway.New(p.Stack.Endpoints.Gateway, p.Stack.Creds.GatewayUser, p.Stack.Creds.GatewayPassword)
	if err != nil {
		return nil, nil, err
	}
	var closeTenants func()
	if p.Tenants, closeTenants, err = p.Stack.Platform(ctx, p.Gateway); err != nil {
		return nil, nil, err
	}
	cleanups = append(cleanups, closeTenants)
	return p, stop, nil
}
