// Command connector is mysimbdp's OpenFaaS connector as a standalone
// process, for a real cluster (a Deployment next to the gateway, or a
// faasd service): it delivers MinIO bucket events from NATS JetStream to
// the tenants' batch functions, and batches of the tenants' stream records
// (streams ingest-<tenant>) to their stream functions, through the
// gateway. A tenant's stream delivery is paused and resumed through the
// NATS KV bucket mysimbdp-control (key paused.<tenant>). The local stack
// runs the same code in-process.
//
// The environment is read through contract.FromEnv, so every part reads
// it alike; the old names (NATS_URL, GATEWAY_URL, SECRET_MOUNT_PATH,
// METRICS_ADDR, LOG_LEVEL) still work, with a deprecation warning. Six
// flags have an environment variable of the same meaning (the flag wins
// when both are set):
//
//	-nats-url          MYSIMBDP_NATS_URL      nats://127.0.0.1:4222
//	-gateway-url       OPENFAAS_URL           http://127.0.0.1:8080
//	-secret-mount-path MYSIMBDP_SECRETS_DIR   /var/openfaas/secrets (basic-auth-user, basic-auth-password;
//	                                          optional nats-user, nats-password: the platform NATS user;
//	                                          optional mysimbdp-invoke-master-key: signs every invocation)
//	-metrics-addr      MYSIMBDP_METRICS_ADDR  :8081 (/metrics, /healthz, /readyz)
//	-log-level         MYSIMBDP_LOG_LEVEL     info
//	-console-addr      MYSIMBDP_CONSOLE_ADDR  (empty: no dashboard) /ui/
//
// The gateway's credentials are OPENFAAS_USERNAME and OPENFAAS_PASSWORD
// when set, else the secret files; the NATS user is MYSIMBDP_NATS_USER and
// MYSIMBDP_NATS_PASSWORD when set, else the secret files.
// The invocation master key, with which the connector signs every
// invocation (see shared/invokesig), is MYSIMBDP_INVOKE_MASTER_KEY when
// set, else the secret file mysimbdp-invoke-master-key; without it no
// invocation is signed, and functions given their keys refuse them.
// MYSIMBDP_JS_REPLICAS (default 1) is how many NATS servers keep each
// stream and KV bucket the connector creates: 3 on a three-server cluster.
//
// The sweep, the backstop for an upload whose MinIO notification was lost,
// lists the tenants' buckets with the connector's own MinIO credentials
// (listing rights suffice): MYSIMBDP_S3_ENDPOINT, MYSIMBDP_S3_ACCESS_KEY,
// MYSIMBDP_S3_SECRET_KEY, MYSIMBDP_S3_SECURE; without an endpoint there is
// no sweep. MYSIMBDP_SWEEP_INTERVAL (default 1m) is how often it runs,
// MYSIMBDP_SWEEP_AGE (default 10m) how old an object with no pending event
// must be to be announced again.
//
// The operator's dashboard (infra/console) and the per-tenant gauges,
// which on the local platform the gateway serves, are the connector's on a
// cluster: with -console-addr (MYSIMBDP_CONSOLE_ADDR, default empty: off)
// it serves /ui/ there, behind the gateway's credentials (the ones it
// invokes with), and adds the gauges to /metrics. The console reads the
// platform's MongoDB, MYSIMBDP_MONGO_URI (required with the console), and
// database MYSIMBDP_PLATFORM_DB (default mysimbdp).
//
// /healthz answers 200 while the process serves; /readyz answers 200 only
// while NATS is connected with JetStream answering and the gateway accepts
// the connector's credentials, else 503 saying which is not (a Kubernetes
// readiness probe).
//
// It runs until SIGTERM or SIGINT, then lets in-flight invocations finish
// (bounded) and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/auth"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mysimbdp/mysimbdp/infra/connector"
	"github.com/mysimbdp/mysimbdp/infra/console"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/secret"
	"github.com/mysimbdp/mysimbdp/shared/trust"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "connector:", err)
		os.Exit(1)
	}
}

// settings are the flags and the environment as run reads them.
type settings struct {
	env                                                     contract.Env
	cfg                                                     connector.Config
	gatewayURL, secrets, metricsAddr, consoleAddr, logLevel string
}

// parse reads the environment through contract.FromEnv, then the flags,
// which win over it.
func parse(args []string, getenv func(string) string) (settings, error) {
	env, err := contract.FromEnv(getenv)
	if err != nil {
		return settings{}, err
	}
	def := connector.DefaultConfig()
	if env.NATSURL == "" {
		env.NATSURL = def.NATSURL
	}
	fs := flag.NewFlagSet("connector", flag.ContinueOnError)
	natsURL := fs.String("nats-url", env.NATSURL, "NATS server URL (env "+contract.EnvNATSURL+")")
	gatewayURL := fs.String("gateway-url", env.GatewayURL, "OpenFaaS gateway URL (env "+contract.EnvGatewayURL+")")
	secrets := fs.String("secret-mount-path", env.SecretsDir, "folder with "+contract.SecretGatewayUser+" and "+contract.SecretGatewayPassword+" (env "+contract.EnvSecretsDir+")")
	metricsAddr := fs.String("metrics-addr", env.MetricsAddr, "address serving /metrics and /healthz; empty disables (env "+contract.EnvMetricsAddr+")")
	logLevel := fs.String("log-level", env.LogLevel, "debug, info, warn or error (env "+contract.EnvLogLevel+")")
	consoleAddr := fs.String("console-addr", env.ConsoleAddr, "address serving the operator's dashboard at /ui/; empty disables (env "+contract.EnvConsoleAddr+")")
	cfg := def
	fs.StringVar(&cfg.Stream, "stream", def.Stream, "JetStream stream of S3 events")
	fs.StringVar(&cfg.Subject, "subject", def.Subject, "subject MinIO publishes S3 events to")
	fs.StringVar(&cfg.Durable, "durable", def.Durable, "durable consumer name (replicas share it)")
	fs.StringVar(&cfg.DeadLetterStream, "dead-letter-stream", def.DeadLetterStream, "dead-letter stream")
	fs.StringVar(&cfg.DeadLetterSubjectPrefix, "dead-letter-prefix", def.DeadLetterSubjectPrefix, "dead-letter subject prefix (.<tenant> is appended)")
	fs.BoolVar(&cfg.SkipEnsureStreams, "skip-ensure-streams", false, "do not create missing streams")
	fs.IntVar(&cfg.MaxAttempts, "max-attempts", def.MaxAttempts, "failed attempts before an event is dead-lettered (429/503 deferrals do not count)")
	fs.DurationVar(&cfg.BackoffInitial, "backoff-initial", def.BackoffInitial, "first retry delay")
	fs.DurationVar(&cfg.BackoffMax, "backoff-max", def.BackoffMax, "longest retry delay")
	fs.DurationVar(&cfg.AckWait, "ack-wait", def.AckWait, "JetStream ack wait (extended while an invocation runs)")
	fs.DurationVar(&cfg.RefreshInterval, "refresh-interval", def.RefreshInterval, "how often the function list is re-read")
	fs.DurationVar(&cfg.InvokeTimeout, "invoke-timeout", def.InvokeTimeout, "longest invocation")
	fs.IntVar(&cfg.MaxConcurrent, "max-concurrent", def.MaxConcurrent, "events handled at once")
	fs.IntVar(&cfg.MaxAckPending, "max-ack-pending", def.MaxAckPending, "events outstanding without an outcome")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", def.ShutdownTimeout, "how long a stop waits for in-flight invocations")
	fs.DurationVar(&cfg.FetchWait, "fetch-wait", def.FetchWait, "how long one pull waits for a first event or record")
	fs.IntVar(&cfg.StreamMaxAckPending, "stream-max-ack-pending", def.StreamMaxAckPending, "stream records outstanding without an outcome, per function")
	fs.IntVar(&cfg.StreamMaxBatchBytes, "stream-max-batch-bytes", def.StreamMaxBatchBytes, "record bytes in one stream batch")
	fs.IntVar(&cfg.StreamMaxConcurrent, "stream-max-concurrent", def.StreamMaxConcurrent, "stream batches in flight per function, whatever its replicas")
	if err := fs.Parse(args); err != nil {
		return settings{}, err
	}
	cfg.NATSURL = *natsURL
	cfg.JSReplicas = env.JSReplicas
	// NATS credentials, like the gateway's, may come from the environment
	// or as secret files rather than in the URL.
	cfg.NATSUser, cfg.NATSPassword = env.NATSUser, env.NATSPassword
	if user, err := os.ReadFile(filepath.Join(*secrets, "nats-user")); err == nil && cfg.NATSUser == "" {
		pass, err := os.ReadFile(filepath.Join(*secrets, "nats-password"))
		if err != nil {
			return settings{}, fmt.Errorf("NATS user given in %s but no nats-password: %w", *secrets, err)
		}
		cfg.NATSUser, cfg.NATSPassword = strings.TrimSpace(string(user)), strings.TrimSpace(string(pass))
	}
	// The sweep lists the buckets with the connector's own MinIO
	// credentials; without an endpoint there is no sweep.
	cfg.S3Endpoint, cfg.S3AccessKey, cfg.S3SecretKey, cfg.S3Secure = env.S3Endpoint, env.S3AccessKey, env.S3SecretKey, env.S3Secure
	cfg.CAFile = env.CAFile()
	cfg.SweepInterval, cfg.SweepAge = env.SweepInterval, env.SweepAge
	// The invocation master key signs every invocation (functions given
	// their key refuse unsigned ones); without it nothing is signed.
	switch key, _, err := secret.Read(*secrets, contract.InvokeMasterKeySecret); {
	case env.InvokeMasterKey != "":
		cfg.InvokeMasterKey = env.InvokeMasterKey
	case err == nil:
		cfg.InvokeMasterKey = strings.TrimSpace(string(key))
	case !errors.Is(err, iofs.ErrNotExist):
		return settings{}, fmt.Errorf("invocation master key: %w", err)
	}
	if *consoleAddr != "" && env.MongoURI == "" {
		return settings{}, fmt.Errorf("the dashboard (%s) reads the platform's MongoDB: %s is required", contract.EnvConsoleAddr, contract.EnvMongoURI)
	}
	return settings{env: env, cfg: cfg, gatewayURL: *gatewayURL, secrets: *secrets, metricsAddr: *metricsAddr, consoleAddr: *consoleAddr, logLevel: *logLevel}, nil
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	st, err := parse(args, getenv)
	if err != nil {
		return err
	}
	cfg := st.cfg
	var level slog.Level
	if err := level.UnmarshalText([]byte(st.logLevel)); err != nil {
		return fmt.Errorf("log level %q: %w", st.logLevel, err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	st.env.Warn(log)

	// The gateway's credentials: the connector invokes and lists with
	// them, and the dashboard asks them of its users.
	creds := &auth.BasicAuthCredentials{User: st.env.GatewayUser, Password: st.env.GatewayPassword}
	if creds.User == "" {
		if creds, err = (&auth.ReadBasicAuthFromDisk{SecretMountPath: st.secrets}).Read(); err != nil {
			return fmt.Errorf("read the gateway's credentials: %w", err)
		}
	}
	gw, err := gateway.New(st.gatewayURL, creds.User, creds.Password)
	if err != nil {
		return err
	}
	if err := gw.TrustCA(cfg.CAFile); err != nil {
		return err
	}
	c, err := connector.New(cfg, gw, log)
	if err != nil {
		return err
	}
	reg := c.Registry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Each listener stops (deferred) before what it serves is closed.
	if st.consoleAddr != "" {
		site, err := console.Open(console.Config{Gateway: gw, NATSURL: cfg.NATSURL, NATSUser: cfg.NATSUser, NATSPassword: cfg.NATSPassword, CAFile: cfg.CAFile,
			MongoURI: st.env.MongoURI, PlatformDB: st.env.PlatformDB, Auth: creds, Metrics: reg, Log: log.With("part", "console")})
		if err != nil {
			return err
		}
		defer site.Close(context.Background())
		mux := http.NewServeMux()
		mux.Handle(console.Prefix, site)
		mux.Handle("GET /{$}", http.RedirectHandler(console.Prefix, http.StatusFound))
		s, err := serve("dashboard", st.consoleAddr, mux, log)
		if err != nil {
			return err
		}
		defer s.stop(log)
	}
	if st.metricsAddr != "" {
		ready, err := newReadiness(cfg, gw)
		if err != nil {
			return err
		}
		defer ready.close()
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", c.MetricsHandler())
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("OK")) })
		mux.Handle("GET /readyz", ready)
		s, err := serve("metrics", st.metricsAddr, mux, log)
		if err != nil {
			return err
		}
		defer s.stop(log)
	}

	log.Info("connector starting", "nats", secret.RedactURLs(cfg.NATSURL), "gateway", gw.URL(), "signs_invocations", cfg.InvokeMasterKey != "")
	return c.Run(ctx)
}

// listener is one of the connector's HTTP listeners.
type listener struct {
	what string
	srv  *http.Server
	done chan error
}

func serve(what, addr string, h http.Handler, log *slog.Logger) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener on %s: %w", what, addr, err)
	}
	s := &listener{what: what, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(ln) }()
	log.Info("serving "+what, "addr", ln.Addr().String())
	return s, nil
}

// stop lets the requests being answered finish (bounded).
func (s *listener) stop(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	if err := <-s.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn(s.what+" server", "err", err)
	}
}

// readiness answers /readyz. It holds a NATS connection of its own (the
// connector's is inside its flows) with the same server and user, kept
// reconnecting, so a probe costs a JetStream account lookup and one
// authenticated gateway request, never a new connection.
type readiness struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	gw      *gateway.Client
	timeout time.Duration
}

func newReadiness(cfg connector.Config, gw *gateway.Client) (*readiness, error) {
	opts := []nats.Option{nats.Name("mysimbdp-connector-readiness"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true)}
	if cfg.NATSUser != "" {
		opts = append(opts, nats.UserInfo(cfg.NATSUser, cfg.NATSPassword))
	}
	opts = append(opts, trust.NATS(cfg.CAFile)...)
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("readiness: connect to NATS %s: %w", secret.RedactURLs(cfg.NATSURL), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("readiness: JetStream client: %w", err)
	}
	return &readiness{nc: nc, js: js, gw: gw, timeout: 3 * time.Second}, nil
}

func (r *readiness) close() { r.nc.Close() }

func (r *readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), r.timeout)
	defer cancel()
	var problems []string
	if !r.nc.IsConnected() {
		problems = append(problems, "NATS: not connected ("+r.nc.Status().String()+")")
	} else if _, err := r.js.AccountInfo(ctx); err != nil {
		// Connected, but JetStream (a cluster without a meta leader, or an
		// account without JetStream) does not answer.
		problems = append(problems, "NATS JetStream: "+err.Error())
	}
	if _, err := r.gw.Info(ctx); err != nil {
		problems = append(problems, "gateway: "+err.Error())
	}
	if len(problems) > 0 {
		http.Error(w, strings.Join(problems, "\n"), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("OK"))
}
