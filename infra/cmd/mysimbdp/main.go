// Command mysimbdp runs and operates the mysimbdp platform.
//
//	mysimbdp up                      run the whole platform on this machine
//	mysimbdp down                    stop a running `up`
//	mysimbdp status                  each part of a running `up`: up or down, and why
//	mysimbdp deploy -f stack.yml     build and deploy functions (faas-cli up)
//	mysimbdp list                    list functions with their replicas
//	mysimbdp invoke NAME             call a function with stdin as the body
//	mysimbdp scale NAME N            set a function's replicas
//	mysimbdp logs NAME               print a function's logs
//	mysimbdp pause TENANT            stop delivering a tenant's stream records
//	mysimbdp resume TENANT           deliver them again from where it stopped
//	mysimbdp tenant apply -f P.yaml  provision a tenant (or update it)
//	mysimbdp tenant remove TENANT    tear a tenant down (--keep-data)
//	mysimbdp tenant list             every tenant with its state
//	mysimbdp deadletter list|show|replay|purge   what the connector gave up on
//	mysimbdp ferretdb                run only the embedded FerretDB
//
// The client commands talk to any OpenFaaS-compatible gateway: --gateway
// (or OPENFAAS_URL, with OPENFAAS_USERNAME and OPENFAAS_PASSWORD) and credentials from --username/--password, or from the
// local stack's data folder.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// command is one subcommand: it parses its own flags from args.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"up", "run the whole platform on this machine", runUp},
		{"down", "stop a running `mysimbdp up`", runDown},
		{"status", "each part of the running platform: up or down, and why", runStatus},
		{"deploy", "build and deploy the functions of a stack file", runDeploy},
		{"list", "list functions with their replicas", runList},
		{"invoke", "invoke a function with standard input as the body", runInvoke},
		{"scale", "set a function's replicas", runScale},
		{"logs", "print a function's logs", runLogs},
		{"pause", "pause a tenant's stream ingestion (records stay queued)", runPause},
		{"resume", "resume a tenant's stream ingestion", runResume},
		{"tenant", "apply, remove or list tenants", runTenant},
		{"deadletter", "list, show, replay or purge dead letters", runDeadLetter},
		{"ferretdb", "run only the embedded FerretDB (a store on its own cores)", runFerretDB},
		{"tls", "rotate the local platform's TLS certificates (tls rotate)", runTLS},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mysimbdp:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			// The environment gives the flags their defaults; a value that
			// cannot be read is an error rather than a silent default.
			env, err := contract.FromEnv(os.Getenv)
			if err != nil {
				return fmt.Errorf("environment: %w", err)
			}
			env.Warn(slog.New(slog.NewTextHandler(stderr, nil)))
			return c.run(ctx, env, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: mysimbdp COMMAND [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun `mysimbdp COMMAND -h` for a command's flags.")
}
