// Command connector is mysimbdp's OpenFaaS connector as a standalone
// process, for a real cluster (a Deployment next to the gateway, or a
// faasd service): it delivers MinIO bucket events from NATS JetStream to
// the tenants' batch functions, and batches of the tenants' stream records
// (streams ingest-<tenant>) to their stream functions, through the
// gateway. A tenant's stream delivery is paused and resumed through the
// NATS KV bucket mysimbdp-control (key paused.<tenant>). The local stack
// runs the same code in-process.
//
// Every flag has an environment variable of the same meaning (the flag
// wins when both are set):
//
//	-nats-url          NATS_URL           nats://127.0.0.1:4222
//	-gateway-url       GATEWAY_URL        http://127.0.0.1:8080
//	-secret-mount-path SECRET_MOUNT_PATH  /var/openfaas/secrets (basic-auth-user, basic-auth-password;
//	                                      optional nats-user, nats-password: the platform NATS user)
//	-metrics-addr      METRICS_ADDR       :8081 (/metrics, /healthz)
//	-log-level         LOG_LEVEL          info
//
// It runs until SIGTERM or SIGINT, then lets in-flight invocations finish
// (bounded) and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mysimbdp/mysimbdp/infra/connector"
	"github.com/mysimbdp/mysimbdp/infra/natsauth"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
)

func main() {
	if err := run(os.Args[1:], os.Getenv); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "connector:", err)
		os.Exit(1)
	}
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func run(args []string, getenv func(string) string) error {
	def := connector.DefaultConfig()
	fs := flag.NewFlagSet("connector", flag.ContinueOnError)
	natsURL := fs.String("nats-url", envOr(getenv, "NATS_URL", def.NATSURL), "NATS server URL (env NATS_URL)")
	gatewayURL := fs.String("gateway-url", envOr(getenv, "GATEWAY_URL", "http://127.0.0.1:8080"), "OpenFaaS gateway URL (env GATEWAY_URL)")
	secrets := fs.String("secret-mount-path", envOr(getenv, "SECRET_MOUNT_PATH", "/var/openfaas/secrets"), "folder with basic-auth-user and basic-auth-password (env SECRET_MOUNT_PATH)")
	metricsAddr := fs.String("metrics-addr", envOr(getenv, "METRICS_ADDR", ":8081"), "address serving /metrics and /healthz; empty disables (env METRICS_ADDR)")
	logLevel := fs.String("log-level", envOr(getenv, "LOG_LEVEL", "info"), "debug, info, warn or error (env LOG_LEVEL)")
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
		return err
	}
	cfg.NATSURL = *natsURL
	// NATS credentials, like the gateway's, may come as secret files
	// rather than in the URL.
	if user, err := os.ReadFile(filepath.Join(*secrets, "nats-user")); err == nil {
		pass, err := os.ReadFile(filepath.Join(*secrets, "nats-password"))
		if err != nil {
			return fmt.Errorf("NATS user given in %s but no nats-password: %w", *secrets, err)
		}
		if cfg.NATSURL, err = natsauth.WithUser(cfg.NATSURL, strings.TrimSpace(string(user)), strings.TrimSpace(string(pass))); err != nil {
			return err
		}
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("log level %q: %w", *logLevel, err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	gw, err := gateway.NewFromSecrets(*gatewayURL, *secrets)
	if err != nil {
		return err
	}
	c, err := connector.New(cfg, gw, log)
	if err != nil {
		return err
	}
	reg := c.Registry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	var srv *http.Server
	srvErr := make(chan error, 1)
	if *metricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", c.MetricsHandler())
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("OK")) })
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listener on %s: %w", *metricsAddr, err)
		}
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { srvErr <- srv.Serve(ln) }()
		log.Info("serving metrics", "addr", ln.Addr().String())
	}

	log.Info("connector starting", "nats", natsauth.Redact(cfg.NATSURL), "gateway", gw.URL())
	runErr := c.Run(ctx)
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := <-srvErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server", "err", err)
		}
	}
	return runErr
}
