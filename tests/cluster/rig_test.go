package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/minio/minio-go/v7"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mysimbdp/mysimbdp/infra/connector"
	"github.com/mysimbdp/mysimbdp/infra/local/freeport"
	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/trust"
	"github.com/mysimbdp/mysimbdp/tests/harness"
	"github.com/mysimbdp/mysimbdp/tests/harness/localgw"
)

// replicas is every stream's and bucket's: one per server.
const replicas = 3

// node is one nats-server process of the cluster.
type node struct {
	name    string
	url     string
	route   string // its route listener's host:port
	monitor string // its monitoring endpoint's base URL
	// env and log are what the process is started with, again on a
	// restart: the same name, ports and store folder, so that it comes
	// back as the same JetStream peer.
	env  []string
	log  *os.File
	cmd  *exec.Cmd
	done chan struct{} // closed once the process was waited for
}

// cluster is three nats-server processes routed to each other.
type cluster struct {
	t     *testing.T
	nodes []*node
}

// startCluster starts three servers on free loopback ports, each with its
// own store folder, and waits until JetStream answers through them; every
// process is killed in the test's Cleanup, whatever happened. A port found
// free can be taken by another process before its server binds it (the
// other test packages run beside this one): a server that exits while the
// cluster forms makes it start again, all three on other ports.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	const attempts = 3
	for attempt := 1; ; attempt++ {
		c, err := tryCluster(t)
		if err == nil {
			return c
		}
		if attempt == attempts {
			t.Fatalf("start a 3-node NATS cluster, %d attempts: %v", attempts, err)
		}
		t.Logf("start a 3-node NATS cluster, attempt %d: %v; again on other ports", attempt, err)
	}
}

// tryCluster is one attempt of startCluster; on error every server it
// started is killed.
func tryCluster(t *testing.T) (*cluster, error) {
	t.Helper()
	c := &cluster{t: t}
	var routes []string
	name := "mysimbdp-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	type ports struct{ client, cluster, monitor int }
	var ps []ports
	for range 3 {
		p := ports{freeport.MustGet(), freeport.MustGet(), freeport.MustGet()}
		ps = append(ps, p)
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(p.cluster))
	}
	for i, p := range ps {
		// tls://: a client that did not trust the CA could not connect,
		// whatever the server required.
		n := &node{name: "n" + strconv.Itoa(i), url: "tls://127.0.0.1:" + strconv.Itoa(p.client),
			route:   "127.0.0.1:" + strconv.Itoa(p.cluster),
			monitor: "http://127.0.0.1:" + strconv.Itoa(p.monitor)}
		n.env = append(os.Environ(),
			envNode+"="+n.name, envNodePort+"="+strconv.Itoa(p.client), envNodeCluster+"="+strconv.Itoa(p.cluster),
			envNodeRoutes+"="+strings.Join(routes, ","), envNodeStore+"="+filepath.Join(t.TempDir(), n.name), envNodeMonitor+"="+strconv.Itoa(p.monitor), envNodeClusterName+"="+name,
			envNodeTLSDir+"="+shared.natsTLSDir, envNodeCA+"="+shared.caFile)
		// The survivors of a kill log every failed route dial: kept in a
		// file (a restarted node's appended), shown only when the test
		// fails.
		logFile := filepath.Join(t.TempDir(), n.name+".log")
		var err error
		if n.log, err = os.Create(logFile); err != nil {
			t.Fatal(err)
		}
		c.start(n)
		t.Cleanup(func() {
			c.kill(n)
			_ = n.log.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logFile)
				t.Logf("NATS node %s's log (last 4 KiB):\n%s", n.name, b[max(0, len(b)-4096):])
			}
		})
		c.nodes = append(c.nodes, n)
	}
	giveUp := func(err error) (*cluster, error) {
		for _, n := range c.nodes {
			c.kill(n)
		}
		return nil, err
	}
	js := c.jetstream(t)
	var last error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		for _, n := range c.nodes {
			select {
			case <-n.done:
				return giveUp(fmt.Errorf("NATS node %s exited while the cluster formed (a port taken?)", n.name))
			default:
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		// A replicated stream can be made only once the meta group has a
		// leader and every peer.
		_, last = js.CreateStream(ctx, jetstream.StreamConfig{Name: "PROBE", Subjects: []string{"probe"}, Replicas: replicas, Storage: jetstream.FileStorage})
		cancel()
		if last == nil {
			// The routes formed over TLS (the servers accept nothing
			// else); that they do refuse a route in the clear is checked
			// here, for every test's cluster.
			c.checkPlainRouteRefused()
			return c, nil
		}
		select {
		case <-time.After(200 * time.Millisecond): // polling, bounded by deadline
		case <-c.nodes[0].done:
		}
	}
	return giveUp(fmt.Errorf("the cluster's JetStream did not answer with 3 servers within 60s: %v", last))
}

// start runs n's server process, the test binary in node mode.
func (c *cluster) start(n *node) {
	c.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = n.env
	cmd.Stdout, cmd.Stderr = n.log, n.log
	// No server outlives a test binary that dies before its Cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start NATS node %s: %v", n.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	n.cmd, n.done = cmd, done
}

// URLs is every server's client URL, as a client takes several.
func (c *cluster) URLs() string {
	var us []string
	for _, n := range c.nodes {
		us = append(us, n.url)
	}
	return strings.Join(us, ",")
}

// jetstream is a client of the whole cluster, closed in tb's Cleanup.
func (c *cluster) jetstream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	opts := append([]nats.Option{nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.ReconnectWait(100 * time.Millisecond)},
		trust.NATS(shared.caFile)...)
	nc, err := nats.Connect(c.URLs(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// checkPlainRouteRefused: a route connection in the clear to every
// server is refused. A route listener in the clear sends its INFO at once;
// one that requires TLS waits for a handshake, so that a peer's plain
// CONNECT is taken for a broken handshake and the connection closed
// without a word.
func (c *cluster) checkPlainRouteRefused() {
	c.t.Helper()
	for _, n := range c.nodes {
		conn, err := net.DialTimeout("tcp", n.route, 5*time.Second)
		if err != nil {
			c.t.Fatalf("dial NATS node %s's route port: %v", n.name, err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write([]byte("CONNECT {\"verbose\":false,\"name\":\"plain\"}\r\nPING\r\n")); err != nil {
			conn.Close()
			c.t.Fatalf("write to NATS node %s's route port: %v", n.name, err)
		}
		got, err := io.ReadAll(conn)
		conn.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("NATS node %s kept a plain route connection open (read %q)", n.name, got)
		}
		if len(got) > 0 {
			c.t.Fatalf("NATS node %s answered a plain route connection with %q, want it closed unanswered (TLS first)", n.name, got)
		}
	}
}

// kill sends SIGKILL (kill -9) to n and waits for it to be gone.
func (c *cluster) kill(n *node) {
	select {
	case <-n.done:
		return
	default:
	}
	_ = n.cmd.Process.Kill()
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		c.t.Errorf("NATS node %s still runs 10s after SIGKILL", n.name)
	}
}

// killLeader kills the server leading stream's replicas (the one whose
// loss forces an election under the traffic) and returns its name.
func (c *cluster) killLeader(js jetstream.JetStream, stream string) string {
	c.t.Helper()
	var leader string
	harness.Until(c.t, 30*time.Second, "stream "+stream+" to report its leader", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false, err.Error()
		}
		info := s.CachedInfo()
		if info.Config.Replicas != replicas {
			c.t.Fatalf("stream %s has %d replicas, want %d", stream, info.Config.Replicas, replicas)
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return false, "no leader"
		}
		leader = info.Cluster.Leader
		return true, ""
	})
	for _, n := range c.nodes {
		if n.name == leader {
			c.kill(n)
			c.t.Logf("killed NATS node %s, leader of %s (kill -9)", leader, stream)
			return leader
		}
	}
	c.t.Fatalf("leader %q of %s is none of the cluster's nodes", leader, stream)
	return ""
}

// connectorNodes lists the live servers a client named name (every
// connector's is mysimbdp-connector) is connected to, from their /connz.
func (c *cluster) connectorNodes(name string) ([]*node, error) {
	var out []*node
	for _, n := range c.nodes {
		select {
		case <-n.done:
			continue
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.monitor+"/connz", nil)
		if err != nil {
			cancel()
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("connz of %s: %w", n.name, err)
		}
		var cz struct {
			Conns []struct {
				Name string `json:"name"`
			} `json:"connections"`
		}
		err = json.NewDecoder(resp.Body).Decode(&cz)
		resp.Body.Close()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("connz of %s: %w", n.name, err)
		}
		for _, cn := range cz.Conns {
			if cn.Name == name {
				out = append(out, n)
				break
			}
		}
	}
	return out, nil
}

// killConnectorNode kills the server the (only) connector is connected
// to, and returns it once the connector is connected to another.
func (c *cluster) killConnectorNode() {
	c.t.Helper()
	var on []*node
	harness.Until(c.t, 30*time.Second, "the connector to be connected", func() (bool, string) {
		var err error
		on, err = c.connectorNodes(connectorClient)
		if err != nil {
			return false, err.Error()
		}
		return len(on) == 1, fmt.Sprintf("connected to %d servers", len(on))
	})
	victim := on[0]
	c.kill(victim)
	c.t.Logf("killed NATS node %s, the connector's server (kill -9)", victim.name)
	harness.Until(c.t, 30*time.Second, "the connector to reconnect to another server", func() (bool, string) {
		on, err := c.connectorNodes(connectorClient)
		if err != nil {
			return false, err.Error()
		}
		return len(on) == 1, fmt.Sprintf("connected to %d live servers", len(on))
	})
}

// connectorClient is the connector's NATS connection name.
const connectorClient = "mysimbdp-connector"

// checkReplicas: every stream of the cluster, KV buckets' included, is
// kept by every server, and the streams named in want are among them.
// After a kill the API may answer late while leaders are elected: the
// reading is retried, the verdict is not.
func (c *cluster) checkReplicas(js jetstream.JetStream, want ...string) {
	c.t.Helper()
	got := map[string]int{}
	harness.Until(c.t, 60*time.Second, "every stream's configuration to be read", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		clear(got)
		names := js.StreamNames(ctx)
		for name := range names.Name() {
			s, err := js.Stream(ctx, name)
			if err != nil {
				return false, fmt.Sprintf("stream %s: %v", name, err)
			}
			got[name] = s.CachedInfo().Config.Replicas
		}
		if err := names.Err(); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	for name, r := range got {
		if r != replicas {
			c.t.Errorf("stream %s has %d replicas, want %d", name, r, replicas)
		}
	}
	for _, w := range want {
		if _, ok := got[w]; !ok {
			c.t.Errorf("no stream %s among %v", w, got)
		}
	}
}

// platformStreams are the streams every rig's platform must have: the
// connector's, the tenant's and the control bucket's.
func (r *rig) platformStreams() []string {
	return []string{contract.S3EventsStream, contract.WaitingStream, contract.DeadLetterStream, contract.ReportsStream,
		contract.TenantStream(r.tenant), "KV_" + contract.ControlBucket}
}

// rig is one test's platform on the cluster: FerretDB, the provider with
// the tenant's batch and stream functions, and n connectors.
type rig struct {
	t      *testing.T
	tenant string
	c      *cluster
	js     jetstream.JetStream
	db     *mongo.Client
	conns  []*connector.Connector
}

// profileYAML is tenant1's shape: rows keyed by geoId and dateRep.
func profileYAML(tenant string) string {
	return ecdc.Profile(tenant, ecdc.SourceNames, `batch:
  max_file_size: 64MiB
  max_files_per_window: 1000
  window: 1m
  formats: [csv]
stream:
  window: 5s
`)
}

func newRig(t *testing.T, tenantName string, connectors int) *rig {
	t.Helper()
	// MinIO is the package's: a bucket of an earlier run (-count=2)
	// must not answer for this one.
	nano := strconv.FormatInt(time.Now().UnixNano(), 36)
	tenantName += "-" + nano[len(nano)-6:]
	log := harness.Logger(t, slog.LevelError)
	r := &rig{t: t, tenant: tenantName, c: startCluster(t)}
	r.js = r.c.jetstream(t)
	fs, db := harness.FerretDB(t)
	r.db = db
	gw, _ := localgw.Start(t, shared.images, log.With("part", "provider"))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := profile.Parse([]byte(profileYAML(tenantName)), "test")
	if err != nil {
		t.Fatal(err)
	}
	r.ensure("the tenant's stream", func(ctx context.Context) error { return tenant.ApplyStream(ctx, r.js, p, replicas) })
	if err := shared.s3.MakeBucket(ctx, tenantName, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		contract.EnvProfile: profileYAML(tenantName), contract.EnvS3Endpoint: shared.s3Endpoint,
		contract.EnvS3AccessKey: shared.s3User, contract.EnvS3SecretKey: shared.s3Pass,
		contract.EnvMongoURI: fs.URI(), contract.EnvNATSURL: r.c.URLs(),
		// As on the local platform under --tls: the CA is a secret of
		// the functions, named by the variable.
		contract.EnvTLSCAFile: contract.TLSCASecret,
		"exec_timeout":        "2m", "write_timeout": "2m", "read_timeout": "30s",
	}
	ca, err := os.ReadFile(shared.caFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.SetSecret(ctx, types.Secret{Name: contract.TLSCASecret, Value: string(ca)}); err != nil {
		t.Fatalf("store the CA as secret %s: %v", contract.TLSCASecret, err)
	}
	labels := map[string]string{contract.LabelTenant: tenantName, contract.LabelScaleMin: "1"}
	for _, d := range []struct {
		fn, image string
		ann       map[string]string
	}{
		{p.BatchFunction(), batchImage, map[string]string{contract.AnnotationTopic: "s3:" + tenantName}},
		{p.StreamFunction(), streamImage, map[string]string{contract.AnnotationTopic: p.StreamSubject(),
			contract.AnnotationBatchSize: "50", contract.AnnotationBatchWindow: "20ms", contract.AnnotationMaxInflight: "2"}},
	} {
		if err := gw.Deploy(ctx, types.FunctionDeployment{Service: d.fn, Image: d.image, EnvVars: env, Labels: &labels, Annotations: &d.ann,
			Secrets: []string{contract.TLSCASecret}}); err != nil {
			t.Fatalf("deploy %s: %v", d.fn, err)
		}
	}
	for i := range connectors {
		r.startConnector(gw, log.With("part", "connector", "n", i))
	}
	return r
}

// startConnector runs a connector given every server's URL, as a
// Deployment on a cluster would be, stopped in the test's Cleanup.
func (r *rig) startConnector(gw *gateway.Client, log *slog.Logger) {
	t := r.t
	conn, err := connector.New(connector.Config{
		NATSURL: r.c.URLs(), JSReplicas: replicas, MaxAttempts: 5, BackoffInitial: 200 * time.Millisecond, BackoffMax: time.Second,
		MaxRetryAfter: 2 * time.Second, AckWait: 5 * time.Second, RefreshInterval: 300 * time.Millisecond,
		InvokeTimeout: 2 * time.Minute, MaxConcurrent: 8, MaxAckPending: 256, FetchWait: 300 * time.Millisecond,
		ShutdownTimeout: 10 * time.Second, CAFile: shared.caFile,
	}, gw, log)
	if err != nil {
		t.Fatal(err)
	}
	r.ensure("the connector's streams", func(ctx context.Context) error { return conn.EnsureStreams(ctx, r.js) })
	harness.Run(t, "connector", conn.Run)
	r.conns = append(r.conns, conn)
}

// ensure runs an idempotent JetStream set-up call until it succeeds,
// each attempt with its own deadline: on a loaded machine a request can
// go unanswered while the meta group elects a leader.
func (r *rig) ensure(what string, do func(ctx context.Context) error) {
	r.t.Helper()
	harness.Until(r.t, time.Minute, what, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := do(ctx); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// publish publishes to the cluster, again while it elects a new leader
// after a kill: a publish is acknowledged once a quorum stored it.
func (r *rig) publish(subject string, data []byte, id string) {
	r.t.Helper()
	var last error
	harness.Until(r.t, 30*time.Second, "publish on "+subject+" to be acknowledged", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		// The message id makes a retry of a publish that was stored
		// but not acknowledged a duplicate JetStream drops.
		_, last = r.js.Publish(ctx, subject, data, jetstream.WithMsgID(id))
		if last != nil {
			return false, last.Error()
		}
		return true, ""
	})
}

// cases is row i's cases in this package's data: base+i, so that the sum
// over the stored rows checks that each is there once.
const base = 1_000_000

// csvFile is rows [from, to) as a CSV file.
func csvFile(from, to int) []byte {
	var b strings.Builder
	b.WriteString("\ufeff" + ecdc.Header + "\r\n")
	for i := from; i < to; i++ {
		f := strings.SplitN(ecdc.Row(i), ",", 6) // dateRep,day,month,year,cases,rest
		f[4] = strconv.Itoa(base + i)
		b.WriteString(strings.Join(f, ",") + "\r\n")
	}
	return []byte(b.String())
}

// upload puts a file into the tenant's incoming/ and publishes its event
// to the S3 events stream, as MinIO does.
func (r *rig) upload(key string, data []byte) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := shared.s3.PutObject(ctx, r.tenant, key, strings.NewReader(string(data)), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		r.t.Fatalf("put %s: %v", key, err)
	}
	ev := events.S3Event{Records: []events.S3EventRecord{{
		EventVersion: "2.0", EventSource: "minio:s3", EventName: "s3:ObjectCreated:Put", EventTime: time.Now().UTC(),
		S3: events.S3Entity{Bucket: events.S3Bucket{Name: r.tenant},
			Object: events.S3Object{Key: url.QueryEscape(key), Size: info.Size, ETag: info.ETag}},
	}}}
	body, err := json.Marshal(ev)
	if err != nil {
		r.t.Fatal(err)
	}
	r.publish(contract.S3EventsSubject, body, r.tenant+"/"+key)
}

// record publishes row i on the tenant's stream.
func (r *rig) record(i int) {
	r.t.Helper()
	row := ecdc.Fields(i)
	row["cases"] = base + i
	data, err := json.Marshal(row)
	if err != nil {
		r.t.Fatal(err)
	}
	r.publish(contract.TenantSubjectPrefixOf(r.tenant)+"covid", data, r.tenant+"/"+strconv.Itoa(i))
}

// stored counts the tenant's documents and sums their cases.
func (r *rig) stored() (n int64, sum int64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cur, err := r.db.Database(r.tenant).Collection("covid_daily").Find(ctx, bson.D{})
	if err != nil {
		return 0, 0, err
	}
	var docs []struct {
		Cases int64 `bson:"cases"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return 0, 0, err
	}
	for _, d := range docs {
		sum += d.Cases
	}
	return int64(len(docs)), sum, nil
}

// awaitStored waits until rows [0, total) are stored, then checks they
// stay so: each once (the count), each with its own value (the sum).
func (r *rig) awaitStored(total int, within time.Duration) {
	r.t.Helper()
	var want int64
	for i := range total {
		want += int64(base + i)
	}
	harness.Until(r.t, within, fmt.Sprintf("%d rows stored", total), func() (bool, string) {
		n, sum, err := r.stored()
		if err != nil {
			return false, err.Error()
		}
		return n >= int64(total) && sum >= want, fmt.Sprintf("%d rows, sum of cases %d (want %d, %d)", n, sum, total, want)
	})
	n, sum, err := r.stored()
	if err != nil {
		r.t.Fatal(err)
	}
	if n != int64(total) || sum != want {
		r.t.Errorf("%d rows with a sum of cases %d, want %d rows summing to %d: every row stored exactly once", n, sum, total, want)
	}
}

// awaitFiles waits until every key has its report in processed/ and
// checks that each file was done with all its rows.
func (r *rig) awaitFiles(keys []string, rows int64, within time.Duration) {
	r.t.Helper()
	reps := map[string]contract.BatchReport{}
	harness.Until(r.t, within, "every file to reach processed/ or rejected/", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, k := range keys {
			if _, ok := reps[k]; ok {
				continue
			}
			for _, dir := range []string{"processed/", "rejected/"} {
				obj, err := shared.s3.GetObject(ctx, r.tenant, strings.Replace(k, "incoming/", dir, 1)+".report.json", minio.GetObjectOptions{})
				if err != nil {
					continue
				}
				var rep contract.BatchReport
				if err := json.NewDecoder(obj).Decode(&rep); err == nil {
					reps[k] = rep
				}
				obj.Close()
			}
		}
		return len(reps) == len(keys), fmt.Sprintf("%d of %d files have their report", len(reps), len(keys))
	})
	for k, rep := range reps {
		if rep.Status != contract.StatusDone || rep.RowsOK != rows {
			r.t.Errorf("%s: %s with %d rows, want done with %d: %s", k, rep.Status, rep.RowsOK, rows, rep.Error)
		}
	}
}

// alive reports whether n's process runs.
func (n *node) alive() bool {
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// metaCluster is the part of a server's /jsz that tells the JetStream
// meta group (the one that places streams and consumers) as it sees it.
type metaCluster struct {
	Leader   string `json:"leader"`
	Size     int    `json:"cluster_size"`
	Replicas []struct {
		Name    string `json:"name"`
		Current bool   `json:"current"`
		Offline bool   `json:"offline"`
	} `json:"replicas"`
}

// jsz reads n's /jsz; leaderOnly asks for it only if n leads the meta
// group (a server that does not answers 400): leads says which.
func (n *node) jsz(leaderOnly bool) (mc metaCluster, leads bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	u := n.monitor + "/jsz"
	if leaderOnly {
		u += "?leader-only=true"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return mc, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return mc, false, fmt.Errorf("jsz of %s: %w", n.name, err)
	}
	defer resp.Body.Close()
	if leaderOnly && resp.StatusCode == http.StatusBadRequest {
		return mc, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return mc, false, fmt.Errorf("jsz of %s: %s", n.name, resp.Status)
	}
	var js struct {
		Meta *metaCluster `json:"meta_cluster"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&js); err != nil {
		return mc, false, fmt.Errorf("jsz of %s: %w", n.name, err)
	}
	if js.Meta == nil {
		return mc, false, fmt.Errorf("jsz of %s: no meta group", n.name)
	}
	return *js.Meta, true, nil
}

// metaLeader waits until the live servers agree on the JetStream meta
// leader (each one's /jsz names it, and it alone answers
// /jsz?leader-only=true) and that leader is not one of not; it returns it.
func (c *cluster) metaLeader(within time.Duration, not ...string) *node {
	c.t.Helper()
	var leader *node
	harness.Until(c.t, within, "the live NATS servers to agree on a JetStream meta leader", func() (bool, string) {
		leader = nil
		var named []string
		for _, n := range c.nodes {
			if !n.alive() {
				continue
			}
			mc, _, err := n.jsz(false)
			if err != nil {
				return false, err.Error()
			}
			named = append(named, n.name+"→"+mc.Leader)
			if _, leads, err := n.jsz(true); err != nil {
				return false, err.Error()
			} else if leads {
				if leader != nil {
					return false, fmt.Sprintf("both %s and %s answer as meta leader", leader.name, n.name)
				}
				leader = n
			}
		}
		if leader == nil {
			return false, fmt.Sprintf("no server answers as meta leader; each names %v", named)
		}
		if slices.Contains(not, leader.name) {
			return false, fmt.Sprintf("%s still leads; each names %v", leader.name, named)
		}
		for _, s := range named {
			if !strings.HasSuffix(s, "→"+leader.name) {
				return false, fmt.Sprintf("%s answers as meta leader, yet each names %v", leader.name, named)
			}
		}
		return true, ""
	})
	return leader
}

// restart starts a killed node again, the same peer with its store, and
// waits until it has rejoined: the meta leader counts it among three
// peers, current, and it is a current replica of every stream in streams.
func (c *cluster) restart(n *node, js jetstream.JetStream, within time.Duration, streams ...string) {
	c.t.Helper()
	if n.alive() {
		c.t.Fatalf("restart NATS node %s: it runs", n.name)
	}
	c.start(n)
	c.t.Logf("restarted NATS node %s", n.name)
	harness.Until(c.t, within, "NATS node "+n.name+" to rejoin the meta group and its streams", func() (bool, string) {
		if !n.alive() {
			c.t.Fatalf("restarted NATS node %s exited (its ports taken?)", n.name)
		}
		leader := ""
		for _, o := range c.nodes {
			if _, leads, err := o.jsz(true); err == nil && leads {
				leader = o.name
				mc, _, err := o.jsz(false)
				if err != nil {
					return false, err.Error()
				}
				if mc.Size != replicas {
					return false, fmt.Sprintf("meta group of %d", mc.Size)
				}
				var current bool
				for _, p := range mc.Replicas {
					if p.Name == n.name {
						current = p.Current && !p.Offline
					}
				}
				if !current && o != n {
					return false, fmt.Sprintf("meta leader %s does not see %s current: %+v", o.name, n.name, mc.Replicas)
				}
			}
		}
		if leader == "" {
			return false, "no meta leader"
		}
		if mc, _, err := n.jsz(false); err != nil || mc.Leader != leader {
			return false, fmt.Sprintf("%s names meta leader %q (%v), the leader is %s", n.name, mc.Leader, err, leader)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, name := range streams {
			s, err := js.Stream(ctx, name)
			if err != nil {
				return false, fmt.Sprintf("stream %s: %v", name, err)
			}
			cl := s.CachedInfo().Cluster
			if cl == nil {
				return false, "stream " + name + ": no cluster info"
			}
			ok := cl.Leader == n.name
			for _, p := range cl.Replicas {
				if p.Name == n.name {
					ok = p.Current && !p.Offline
				}
			}
			if !ok {
				return false, fmt.Sprintf("stream %s: %s is not a current replica (leader %s, replicas %+v)", name, n.name, cl.Leader, cl.Replicas)
			}
		}
		return true, ""
	})
}

// logRoles logs what else the meta leader n is at its kill: stream's
// leader, the connector's server; the test holds either way, the log
// tells which kill it was.
func (c *cluster) logRoles(js jetstream.JetStream, n *node, stream string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	streamLeader := "?"
	if s, err := js.Stream(ctx, stream); err == nil && s.CachedInfo().Cluster != nil {
		streamLeader = s.CachedInfo().Cluster.Leader
	}
	on, _ := c.connectorNodes(connectorClient)
	var conn []string
	for _, o := range on {
		conn = append(conn, o.name)
	}
	c.t.Logf("meta leader %s; leader of %s: %s; the connector's server: %v", n.name, stream, streamLeader, conn)
}
