package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/connector/control"
	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/trust"
)

func runPause(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	return pauseOrResume(ctx, env, "pause", args, stdout, stderr)
}

func runResume(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	return pauseOrResume(ctx, env, "resume", args, stdout, stderr)
}

// pauseOrResume flips a tenant's stream delivery: while paused the
// connector pulls nothing for the tenant's stream functions and records stay
// queued in its JetStream stream; resume picks up where delivery stopped.
func pauseOrResume(ctx context.Context, env contract.Env, verb string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", env.NATSURL, "NATS URL (env "+contract.EnvNATSURL+"); default: the local stack's, else "+contract.DefaultNATSURL)
	data := fs.String("data", env.DataDir, "local stack data folder (env "+contract.EnvDataDir+")")
	pos, err := parse(fs, args, "TENANT")
	if err != nil {
		return err
	}
	if *natsURL == "" {
		*natsURL = contract.DefaultNATSURL
		if e, err := localstack.ReadEndpoints(*data); err == nil {
			*natsURL = e.NATS
		}
	}
	nc, err := nats.Connect(*natsURL, trust.NATS(cmp.Or(env.CAFile(), localCA(*data)))...)
	if err != nil {
		return fmt.Errorf("%s: connect to NATS %s: %w", verb, *natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("%s: JetStream: %w", verb, err)
	}
	tenant := pos[0]
	if verb == "pause" {
		err = control.Pause(ctx, js, tenant)
	} else {
		err = control.Resume(ctx, js, tenant)
	}
	if err != nil {
		return err
	}
	state := "paused: records stay queued until `mysimbdp resume " + tenant + "`"
	if verb == "resume" {
		state = "resumed: delivery picks up where it stopped"
	}
	fmt.Fprintf(stdout, "tenant %s stream ingestion %s\n", tenant, state)
	return nil
}
