// Command bench runs mysimbdp's benchmarks, each beside its baseline in the
// same run, and prints the figures and ratios. scripts/bench runs it.
//
//	bench provider   invocation via the provider vs straight to the replica; cold start
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/mysimbdp/mysimbdp/tests/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench provider [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "provider":
		err = runProvider(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown benchmark %q (have: provider)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func runProvider(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("provider", flag.ExitOnError)
	repo := fs.String("repo", ".", "repo folder (with stack.yml)")
	rounds := fs.Int("rounds", 5, "alternating rounds of both paths")
	perRound := fs.Int("n", 2000, "sequential requests per path per round")
	workers := fs.Int("workers", 8, "concurrent clients for throughput")
	cold := fs.Int("cold", 10, "cold starts to time")
	_ = fs.Parse(args)

	dir, err := os.MkdirTemp("", "mysimbdp-bench-provider")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(os.Stderr, "building echo and starting the provider...")
	rig, err := bench.StartProviderRig(ctx, *repo, dir)
	if err != nil {
		return err
	}
	defer rig.Close(context.Background())
	rep, err := bench.RunProvider(ctx, rig, *rounds, *perRound, *workers, *cold)
	if err != nil {
		return err
	}
	rep.Print(os.Stdout)
	return nil
}
