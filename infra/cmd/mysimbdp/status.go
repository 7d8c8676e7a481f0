package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// runStatus prints each part of the local platform with up or down and
// why, and fails when any part is down, so that scripts can wait on it.
func runStatus(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", env.DataDir, "data folder of the running stack (env "+contract.EnvDataDir+")")
	asJSON := fs.Bool("json", false, "print the status as JSON (the supervisor's restart counts and last exits included)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long each part may take to answer")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	h := localstack.Check(ctx, *data, *timeout)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(h); err != nil {
			return fmt.Errorf("status: %w", err)
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PART\tSTATE\tDETAIL")
		for _, p := range h.Parts {
			state := "up"
			if !p.Up {
				state = "DOWN"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Part, state, p.Detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if down := h.Down(); len(down) > 0 {
		return fmt.Errorf("%d of %d parts down: %s", len(down), len(h.Parts), strings.Join(down, ", "))
	}
	return nil
}
