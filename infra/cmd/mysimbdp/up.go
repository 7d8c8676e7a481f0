package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/local/demo"
	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/infra/natsauth"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

func runUp(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg localstack.Config
	fs.StringVar(&cfg.DataDir, "data", env.DataDir, "data folder; everything the platform stores lives here (env "+contract.EnvDataDir+")")
	fs.StringVar(&cfg.StackFile, "f", "stack.yml", "stack file whose functions are deployed")
	fs.StringVar(&cfg.MinIOBinary, "minio-bin", "", "MinIO server binary (default <stack dir>/bin/minio, built by scripts/setup)")
	fs.StringVar(&cfg.MCBinary, "mc-bin", "", "MinIO client binary, which provisions tenants (default <stack dir>/bin/mc, built by scripts/setup)")
	fs.StringVar(&cfg.GatewayAddr, "gateway-addr", "127.0.0.1:8080", "address of the OpenFaaS gateway API")
	fs.StringVar(&cfg.NATSHost, "nats-host", "127.0.0.1", "NATS listen host")
	fs.IntVar(&cfg.NATSPort, "nats-port", 4222, "NATS client port")
	fs.StringVar(&cfg.MongoAddr, "mongo-addr", "127.0.0.1:27017", "embedded FerretDB listen address")
	fs.StringVar(&cfg.MongoURI, "mongo-uri", env.MongoURI, "use this MongoDB instead of embedded FerretDB (env "+contract.EnvMongoURI+")")
	fs.StringVar(&cfg.MinIOAddr, "minio-addr", "127.0.0.1:9000", "MinIO S3 API address")
	fs.StringVar(&cfg.MinIOConsoleAddr, "minio-console-addr", "127.0.0.1:9001", "MinIO console address")
	fs.IntVar(&cfg.ConnectorMaxAttempts, "max-attempts", 0, "failed deliveries of an event or record before it is dead-lettered (default: the connector's, 10)")
	fs.DurationVar(&cfg.ConnectorBackoff, "retry-backoff", 0, "first back-off before a failed delivery is retried, doubling each time (default: the connector's, 1s)")
	fs.BoolVar(&cfg.TLS, "tls", false, "serve every part over TLS (NATS, MinIO https, FerretDB, the gateway) with certificates of a CA made in <data>/secrets/tls; clients trust it through "+contract.EnvTLSCAFile)
	fs.DurationVar(&cfg.TLSRenewWithin, "tls-renew-within", 0, "with --tls: re-issue at start a certificate that expires within this (default 30 days; `mysimbdp tls rotate` re-issues at any time)")
	withConnector := fs.Bool("connector", true, "run the connector in this process; false to run infra/cmd/connector on its own (as on a cluster)")
	verbose := fs.Bool("v", false, "log every part's details (JSON on stderr)")
	runDemo := fs.Bool("demo", false, "once up, run the platform's main job: every tenant uploads ECDC-shaped files and the summary of what was ingested is printed")
	demoFiles := fs.Int("demo-files", 5, "with --demo: files per tenant")
	demoRows := fs.Int("demo-rows", 60000, "with --demo: rows per file (60000 rows is about 4.3 MB, the seed's file size)")
	demoTimeout := fs.Duration("demo-timeout", demo.DefaultTimeout, "with --demo: how long to wait for every file's outcome")
	demoExit := fs.Bool("demo-exit", false, "with --demo: stop the platform once the demo is over and exit with its result (for scripts)")
	if _, err := parse(fs, args); err != nil {
		return err
	}

	cfg.NoConnector = !*withConnector
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.Progress = func(format string, a ...any) { fmt.Fprintf(stderr, "==> "+format+"\n", a...) }

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	release, err := lockPidFile(pidFile(cfg.DataDir))
	if err != nil {
		return err
	}
	defer release()

	start := time.Now()
	st, err := localstack.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	e := st.Endpoints
	printUp(stdout, time.Since(start), e, st.Creds, cfg.DataDir, st.Tenants)

	var demoErr error
	if *runDemo {
		fmt.Fprintf(stdout, "\n==> demo: %d tenants × %d files × %d rows\n", len(st.Tenants), *demoFiles, *demoRows)
		demoErr = demo.Run(ctx, demo.Config{
			MinIO: e.MinIO, MinIOUser: st.Creds.MinIOUser, MinIOPassword: st.Creds.MinIOPassword,
			MinIOSecure: e.MinIOSecure, CAFile: e.CAFile,
			NATS: e.NATS, MongoURI: e.MongoURI, Tenants: st.Tenants,
			Files: *demoFiles, Rows: *demoRows, Timeout: *demoTimeout,
		}, stdout)
		switch {
		case demoErr != nil:
			fmt.Fprintf(stdout, "\n==> demo FAILED: %v\n", demoErr)
		case *demoExit:
			fmt.Fprintln(stdout, "\n==> demo done")
		default:
			fmt.Fprintln(stdout, "\n==> demo done; the platform keeps running (Ctrl-C stops it)")
		}
		if demoErr != nil && !*demoExit {
			fmt.Fprintln(stdout, "==> the platform keeps running for a look (`mysimbdp status`, `mysimbdp logs NAME`); Ctrl-C stops it")
		}
	}

	var served error
	if !*runDemo || !*demoExit {
		select {
		case <-ctx.Done():
		case served = <-st.Done():
		}
	}
	fmt.Fprintln(stderr, "==> stopping (draining functions, then MinIO, FerretDB, NATS)")
	stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stopErr := st.Stop(stopCtx)
	if served != nil {
		return errors.Join(fmt.Errorf("gateway stopped: %w", served), stopErr, demoErr)
	}
	if stopErr == nil {
		fmt.Fprintln(stderr, "==> stopped")
	}
	// The exit status says whether the demo failed, however the platform ends.
	return errors.Join(stopErr, demoErr)
}

func runDown(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", env.DataDir, "data folder of the running stack (env "+contract.EnvDataDir+")")
	wait := fs.Duration("timeout", 90*time.Second, "how long to wait for it to stop")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	pid, err := stopHolder(ctx, pidFile(*data), *wait)
	if err != nil {
		return err
	}
	if pid == 0 {
		fmt.Fprintf(stdout, "mysimbdp is not running on %s\n", *data)
		return nil
	}
	fmt.Fprintf(stdout, "mysimbdp (pid %d) stopped\n", pid)
	return nil
}

// printUp is the banner of a running stack. The NATS URL is shown without
// the platform user's password, which stays in its 0600 file (and in the
// data folder's endpoints.json, which clients read).
func printUp(w io.Writer, took time.Duration, e localstack.Endpoints, creds localstack.Credentials, dataDir string, tenants []string) {
	fmt.Fprintf(w, `mysimbdp is up (in %s). Ctrl-C or `+"`mysimbdp down`"+` stops it.

  OpenFaaS gateway  %s   (user %s, password in %s)
  dashboard         %s/ui/   (the gateway's user and password)
  NATS JetStream    %s   (user %s, password in %s)
  MongoDB (wire)    %s
  MinIO S3          %s   (user %s, password in %s)
  MinIO console     %s
  data folder       %s
%s
  tenants           %s (each a bucket: drop files into incoming/)

Try: echo hello | ./bin/mysimbdp invoke echo
`, took.Round(100*time.Millisecond), e.Gateway, creds.GatewayUser, filepath.Join(e.GatewaySecret, contract.SecretGatewayPassword), e.Gateway,
		withoutUser(e.NATS), natsauth.PlatformUser, localstack.NATSPasswordFile(dataDir), e.MongoURI,
		e.MinIOURL(), creds.MinIOUser, localstack.MinIOPasswordFile(dataDir), strings.TrimSuffix(e.MinIOURL(), e.MinIO)+e.MinIOConsole, dataDir, tlsLine(e), strings.Join(tenants, ", "))
}

// tlsLine names the CA clients must trust, when the stack serves TLS.
func tlsLine(e localstack.Endpoints) string {
	if e.CAFile == "" {
		return ""
	}
	return fmt.Sprintf("  TLS CA            %s   (export %s=%s)\n", e.CAFile, contract.EnvTLSCAFile, e.CAFile)
}
