package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/mysimbdp/mysimbdp/tests/bench"
)

// runScale measures how replicas follow a step in load, with the scaler
// firing and without it, on one platform.
func runScale(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("scale", flag.ExitOnError)
	repo := fs.String("repo", ".", "repo folder (with stack.yml)")
	rate := fs.Float64("rate", 1500, "offered load after the step, records/s")
	duration := fs.Duration("duration", 20*time.Second, "length of the step")
	maxReplicas := fs.Int("max", 4, "com.openfaas.scale.max of the stream function")
	target := fs.Int("target", 200, "com.mysimbdp.scale.target (backlog per replica)")
	batch := fs.Int("batch", 20, "com.mysimbdp.batch-size of the stream function")
	every := fs.Duration("every", time.Second, "the scaler's schedule interval")
	verbose := fs.Bool("v", false, "log the platform at info level")
	_ = fs.Parse(args)

	dir, err := os.MkdirTemp("", "mysimbdp-bench-scale")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	level := slog.LevelError
	if *verbose {
		level = slog.LevelInfo
	}
	o := bench.ScaleOptions{Rate: *rate, Duration: *duration, Max: *maxReplicas, Target: *target, BatchSize: *batch, Every: *every,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))}
	fmt.Fprintln(os.Stderr, "building the functions and starting the platform...")
	rig, err := bench.StartScaleRig(ctx, *repo, dir, o)
	if err != nil {
		return err
	}
	defer rig.Close(context.Background())
	var runs []bench.ScaleRun
	defer func() { bench.PrintScale(os.Stdout, o, runs) }()
	for _, with := range []bool{false, true} {
		fmt.Fprintf(os.Stderr, "step load, scaler %v...\n", with)
		r, err := rig.Run(ctx, with)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	return nil
}
