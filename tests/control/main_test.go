// Package control tests the platform's control loop on a whole local
// stack (infra/local/localstack: real NATS, FerretDB, MinIO, provider, connector
// and function processes): the stats function's quota decisions, which the
// connector obeys, and the scaler function, which the connector fires on
// its schedule and which sets replicas through the gateway.
package control

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// repoRoot is the folder with go.mod, stack.yml and bin/.
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// platform is a running local stack and clients of its parts.
type platform struct {
	stack *localstack.Stack
	gw    *gateway.Client
	js    jetstream.JetStream
	db    *mongo.Client
}

// startPlatform starts the local stack from the repo's stack.yml with the
// given tenant profiles (tenant id -> YAML) and stops it when t ends.
func startPlatform(t *testing.T, profiles map[string]string) *platform {
	t.Helper()
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "bin", "minio")); err != nil {
		t.Fatalf("bin/minio is missing: run ./scripts/setup first (%v)", err)
	}
	tenants := t.TempDir()
	for id, yaml := range profiles {
		if err := os.WriteFile(filepath.Join(tenants, id+".yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log := harness.Logger(t, slog.LevelWarn)
	s, err := localstack.Start(ctx, localstack.Config{
		DataDir:    t.TempDir(),
		StackFile:  filepath.Join(root, "stack.yml"),
		TenantsDir: tenants,
		Progress:   func(f string, a ...any) { t.Logf(f, a...) },
	}, log)
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
	creds := s.Creds
	if p.gw, err = gateway.New(s.Endpoints.Gateway, creds.GatewayUser, creds.GatewayPassword); err != nil {
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
	return p
}

// redeploy deploys function name again as it runs now (as stack.yml or
// `tenant apply` deployed it), changed by edit.
func (p *platform) redeploy(t *testing.T, name string, edit func(d *types.FunctionDeployment)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.gw.Redeploy(ctx, name, "", edit); err != nil {
		t.Fatal(err)
	}
}

// replicas is the function's replica count as the provider reports it.
func (p *platform) replicas(t *testing.T, name string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := p.gw.Function(ctx, name, "")
	if err != nil {
		return 0, err
	}
	return int(st.Replicas), nil
}

// waitInvocations waits until function name has been invoked n more times.
func (p *platform) waitInvocations(t *testing.T, name string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	st, err := p.gw.Function(ctx, name, "")
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	from := st.InvocationCount
	harness.Until(t, time.Minute, fmt.Sprintf("%d invocations of %s", n, name), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := p.gw.Function(ctx, name, "")
		return err == nil && st.InvocationCount >= from+float64(n), fmt.Sprintf("%v invocations, err %v", st.InvocationCount-from, err)
	})
}

// publish publishes ECDC rows [from, to) to subject, one message each, and
// waits for every ack.
func (p *platform) publish(t *testing.T, subject string, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ecdc.Publish(ctx, p.js, subject, from, to); err != nil {
		t.Fatal(err)
	}
}

// count is the number of documents in db.coll.
func (p *platform) count(db, coll string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.db.Database(db).Collection(coll).CountDocuments(ctx, bson.D{})
}

// streamProfile is an ECDC tenant profile with the given stream quota.
func streamProfile(tenant string, maxMessages int, window string) string {
	return ecdc.Profile(tenant, ecdc.SourceNames, fmt.Sprintf(`
batch:
  max_files_per_window: 10
  window: 1m
stream:
  max_messages_per_window: %d
  window: %s
`, maxMessages, window))
}
