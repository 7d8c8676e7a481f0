package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// streamRig is a running `up` with clients of its NATS and tenant1's
// collection.
type streamRig struct {
	js   jetstream.JetStream
	coll *mongo.Collection
}

func connectRig(t *testing.T, f upFlags) streamRig {
	t.Helper()
	e := endpoints(t, f)
	nc, err := nats.Connect(e.NATS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	db, err := mongo.Connect(options.Client().ApplyURI(e.MongoURI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Disconnect(context.Background()) })
	return streamRig{js: js, coll: db.Database("tenant1").Collection("covid_daily")}
}

// waitStoredBetween waits until some but not all records are stored: the
// moment to strike mid-stream.
func waitStoredBetween(ctx context.Context, t *testing.T, c *mongo.Collection, total int64) {
	t.Helper()
	waitFor(t, "ingestion under way", 2*time.Minute, func() error {
		n, err := count(ctx, c)
		if err != nil || n == 0 || n >= total {
			return fmt.Errorf("%d of %d stored (%v)", n, total, err)
		}
		return nil
	})
}

func waitStoredExactly(ctx context.Context, t *testing.T, c *mongo.Collection, total int64) {
	t.Helper()
	waitFor(t, "every record stored once", 3*time.Minute, func() error {
		n, err := count(ctx, c)
		if err != nil || n != total {
			return fmt.Errorf("%d stored (%v), want %d", n, err, total)
		}
		return nil
	})
}

// TestStreamSurvivesKillingThePlatform SIGKILLs the whole `up` process —
// connector, gateway, NATS and FerretDB with it; MinIO and the function
// replicas die with their parent — while a tenant's records are being
// ingested, then starts it again on the same data folder: every record
// published (acked by JetStream) is stored, exactly once.
func TestStreamSurvivesKillingThePlatform(t *testing.T) {
	f := newUpFlags(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	up := startUp(t, f)
	rig := connectRig(t, f)
	const total = 5000
	publishRecords(ctx, t, rig.js, "ingest.tenant1.covid", 0, total)
	waitStoredBetween(ctx, t, rig.coll, total)

	if err := up.Kill(); err != nil {
		t.Fatal(err)
	}
	<-up.Exited()
	waitFor(t, "no process of the killed stack is left", 30*time.Second, func() error {
		if left := processesUnder(f.data); len(left) > 0 {
			return fmt.Errorf("still running: %v", left)
		}
		return nil
	})
	_ = os.Remove(filepath.Join(f.data, "mysimbdp.pid"))

	startUp(t, f)
	rig = connectRig(t, f)
	waitStoredExactly(ctx, t, rig.coll, total)
}

// TestStreamSurvivesKillingAReplica SIGKILLs the stream function's replica
// mid-stream: the provider restarts it, the connector redelivers the batch
// that was cut off, and every record is stored exactly once.
func TestStreamSurvivesKillingAReplica(t *testing.T) {
	f := newUpFlags(t)
	f.extra = []string{"--retry-backoff", "100ms"}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	startUp(t, f)
	rig := connectRig(t, f)
	const total = 5000
	publishRecords(ctx, t, rig.js, "ingest.tenant1.covid", 0, total)
	waitStoredBetween(ctx, t, rig.coll, total)

	killed := 0
	for _, p := range processesUnder(f.data) {
		// By its command line: a tenant's replica runs a copy of its image
		// staged outside the data folder, under its image's name.
		pid, _ := strconv.Atoi(strings.Fields(p)[0])
		if strings.Contains(p, filepath.Join("images", "mysimbdp", "stream-ingest")) {
			if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
				killed++
			}
		}
	}
	if killed == 0 {
		t.Fatal("found no stream-ingest replica to kill")
	}
	waitStoredExactly(ctx, t, rig.coll, total)
}

var buildConnectorOnce = buildCommand("./infra/cmd/connector")

// startConnector runs infra/cmd/connector as its own process against the
// stack on f, reading the gateway's credentials from their secret files as
// an OpenFaaS component does. It is killed when the test ends.
func startConnector(t *testing.T, f upFlags) *exec.Cmd {
	t.Helper()
	exe, err := buildConnectorOnce()
	if err != nil {
		t.Fatal(err)
	}
	e := endpoints(t, f)
	// The platform's functions refuse unsigned invocations: the connector
	// signs with the master key `up` keeps.
	master, err := localstack.ReadInvokeMasterKey(f.data)
	if err != nil || master == "" {
		t.Fatalf("the local platform's invocation master key: %q, %v", master, err)
	}
	cmd := exec.Command(exe, "--refresh-interval", "500ms")
	cmd.Env = append(os.Environ(), "NATS_URL="+e.NATS, "GATEWAY_URL="+e.Gateway,
		"SECRET_MOUNT_PATH="+e.GatewaySecret, "METRICS_ADDR=", "LOG_LEVEL=warn",
		contract.EnvInvokeMasterKey+"="+master)
	var out harness.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("connector output:\n%s", out.String())
		}
	})
	return cmd
}

// TestStreamSurvivesKillingTheConnector runs the connector as its own
// process, as on a cluster, SIGKILLs it mid-stream and starts a new one:
// the durable consumers hand the unacknowledged records to the new one and
// every record is stored exactly once.
func TestStreamSurvivesKillingTheConnector(t *testing.T) {
	f := newUpFlags(t)
	f.extra = []string{"--connector=false"}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	startUp(t, f)
	rig := connectRig(t, f)
	first := startConnector(t, f)
	const total = 5000
	publishRecords(ctx, t, rig.js, "ingest.tenant1.covid", 0, total)
	waitStoredBetween(ctx, t, rig.coll, total)

	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	startConnector(t, f)
	waitStoredExactly(ctx, t, rig.coll, total)
}
