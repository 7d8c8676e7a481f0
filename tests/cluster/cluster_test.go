package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/connector"
	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/quota"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// Files and rows: small, so that the package stays within minutes on a
// loaded two-core machine.
const (
	files       = 8
	rowsPerFile = 40
	records     = 300
)

// TestKillDuringBatchBurst: the server the connector is connected to is
// killed (SIGKILL) while a burst of files is being ingested; the connector
// reconnects to another and carries on: every file is ingested and every
// row stored exactly once.
func TestKillDuringBatchBurst(t *testing.T) {
	t.Parallel()
	r := newRig(t, "clusterbatch", 1)
	var keys []string
	upload := func(from, to int) {
		for k := from; k < to; k++ {
			key := fmt.Sprintf("incoming/burst-%02d.csv", k)
			r.upload(key, csvFile(k*rowsPerFile, (k+1)*rowsPerFile))
			keys = append(keys, key)
		}
	}
	upload(0, files/2)
	// Mid-burst: once the first rows are in, the rest still to come.
	harness.Until(t, 90*time.Second, "the first rows to be stored", func() (bool, string) {
		n, _, err := r.stored()
		return err == nil && n > 0, fmt.Sprintf("%d rows (%v)", n, err)
	})
	n, _, _ := r.stored()
	r.c.killConnectorNode()
	t.Logf("%d of %d rows were stored at the kill", n, files*rowsPerFile)
	upload(files/2, files)
	r.awaitFiles(keys, rowsPerFile, 3*time.Minute)
	r.awaitStored(files*rowsPerFile, time.Minute)
	r.c.checkReplicas(r.js, r.platformStreams()...)
}

// TestKillDuringStreamRun: records are published at a steady rate while
// the leader of the tenant's stream is killed; every record is stored
// exactly once.
func TestKillDuringStreamRun(t *testing.T) {
	t.Parallel()
	r := newRig(t, "clusterstream", 1)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := range records {
		<-tick.C
		if i == records/3 {
			r.c.killLeader(r.js, contract.TenantStream(r.tenant))
		}
		r.record(i)
	}
	r.awaitStored(records, 2*time.Minute)
	r.c.checkReplicas(r.js, r.platformStreams()...)
}

// TestKillMetaLeader: the server leading JetStream's meta group (which
// places streams and consumers; not always a stream's leader, nor the
// connector's server) is killed while files and records come in. A new
// meta leader is elected among the other two, the connector carries on
// (the files uploaded after the kill are ingested too), every row is
// stored exactly once, and the killed server, started again, rejoins the
// meta group and the tenant's stream as a current peer.
func TestKillMetaLeader(t *testing.T) {
	t.Parallel()
	r := newRig(t, "clustermeta", 1)
	var keys []string
	upload := func(k int) {
		key := fmt.Sprintf("incoming/meta-%02d.csv", k)
		r.upload(key, csvFile(k*rowsPerFile, (k+1)*rowsPerFile))
		keys = append(keys, key)
	}
	for k := range files / 2 {
		upload(k)
	}
	harness.Until(t, 90*time.Second, "the first rows to be stored", func() (bool, string) {
		n, _, err := r.stored()
		return err == nil && n > 0, fmt.Sprintf("%d rows (%v)", n, err)
	})
	// The stream's records follow the files' rows; the rest of the files
	// are uploaded among them, after the kill.
	const killAt, uploadEvery = records / 3, 20
	var victim *node
	next := files / 2
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := range records {
		<-tick.C
		if i == killAt {
			victim = r.c.metaLeader(30 * time.Second)
			r.c.logRoles(r.js, victim, contract.TenantStream(r.tenant))
			r.c.kill(victim)
			t.Logf("killed NATS node %s, the JetStream meta leader (kill -9)", victim.name)
		}
		if i > killAt && (i-killAt)%uploadEvery == 0 && next < files {
			upload(next)
			next++
		}
		r.record(files*rowsPerFile + i)
	}
	if next != files {
		t.Fatalf("uploaded %d of %d files", next, files)
	}
	elected := r.c.metaLeader(30*time.Second, victim.name)
	t.Logf("NATS node %s is the new JetStream meta leader", elected.name)
	r.awaitFiles(keys, rowsPerFile, 3*time.Minute)
	r.awaitStored(files*rowsPerFile+records, 2*time.Minute)
	r.c.restart(victim, r.js, 60*time.Second, r.platformStreams()...)
	r.c.checkReplicas(r.js, r.platformStreams()...)
}

// TestTwoConnectors: two connectors against the cluster share the files
// and the records; each is delivered to its function and stored once.
func TestTwoConnectors(t *testing.T) {
	t.Parallel()
	r := newRig(t, "clustertwo", 2)
	var keys []string
	for k := range files {
		key := fmt.Sprintf("incoming/two-%02d.csv", k)
		r.upload(key, csvFile(k*rowsPerFile, (k+1)*rowsPerFile))
		keys = append(keys, key)
	}
	// The stream's rows follow the files' in the same collection.
	for i := range records {
		r.record(files*rowsPerFile + i)
	}
	r.awaitFiles(keys, rowsPerFile, 3*time.Minute)
	r.awaitStored(files*rowsPerFile+records, 2*time.Minute)
	r.c.checkReplicas(r.js, r.platformStreams()...)
}

// TestReplicasRaised: streams and buckets made with one replica (before
// the setting was raised) are given three by the parts that ensure them
// (connector, tenant onboarding, natskv), and a part left at one never
// takes them back down.
func TestReplicasRaised(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	js := c.jetstream(t)
	const tenantName = "clusterraise"
	p, err := profile.Parse([]byte(profileYAML(tenantName)), "test")
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New("http://127.0.0.1:1", "admin", "unused")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := connector.New(connector.Config{NATSURL: c.URLs(), JSReplicas: replicas}, gw, harness.Logger(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	kvStream := func(bucket string) string { return "KV_" + bucket }
	for _, step := range []struct {
		name   string
		do     func(ctx context.Context) error
		stream string
		want   int
	}{
		{"dead letters made with 1", func(ctx context.Context) error {
			_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: contract.DeadLetterStream, Subjects: []string{contract.DeadLetterSubjectPrefix + ".>"}})
			return err
		}, contract.DeadLetterStream, 1},
		{"the connector raises them", func(ctx context.Context) error { return conn.EnsureStreams(ctx, js) }, contract.DeadLetterStream, replicas},
		{"and makes the S3 events with 3", func(ctx context.Context) error { return nil }, contract.S3EventsStream, replicas},
		{"control bucket made with 1", func(ctx context.Context) error { _, err := quota.ControlKV(ctx, js, 1); return err }, kvStream(contract.ControlBucket), 1},
		{"natskv raises it", func(ctx context.Context) error { _, err := quota.ControlKV(ctx, js, replicas); return err }, kvStream(contract.ControlBucket), replicas},
		{"a part at 1 leaves it", func(ctx context.Context) error { _, err := quota.ControlKV(ctx, js, 1); return err }, kvStream(contract.ControlBucket), replicas},
		{"tenant stream made with 1", func(ctx context.Context) error { return tenant.ApplyStream(ctx, js, p, 1) }, p.StreamName(), 1},
		{"onboarding again raises it", func(ctx context.Context) error { return tenant.ApplyStream(ctx, js, p, replicas) }, p.StreamName(), replicas},
		{"onboarding at 1 leaves it", func(ctx context.Context) error { return tenant.ApplyStream(ctx, js, p, 1) }, p.StreamName(), replicas},
	} {
		// On a loaded machine a JetStream API request can go unanswered
		// (a meta leader election): the call is made again, each time
		// with its own deadline; ensuring is idempotent.
		var s jetstream.Stream
		harness.Until(t, time.Minute, step.name, func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := step.do(ctx); err != nil {
				return false, err.Error()
			}
			var err error
			if s, err = js.Stream(ctx, step.stream); err != nil {
				return false, fmt.Sprintf("stream %s: %v", step.stream, err)
			}
			return true, ""
		})
		if got := s.CachedInfo().Config.Replicas; got != step.want {
			t.Errorf("%s: stream %s has %d replicas, want %d", step.name, step.stream, got, step.want)
		}
	}
}
