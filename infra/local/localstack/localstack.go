// Package localstack runs the whole mysimbdp platform on one machine: NATS
// with JetStream and FerretDB embedded in this process, the MinIO server as
// a child process, mysimbdp's OpenFaaS provider as the gateway, and the
// functions of a stack file built and deployed through the gateway API the
// way faas-cli does. `mysimbdp up` is a thin wrapper around Start.
//
// Everything the stack stores lives in one data folder, so a restart finds
// its data, credentials and deployed functions again:
//
//	<data>/nats       JetStream storage
//	<data>/ferretdb   FerretDB's SQLite files
//	<data>/minio      MinIO's objects
//	<data>/provider   deployed functions, secrets, replica folders
//	<data>/images     compiled functions (see infra/images)
//	<data>/build      their build contexts
//	<data>/secrets    generated credentials (gateway, MinIO root, NATS
//	                  platform user, tenants' NATS password hashes)
//	<data>/tenants    each tenant's generated credentials and last profile
package localstack

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/openfaas/faas-provider/types"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/build/fnbuild"
	"github.com/mysimbdp/mysimbdp/infra/build/stack"
	"github.com/mysimbdp/mysimbdp/infra/connector"
	"github.com/mysimbdp/mysimbdp/infra/connector/async"
	"github.com/mysimbdp/mysimbdp/infra/local/ferret"
	"github.com/mysimbdp/mysimbdp/infra/local/minioserver"
	"github.com/mysimbdp/mysimbdp/infra/local/natsd"
	"github.com/mysimbdp/mysimbdp/infra/local/supervise"
	"github.com/mysimbdp/mysimbdp/infra/local/tlsca"
	"github.com/mysimbdp/mysimbdp/infra/natsauth"
	"github.com/mysimbdp/mysimbdp/infra/provider"
	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/secret"
	"github.com/mysimbdp/mysimbdp/shared/trust"
)

// Config says where the local stack keeps its data and where it listens.
// Zero ports mean "pick a free one" (tests); the CLI passes the usual ones.
type Config struct {
	DataDir string
	// RepoDir holds stack.yml's template/ and bin/ folders; defaults to the
	// stack file's folder.
	StackFile string
	// MinIOBinary defaults to <stack dir>/bin/minio, where scripts/setup puts it.
	MinIOBinary string
	// TenantsDir holds one profile YAML per tenant to onboard; defaults to
	// <stack dir>/tenants.
	TenantsDir string
	// MCBinary is the MinIO client that provisions tenants' MinIO users
	// and quotas; defaults to <stack dir>/bin/mc, where scripts/setup puts it.
	MCBinary string
	// PlatformAppsFile is the stack file of the platform's generic ingest
	// apps, built (not deployed) so that tenants' functions can run them;
	// defaults to <stack dir>/platform-apps.yml.
	PlatformAppsFile string

	GatewayAddr      string // e.g. 127.0.0.1:8080
	NATSHost         string
	NATSPort         int
	MongoAddr        string // FerretDB's listen address, e.g. 127.0.0.1:27017
	MongoURI         string // a real MongoDB instead of embedded FerretDB
	MinIOAddr        string // e.g. 127.0.0.1:9000
	MinIOConsoleAddr string // e.g. 127.0.0.1:9001

	// ConnectorMaxAttempts and ConnectorBackoff tune how often the
	// connector retries a failing event or record before dead-lettering
	// it, and its first back-off; zero means the connector's defaults.
	ConnectorMaxAttempts int
	ConnectorBackoff     time.Duration
	// NoConnector leaves the connector out (its streams are still
	// created), for running infra/cmd/connector as its own process.
	NoConnector bool

	// TLS serves every part over TLS (NATS's client port, MinIO's https,
	// FerretDB, the gateway) with certificates of a CA made in
	// <data>/secrets/tls (EnsureTLS), and makes every client trust it.
	TLS bool
	// TLSRenewWithin re-issues, at start, a part's certificate that
	// expires within it; zero: tlsca.DefaultRenew.
	TLSRenewWithin time.Duration

	// Progress receives one line per step, for people watching `up`.
	Progress func(format string, args ...any)
}

// Endpoints are where a running stack's parts answer.
// A running stack writes them to <data>/endpoints.json, so that clients
// (the CLI, tests) find a stack started on free ports (address :0).
type Endpoints struct {
	Gateway string `json:"gateway"` // http://host:port
	// NATS is nats://user:password@host:port with the platform user's
	// credentials, which nats.go takes as they are.
	NATS          string `json:"nats"`
	MongoURI      string `json:"mongo_uri"`
	MinIO         string `json:"minio"` // host:port
	MinIOConsole  string `json:"minio_console"`
	GatewaySecret string `json:"gateway_secret_dir"` // folder with basic-auth-user / basic-auth-password
	// CAFile is the CA every part's certificate comes from, when the
	// stack serves TLS (then NATS is tls://, the gateway https://, MinIO
	// secure, the MongoDB URI tls=true); empty: plain TCP.
	CAFile      string `json:"ca_file,omitempty"`
	MinIOSecure bool   `json:"minio_secure,omitempty"`
}

// MinIOURL is MinIO's S3 base URL, https:// when it serves TLS.
func (e Endpoints) MinIOURL() string {
	if e.MinIOSecure {
		return "https://" + e.MinIO
	}
	return "http://" + e.MinIO
}

func endpointsFile(dataDir string) string { return filepath.Join(dataDir, "endpoints.json") }

// ReadEndpoints returns the endpoints of the stack running on dataDir.
func ReadEndpoints(dataDir string) (Endpoints, error) {
	var e Endpoints
	raw, err := os.ReadFile(endpointsFile(dataDir))
	if err != nil {
		return e, fmt.Errorf("no running stack on %s: %w", dataDir, err)
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, fmt.Errorf("read %s: %w", endpointsFile(dataDir), err)
	}
	return e, nil
}

// Stack is a running local platform.
type Stack struct {
	cfg       Config
	log       *slog.Logger
	Endpoints Endpoints
	Creds     Credentials
	// Tenants are the ids of the tenants onboarded from TenantsDir.
	Tenants []string

	nats      *natsd.Server
	natsUsers *natsauth.Service
	natsCtl   *nats.Conn // serves natsUsers
	natsAsync *nats.Conn // the provider's, storing asynchronous invocations
	ferret    *ferret.Server
	minioSup  *supervise.Supervisor // runs the MinIO server
	provider  *provider.Provider
	http      *http.Server
	served    chan error

	connector     *connector.Connector
	stopConnector context.CancelFunc
	closeConsole  func(context.Context)
	connectorDone chan error

	// What status.json says of the parts this process runs (parts.go).
	statusMu      sync.Mutex
	connStatus    *supervise.Status
	statusClosed  bool
	minioRestarts int // the restarts already seen (resync.go)
	// background runs the passes after MinIO's restarts; bgCtx ends them.
	background sync.WaitGroup
	bgCtx      context.Context
	stopBg     context.CancelFunc
}

// Start brings up every part, deploys the stack file's functions and
// returns once they answer. On error, what was started is stopped again.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Stack, err error) {
	if cfg.Progress == nil {
		cfg.Progress = func(string, ...any) {}
	}
	if cfg.DataDir == "" {
		return nil, errors.New("local stack: a data folder is required")
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("local stack: data folder: %w", err)
	}
	cfg.DataDir = dataDir
	// 0700: the data folder holds every secret and every tenant's data;
	// tenant function replicas run as other users and must not enter it.
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("local stack: create data folder: %w", err)
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("local stack: restrict data folder: %w", err)
	}
	stackDir, err := filepath.Abs(filepath.Dir(cfg.StackFile))
	if err != nil {
		return nil, fmt.Errorf("local stack: stack file: %w", err)
	}
	if cfg.MinIOBinary == "" {
		cfg.MinIOBinary = filepath.Join(stackDir, "bin", "minio")
	}
	if cfg.TenantsDir == "" {
		cfg.TenantsDir = filepath.Join(stackDir, "tenants")
	}
	if cfg.MCBinary == "" {
		cfg.MCBinary = filepath.Join(stackDir, "bin", "mc")
	}
	if cfg.PlatformAppsFile == "" {
		cfg.PlatformAppsFile = filepath.Join(stackDir, "platform-apps.yml")
	}
	// Tenants are read before anything starts, so a broken profile stops
	// `up` with its message and nothing half-provisioned.
	tenants, err := loadTenants(cfg.TenantsDir)
	if err != nil {
		return nil, err
	}

	s := &Stack{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = s.Stop(stopCtx)
		}
	}()

	s.Creds, err = LoadOrCreateCredentials(dataDir)
	if err != nil {
		return nil, err
	}
	s.Endpoints.GatewaySecret = GatewaySecretsDir(dataDir)
	var (
		ca          *tlsca.Authority
		natsOptions func(*server.Options)
		gatewayTLS  *tls.Config
	)
	if cfg.TLS {
		var issued []string
		if ca, issued, err = EnsureTLS(dataDir, cfg.TLSRenewWithin); err != nil {
			return nil, err
		}
		if len(issued) > 0 {
			cfg.Progress("TLS: issued certificates for %s (CA %s)", strings.Join(issued, ", "), ca.CAFile())
		}
		s.Endpoints.CAFile = ca.CAFile()
		if natsOptions, err = natsTLS(ca.PartDir(TLSPartNATS)); err != nil {
			return nil, err
		}
		r, err := tlsca.NewReloader(ca.PartDir(TLSPartGateway))
		if err != nil {
			return nil, fmt.Errorf("gateway TLS: %w", err)
		}
		gatewayTLS = r.ServerConfig()
	}
	caFile := s.Endpoints.CAFile

	// The gateway's port is taken first: it is the one a user most likely
	// has in use already, and failing before anything else starts is kinder.
	ln, err := net.Listen("tcp", cfg.GatewayAddr)
	if err != nil {
		return nil, fmt.Errorf("gateway: listen on %s: %w (is another mysimbdp or OpenFaaS running? pick another address with --gateway-addr)", cfg.GatewayAddr, err)
	}
	gatewayScheme := "http://"
	if gatewayTLS != nil {
		ln, gatewayScheme = tls.NewListener(ln, gatewayTLS), "https://"
	}
	defer func() {
		if err != nil && s.http == nil {
			ln.Close()
		}
	}()

	// NATS accepts only the platform user and the tenants' users, whose
	// rights natsauth defines; `mysimbdp tenant` changes the tenants' users
	// at runtime through the user service.
	s.natsUsers, err = natsauth.NewService(natsUsersFile(dataDir), s.Creds.NATSPassword, log.With("part", "nats-users"))
	if err != nil {
		return nil, err
	}
	accounts, users, err := s.natsUsers.Auth()
	if err != nil {
		return nil, err
	}
	natsStore := filepath.Join(dataDir, "nats")
	if err := moveStreamsToPlatformAccount(natsStore, log); err != nil {
		return nil, err
	}
	cfg.Progress("starting NATS with JetStream (data in %s)", natsStore)
	s.nats, err = natsd.Start(ctx, natsd.Config{Host: cfg.NATSHost, Port: cfg.NATSPort, StoreDir: natsStore, Users: users, Accounts: accounts, Options: natsOptions}, log.With("part", "nats"))
	if err != nil {
		return nil, fmt.Errorf("start NATS: %w", err)
	}
	s.natsUsers.SetApply(s.nats.SetAuth)
	s.Endpoints.NATS, err = natsauth.WithUser(s.nats.ClientURL(), natsauth.PlatformUser, s.Creds.NATSPassword)
	if err != nil {
		return nil, err
	}
	s.natsCtl, err = nats.Connect(s.Endpoints.NATS, append(trust.NATS(caFile), nats.Name("mysimbdp nats-users"))...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	if err := s.natsUsers.Serve(s.natsCtl); err != nil {
		return nil, err
	}
	s.Endpoints.Gateway = gatewayScheme + ln.Addr().String()
	gw, err := gateway.New(s.Endpoints.Gateway, s.Creds.GatewayUser, s.Creds.GatewayPassword)
	if err != nil {
		return nil, err
	}
	if err := gw.TrustCA(caFile); err != nil {
		return nil, err
	}
	// The connector's streams must exist before MinIO publishes its first
	// event; the connector itself starts once the functions are deployed.
	connCfg := connector.Config{
		NATSURL:         s.Endpoints.NATS,
		RefreshInterval: 2 * time.Second,
		MaxAttempts:     cfg.ConnectorMaxAttempts,
		BackoffInitial:  cfg.ConnectorBackoff,
		CAFile:          caFile,
	}
	s.connector, err = connector.New(connCfg, gw, log.With("part", "connector"))
	if err != nil {
		return nil, fmt.Errorf("connector: %w", err)
	}
	if err := s.ensureStreams(ctx); err != nil {
		return nil, err
	}

	if cfg.MongoURI != "" {
		cfg.Progress("using MongoDB at the given URI")
		s.Endpoints.MongoURI = cfg.MongoURI
	} else {
		cfg.Progress("starting FerretDB on SQLite (data in %s)", filepath.Join(dataDir, "ferretdb"))
		fcfg := ferret.Config{Listen: cfg.MongoAddr, DataDir: filepath.Join(dataDir, "ferretdb")}
		if ca != nil {
			dir := ca.PartDir(TLSPartMongo)
			fcfg.TLSCertFile, fcfg.TLSKeyFile, fcfg.CAFile = filepath.Join(dir, tlsca.CertFile), filepath.Join(dir, tlsca.KeyFile), caFile
		}
		s.ferret, err = ferret.Start(ctx, fcfg, log.With("part", "ferretdb"))
		if err != nil {
			return nil, fmt.Errorf("start FerretDB: %w", err)
		}
		s.Endpoints.MongoURI = s.ferret.URI()
	}

	cfg.Progress("starting MinIO server %s (data in %s)", cfg.MinIOBinary, filepath.Join(dataDir, "minio"))
	notifyEnv, err := minioNotifyEnv(s.nats.ClientURL(), s.Creds.NATSPassword, filepath.Join(dataDir, "minio-events"), caFile)
	if err != nil {
		return nil, err
	}
	mcfg := minioserver.Config{
		Binary:         cfg.MinIOBinary,
		DataDir:        filepath.Join(dataDir, "minio"),
		Address:        cfg.MinIOAddr,
		ConsoleAddress: cfg.MinIOConsoleAddr,
		RootUser:       s.Creds.MinIOUser,
		RootPassword:   s.Creds.MinIOPassword,
		Env:            notifyEnv,
	}
	if ca != nil {
		mcfg.CertsDir, mcfg.CAFile = ca.PartDir(TLSPartMinIO), caFile
		s.Endpoints.MinIOSecure = true
	}
	err = s.startMinIO(ctx, mcfg)
	if err != nil {
		return nil, fmt.Errorf("start MinIO: %w", err)
	}

	// The connector that runs has MinIO's address, known only now, and a
	// user of its own that may only list: its sweep announces any object
	// left in incoming/ with no event (the one above only made streams).
	if err := s.ensureConnectorS3User(ctx); err != nil {
		return nil, err
	}
	connCfg.S3Endpoint, connCfg.S3AccessKey, connCfg.S3SecretKey = s.Endpoints.MinIO, contract.ConnectorS3User, s.Creds.ConnectorS3Password
	connCfg.S3Secure = s.Endpoints.MinIOSecure
	// The connector signs every invocation; tenants' functions, given
	// their derived keys, refuse any it did not sign.
	connCfg.InvokeMasterKey = s.Creds.InvokeMasterKey
	s.connector, err = connector.New(connCfg, gw, log.With("part", "connector"))
	if err != nil {
		return nil, fmt.Errorf("connector: %w", err)
	}

	// The gateway stores /async-function/ calls in the connector's
	// stream. No reconnect buffer: a call published while NATS is away
	// must fail (503) rather than be stored after the client gave up.
	s.natsAsync, err = nats.Connect(s.Endpoints.NATS, append(trust.NATS(caFile), nats.Name("mysimbdp provider"),
		nats.MaxReconnects(-1), nats.ReconnectBufSize(-1))...)
	if err != nil {
		return nil, fmt.Errorf("connect the provider to NATS: %w", err)
	}
	ajs, err := jetstream.New(s.natsAsync)
	if err != nil {
		return nil, fmt.Errorf("JetStream client for the provider: %w", err)
	}
	ui, err := s.startConsole(gw)
	if err != nil {
		return nil, err
	}
	cfg.Progress("starting the OpenFaaS provider on %s (dashboard at /ui/)", ln.Addr())
	s.provider, err = provider.New(ctx, provider.Config{
		Console:         ui,
		DataDir:         filepath.Join(dataDir, "provider"),
		ImagesDir:       filepath.Join(dataDir, "images"),
		SecretMountPath: GatewaySecretsDir(dataDir),
		Async:           async.NewPublisher(ajs, s.connector.Config().AsyncStream),
	}, log.With("part", "provider"))
	if err != nil {
		return nil, fmt.Errorf("start provider: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", s.provider.Handler())
	mux.Handle("/connector/metrics", s.connector.MetricsHandler())
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.served = make(chan error, 1)
	go func() { s.served <- s.http.Serve(ln) }()

	// Platform functions that call the gateway (the scaler) read its
	// credentials from these secrets, as OpenFaaS components do.
	for name, v := range map[string]string{contract.SecretGatewayUser: s.Creds.GatewayUser, contract.SecretGatewayPassword: s.Creds.GatewayPassword} {
		if err := gw.SetSecret(ctx, types.Secret{Name: name, Value: v}); err != nil {
			return nil, fmt.Errorf("store the gateway credentials as secret %s: %w", name, err)
		}
	}
	// The platform's functions (stats, scaler) read the MongoDB and NATS
	// URLs, which carry passwords, from a secret rather than from
	// environment variables, which the gateway's API shows.
	platformEnv := map[string]string{contract.EnvMongoURI: s.Endpoints.MongoURI, contract.EnvNATSURL: s.Endpoints.NATS}
	if ca == nil {
		// Started with --tls before: the functions are not to be given a
		// CA the parts no longer serve (Deploy gives it while it exists).
		if err := gw.DeleteSecret(ctx, contract.TLSCASecret, ""); err != nil {
			return nil, fmt.Errorf("remove secret %s: %w", contract.TLSCASecret, err)
		}
	} else {
		// Every function is given the CA as a secret (Deploy), named here.
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read the CA: %w", err)
		}
		if err := gw.SetSecret(ctx, types.Secret{Name: contract.TLSCASecret, Value: string(pem)}); err != nil {
			return nil, fmt.Errorf("store the CA as secret %s: %w", contract.TLSCASecret, err)
		}
		platformEnv[contract.EnvTLSCAFile] = contract.TLSCASecret
	}
	platformCreds, err := secret.FormatEnv(platformEnv)
	if err != nil {
		return nil, fmt.Errorf("platform credentials secret: %w", err)
	}
	if err := gw.SetSecret(ctx, types.Secret{Name: contract.PlatformCredentialsSecret, RawValue: platformCreds}); err != nil {
		return nil, fmt.Errorf("store the platform credentials as secret %s: %w", contract.PlatformCredentialsSecret, err)
	}
	if err := s.buildPlatformApps(ctx); err != nil {
		return nil, err
	}
	if err := s.applyTenants(ctx, gw, tenants); err != nil {
		return nil, err
	}
	for _, t := range tenants {
		s.Tenants = append(s.Tenants, t.Profile.Tenant)
	}
	st, err := stack.LoadWith(cfg.StackFile, s.lookup)
	if err != nil {
		return nil, err
	}
	if err := s.deployStack(ctx, gw, st); err != nil {
		return nil, err
	}
	if !cfg.NoConnector {
		cfg.Progress("starting the connector (S3 events and stream records -> tenants' functions)")
		runCtx, stop := context.WithCancel(context.Background())
		s.stopConnector, s.connectorDone = stop, make(chan error, 1)
		go func() { s.connectorDone <- s.runConnector(runCtx) }()
	}
	raw, err := json.MarshalIndent(s.Endpoints, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode endpoints: %w", err)
	}
	// 0600: the NATS URL carries the platform user's password.
	if err := os.WriteFile(endpointsFile(dataDir), raw, 0o600); err != nil {
		return nil, fmt.Errorf("write endpoints: %w", err)
	}
	s.writeStatus()
	return s, nil
}

// ensureStreams creates the connector's JetStream streams if missing.
func (s *Stack) ensureStreams(ctx context.Context) error {
	nc, err := nats.Connect(s.Endpoints.NATS, trust.NATS(s.Endpoints.CAFile)...)
	if err != nil {
		return fmt.Errorf("connect to NATS %s: %w", secret.RedactURLs(s.Endpoints.NATS), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	if err := s.connector.EnsureStreams(ctx, js); err != nil {
		return fmt.Errorf("create event streams: %w", err)
	}
	return nil
}

// lookup resolves stack.yml's variables: the local stack's own endpoints
// first, then the process environment. Credentials are not among them:
// functions read theirs from secrets (contract.EnvCredentialsSecret).
func (s *Stack) lookup(name string) (string, bool) {
	v, ok := map[string]string{
		contract.EnvS3Endpoint: s.Endpoints.MinIO,
		contract.EnvGatewayURL: s.Endpoints.Gateway,
	}[name]
	if ok {
		return v, true
	}
	return os.LookupEnv(name)
}

// deployStack builds every function of the stack and deploys it through
// the gateway API, as `faas-cli up` would.
func (s *Stack) deployStack(ctx context.Context, gw *gateway.Client, st *stack.Stack) error {
	// Build contexts go to the data folder rather than the repo's build/, so
	// that stacks on different data folders never share one.
	b := &fnbuild.Builder{Stack: st, ImagesDir: filepath.Join(s.cfg.DataDir, "images"), BuildDir: filepath.Join(s.cfg.DataDir, "build")}
	return Deploy(ctx, b, gw, s.Creds.InvokeMasterKey, s.cfg.Progress)
}

// Deploy builds (unless skip_build) and deploys every function of the
// builder's stack through gw. It is `mysimbdp deploy` and the last step of
// `mysimbdp up`. A tenant's own app (a function with a tenant label) whose
// secrets are missing is skipped: its tenant is not onboarded, and the
// function could not read its credentials. With the platform's
// invocation master key, every function that a tenant runs (tenant label)
// or that the connector invokes (a topic annotation: the platform's stats
// and scaler, a tenant's app) gets its own invocation key
// (tenant.WithInvokeKey), so that it answers only signed invocations: the
// connector signs every call it makes. A function with neither (echo) is
// left open.
func Deploy(ctx context.Context, b *fnbuild.Builder, gw *gateway.Client, invokeMasterKey string, progress func(string, ...any)) error {
	secrets, err := gw.Secrets(ctx, "")
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	built := map[string]bool{} // functions sharing an image are built once
	for _, name := range b.Stack.Names() {
		fn := b.Stack.Functions[name]
		if tenant := fn.Labels[contract.LabelTenant]; tenant != "" {
			if i := slices.IndexFunc(fn.Secrets, func(s string) bool { return !slices.Contains(secrets, s) }); i >= 0 {
				progress("skipping %s: secret %s does not exist (onboard tenant %s with `mysimbdp tenant apply` first)", name, fn.Secrets[i], tenant)
				continue
			}
		}
		if !fn.SkipBuild && !built[fn.Image] {
			built[fn.Image] = true
			progress("building function %s (%s)", name, fn.Image)
			start := time.Now()
			if _, err := b.Build(ctx, name); err != nil {
				return fmt.Errorf("build: %w", err)
			}
			progress("built %s in %s", name, time.Since(start).Round(100*time.Millisecond))
		}
		d, err := b.Stack.Deployment(name)
		if err != nil {
			return err
		}
		if slices.Contains(secrets, contract.TLSCASecret) && !slices.Contains(d.Secrets, contract.TLSCASecret) {
			// The platform serves TLS with a CA of its own: every
			// function trusts it (shared/trust), given as a secret.
			d.Secrets = append(d.Secrets, contract.TLSCASecret)
			if d.EnvVars == nil {
				d.EnvVars = map[string]string{}
			}
			d.EnvVars[contract.EnvTLSCAFile] = contract.TLSCASecret
		}
		if signedOnly(fn) {
			if err := tenant.WithInvokeKey(ctx, gw, invokeMasterKey, &d); err != nil {
				return fmt.Errorf("deploy: %w", err)
			}
		}
		progress("deploying %s to %s", name, gw.URL())
		if err := gw.Deploy(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// signedOnly says whether fn is to answer only signed invocations: a
// tenant's function, or one the connector invokes (its topics).
func signedOnly(fn stack.Function) bool {
	return fn.Labels[contract.LabelTenant] != "" || strings.TrimSpace(fn.Annotations[contract.AnnotationTopic]) != ""
}

// Stop stops every part in the reverse order of Start. It is safe on a
// partly started stack.
func (s *Stack) Stop(ctx context.Context) error {
	var errs []error
	if s.cfg.DataDir != "" {
		_ = os.Remove(endpointsFile(s.cfg.DataDir))
	}
	s.closeStatus()
	if s.minioSup != nil {
		// The functions still read objects while they drain, but a MinIO
		// that dies now is not started again.
		s.minioSup.Hold()
	}
	if s.stopConnector != nil {
		s.stopConnector()
		select {
		case err := <-s.connectorDone:
			if err != nil {
				errs = append(errs, fmt.Errorf("stop connector: %w", err))
			}
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("stop connector: %w", ctx.Err()))
		}
	}
	if s.http != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop gateway: %w", err))
		}
	}
	if s.closeConsole != nil {
		s.closeConsole(ctx)
	}
	if s.provider != nil {
		if err := s.provider.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop functions: %w", err))
		}
	}
	if s.stopBg != nil {
		s.stopBg()
		s.background.Wait()
	}
	if s.minioSup != nil {
		if err := s.minioSup.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop MinIO: %w", err))
		}
	}
	if s.ferret != nil {
		s.ferret.Stop()
	}
	if s.natsAsync != nil {
		s.natsAsync.Close()
	}
	if s.natsCtl != nil {
		s.natsCtl.Close()
	}
	if s.nats != nil {
		s.nats.Shutdown()
	}
	return errors.Join(errs...)
}

// Done is closed with the gateway's error if it stops serving on its own.
func (s *Stack) Done() <-chan error { return s.served }
