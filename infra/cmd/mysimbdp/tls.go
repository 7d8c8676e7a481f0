package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// runTLS is `mysimbdp tls rotate`: every part's certificate is issued
// again by the data folder's CA. A running `mysimbdp up --tls` keeps
// running: NATS and the gateway serve the new certificates from the next
// handshake on, MinIO reloads its certs folder; FerretDB takes its new
// one at its next start.
func runTLS(_ context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprintln(stderr, "usage: mysimbdp tls rotate [--data DIR] [--validity 2160h]")
		return fmt.Errorf("tls: want subcommand rotate")
	}
	fs := flag.NewFlagSet("tls rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", env.DataDir, "data folder of the platform (env "+contract.EnvDataDir+")")
	validity := fs.Duration("validity", 0, "how long the new certificates last (default 90 days)")
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	certs, err := localstack.RotateTLS(*data, *validity)
	if err != nil {
		return err
	}
	parts := make([]string, 0, len(certs))
	for p := range certs {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	for _, p := range parts {
		c := certs[p]
		fmt.Fprintf(stdout, "%-9s serial %x, valid until %s\n", p, c.SerialNumber, c.NotAfter.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(stdout, "CA %s unchanged: clients keep trusting it\n", localstack.CAFile(*data))
	return nil
}
