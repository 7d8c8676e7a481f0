// Package cluster tests the platform on a NATS cluster of three
// nats-server processes on loopback, every stream and KV bucket with 3
// replicas (contract.EnvJSReplicas): `kill -9` of a server during a burst
// of files and during a stream run loses no row and stores none twice,
// as does the kill of JetStream's meta leader (after which a new one is
// elected and the killed server, started again, rejoins), and two
// connectors against the cluster store each record once. The cluster
// serves TLS on its client port and on its routes, with certificates of
// a CA made by infra/local/tlsca as `mysimbdp up --tls` makes them: every
// client (the connector, the functions, the test's own) trusts that CA as
// on the local platform, and every test checks that a route connection in
// the clear is refused. The servers are this test binary run again in node mode (natsd with routes
// to the others), so that a kill is a real SIGKILL of a process; MinIO,
// FerretDB, the provider running the tenant's functions and the
// connectors are the real ones, as in tests/burst.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/infra/local/natsd"
	"github.com/mysimbdp/mysimbdp/infra/local/tlsca"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// Node mode: the test binary runs one nats-server of the cluster when
// these are set (see startCluster).
const (
	envNode        = "MYSIMBDP_TEST_NATS_NODE" // server name
	envNodePort    = "MYSIMBDP_TEST_NATS_PORT"
	envNodeCluster = "MYSIMBDP_TEST_NATS_CLUSTER_PORT"
	envNodeRoutes  = "MYSIMBDP_TEST_NATS_ROUTES" // comma-separated nats-route:// URLs
	envNodeStore   = "MYSIMBDP_TEST_NATS_STORE"
	envNodeMonitor = "MYSIMBDP_TEST_NATS_MONITOR_PORT" // /connz tells whose clients it has
	// A name per cluster: a port freed by a kill and taken by another
	// test's server must not join two clusters (servers refuse a route
	// from a cluster of another name).
	envNodeClusterName = "MYSIMBDP_TEST_NATS_CLUSTER_NAME"
	// The folder of the servers' certificate and key (tlsca's layout) and
	// the CA that routes verify each other's certificate with.
	envNodeTLSDir = "MYSIMBDP_TEST_NATS_TLS_DIR"
	envNodeCA     = "MYSIMBDP_TEST_NATS_CA"
)

const (
	batchApp    = "batch-ingest"
	batchImage  = "mysimbdp/batch-ingest:latest"
	streamApp   = "stream-ingest"
	streamImage = "mysimbdp/stream-ingest:latest"
)

// shared is what TestMain made: the built functions and a MinIO server.
var shared struct {
	images                     string
	s3Endpoint, s3User, s3Pass string
	s3                         *minio.Client
	// caFile is the CA every client trusts; natsTLSDir the servers'
	// certificate and key, one for all three (127.0.0.1 is every one's
	// address).
	caFile, natsTLSDir string
}

func TestMain(m *testing.M) {
	if name := os.Getenv(envNode); name != "" {
		if err := runNode(name); err != nil {
			fmt.Fprintln(os.Stderr, "nats node", name+":", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(run(m))
}

// runNode runs one server of the cluster until SIGTERM (a SIGKILL, the
// point of the tests, ends it anyway).
func runNode(name string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	port, err := strconv.Atoi(os.Getenv(envNodePort))
	if err != nil {
		return fmt.Errorf("%s: %w", envNodePort, err)
	}
	cport, err := strconv.Atoi(os.Getenv(envNodeCluster))
	if err != nil {
		return fmt.Errorf("%s: %w", envNodeCluster, err)
	}
	mport, err := strconv.Atoi(os.Getenv(envNodeMonitor))
	if err != nil {
		return fmt.Errorf("%s: %w", envNodeMonitor, err)
	}
	var routes []*url.URL
	for _, r := range strings.Split(os.Getenv(envNodeRoutes), ",") {
		u, err := url.Parse(r)
		if err != nil {
			return fmt.Errorf("route %q: %w", r, err)
		}
		routes = append(routes, u)
	}
	clientTLS, routeTLS, err := nodeTLS(os.Getenv(envNodeTLSDir), os.Getenv(envNodeCA))
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ns, err := natsd.Start(startCtx, natsd.Config{
		Port: port, StoreDir: os.Getenv(envNodeStore), ServerName: name, PortFlag: envNodePort,
		Options: func(o *server.Options) {
			o.Cluster = server.ClusterOpts{Name: os.Getenv(envNodeClusterName), Host: "127.0.0.1", Port: cport,
				TLSConfig: routeTLS, TLSTimeout: 5}
			o.TLS, o.TLSConfig, o.TLSTimeout = true, clientTLS, 5
			o.Routes = routes
			o.HTTPHost, o.HTTPPort = "127.0.0.1", mport
		},
	}, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	ns.Shutdown()
	return nil
}

// nodeTLS is a server's TLS: on the client port its certificate; on the
// routes, where each server is the other's client, its certificate both
// ways and the peer's verified against the CA (as nats-server's own
// configuration file makes a cluster's tls block).
func nodeTLS(dir, caFile string) (client, route *tls.Config, err error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, tlsca.CertFile), filepath.Join(dir, tlsca.KeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("the server's certificate: %w", err)
	}
	raw, err := os.ReadFile(caFile)
	if err != nil {
		return nil, nil, fmt.Errorf("the CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return nil, nil, fmt.Errorf("the CA %s holds no certificate", caFile)
	}
	client = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	route = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair},
		RootCAs: pool, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	return client, route, nil
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	dir, err := os.MkdirTemp("", "mysimbdp-cluster-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	repo, err := harness.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ca, err := tlsca.Open(filepath.Join(dir, "tls"))
	if err == nil {
		_, err = ca.Ensure(localstack.TLSPartNATS, tlsca.DefaultRenew)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "the cluster's CA:", err)
		return 1
	}
	shared.caFile, shared.natsTLSDir = ca.CAFile(), ca.PartDir(localstack.TLSPartNATS)
	shared.images, err = harness.BuildPlatformApps(ctx, repo, dir, batchApp, streamApp)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ms, s3, err := harness.StartMinIO(ctx, repo, dir, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer ms.Stop(context.Background())
	shared.s3 = s3
	shared.s3Endpoint, shared.s3User, shared.s3Pass = ms.Endpoint(), ms.RootUser(), ms.RootPassword()
	return m.Run()
}
