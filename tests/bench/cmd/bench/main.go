// Command bench runs mysimbdp's benchmarks, each beside its baseline in the
// same run, and prints the figures and ratios. scripts/bench runs it.
//
//	bench provider   invocation via the provider vs straight to the replica; cold start
//	bench batch      batch ingestion: full path vs raw inserts (4.3 MB and -big-mb),
//	                 a -huge-mb file through the real function with a discarding
//	                 sink (peak RSS, rows/s), and the seed's 2 tenants x 5 files
//	bench stream     stream ingestion: end to end vs raw inserts and raw JetStream,
//	                 publish->stored latency at fixed rates, the batch-size curve
//	bench scale      how replicas follow a step in load, and the backlog peak,
//	                 with the scaler and without it
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/ecdc"

	"github.com/mysimbdp/mysimbdp/tests/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench provider|batch|stream|scale [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "stream":
		err = runStream(ctx, os.Args[2:])
	case "provider":
		err = runProvider(ctx, os.Args[2:])
	case providerLoadCmd:
		err = runProviderLoad(ctx, os.Args[2:])
	case "batch":
		err = runBatch(ctx, os.Args[2:])
	case "scale":
		err = runScale(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown benchmark %q (have: provider, batch, stream, scale)", os.Args[1])
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
	inProcess := fs.Bool("in-process", false, "run the load generator in the provider's process (as before issue 18), not in a process of its own")
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
	load := bench.RunProviderLoad
	if !*inProcess {
		load = loadInOwnProcess
	}
	rep, err := bench.RunProvider(ctx, rig, load, *rounds, *perRound, *workers, *cold)
	rep.LoadProcess = !*inProcess
	rep.Print(os.Stdout)
	return err
}

// providerLoadCmd is the hidden command that runs the provider
// benchmark's load generator, so that it does not share the provider's
// process: its requests, goroutines and garbage would otherwise be
// scheduled and collected with the provider's and counted as its latency.
const providerLoadCmd = "provider-load"

// loadInOwnProcess runs bench.RunProviderLoad in a child process of this
// executable and reads its rounds back as JSON.
func loadInOwnProcess(ctx context.Context, directURL, proxiedURL string, rounds, perRound, workers int) ([]bench.ProviderRound, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this executable for the load generator: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, providerLoadCmd, "-direct", directURL, "-proxied", proxiedURL,
		"-rounds", strconv.Itoa(rounds), "-n", strconv.Itoa(perRound), "-workers", strconv.Itoa(workers))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("load generator: %w", err)
	}
	var res []bench.ProviderRound
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("load generator's answer: %w", err)
	}
	return res, nil
}

func runProviderLoad(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet(providerLoadCmd, flag.ExitOnError)
	direct := fs.String("direct", "", "URL of the replica")
	proxied := fs.String("proxied", "", "URL of the function via the provider")
	rounds := fs.Int("rounds", 5, "rounds")
	perRound := fs.Int("n", 2000, "sequential requests per path per round")
	workers := fs.Int("workers", 8, "concurrent clients for throughput")
	_ = fs.Parse(args)
	res, err := bench.RunProviderLoad(ctx, *direct, *proxied, *rounds, *perRound, *workers)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func runBatch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("batch", flag.ExitOnError)
	repo := fs.String("repo", ".", "repo folder (with stack.yml and bin/minio)")
	rounds := fs.Int("rounds", 3, "alternating rounds of full and raw for the 4.3 MB file (the big one runs once)")
	bigMB := fs.Int("big-mb", 100, "size of the big file of the full-vs-raw comparison, MiB (0 skips it)")
	hugeMB := fs.Int("huge-mb", 1024, "size of the file streamed through the function with a discarding sink, MiB (0 skips it)")
	baselineMB := fs.Int("baseline-mb", 256, "MiB of the same data parsed in-process as the huge file's baseline (0 skips it)")
	tenants := fs.Int("tenants", 2, "tenants of the seed workload (0 skips it)")
	files := fs.Int("files", 5, "4.3 MB files per tenant of the seed workload")
	pFiles := fs.Int("platform-files", 10, "files of the full-path run through every process of the platform (0 skips it)")
	pRows := fs.Int("platform-rows", bench.SeedRowsPerFile, "rows per file of the full-path run")
	pTimeout := fs.Duration("platform-timeout", 20*time.Minute, "longest wait of each full-path upload for its reports")
	inProcess := fs.Bool("in-process", true, "also run the in-process measurements (HandleEvent called directly, no MinIO event, connector, provider or function process)")
	_ = fs.Parse(args)

	if *pFiles > 0 {
		dir, err := os.MkdirTemp("", "mysimbdp-bench-platform")
		if err != nil {
			return fmt.Errorf("create a work folder: %w", err)
		}
		defer os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, "starting the whole local platform...")
		res, err := bench.RunPlatformBatch(ctx, *repo, dir, bench.PlatformOptions{
			Files: *pFiles, RowsPerFile: *pRows, Uploaders: 4, PhaseTimeout: *pTimeout,
			Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		}, os.Stderr)
		if err != nil {
			return err
		}
		res.Print(os.Stdout)
	}
	if !*inProcess {
		return nil
	}
	fmt.Fprintln(os.Stdout, "\nbatch, in process (HandleEvent called directly):")

	dir, err := os.MkdirTemp("", "mysimbdp-bench-batch")
	if err != nil {
		return fmt.Errorf("create a work folder: %w", err)
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(os.Stderr, "starting MinIO, FerretDB and NATS...")
	rig, err := bench.StartBatchRig(ctx, *repo, dir)
	if err != nil {
		return err
	}
	defer rig.Close(context.Background())

	// Whatever finished is printed, also when a later part fails.
	var rep bench.BatchReport
	defer func() { rep.Print(os.Stdout) }()
	step := func(what string) func() {
		fmt.Fprintf(os.Stderr, "%s...\n", what)
		start := time.Now()
		return func() { fmt.Fprintf(os.Stderr, "  (%s took %.1f s)\n", what, time.Since(start).Seconds()) }
	}
	done := step("full vs raw, 4.3 MB")
	small, err := bench.RunFullVsRaw(ctx, rig, "4.3MB", ecdc.CSV(0, bench.SeedRowsPerFile), bench.SeedRowsPerFile, *rounds)
	if err != nil {
		return err
	}
	done()
	rep.Sizes = append(rep.Sizes, small)
	if *bigMB > 0 {
		done := step(fmt.Sprintf("full vs raw, %d MiB", *bigMB))
		data, rows, err := bigFile(int64(*bigMB) << 20)
		if err != nil {
			return err
		}
		big, err := bench.RunFullVsRaw(ctx, rig, fmt.Sprintf("%dMiB", *bigMB), data, rows, 1)
		if err != nil {
			return err
		}
		done()
		rep.Sizes = append(rep.Sizes, big)
	}
	if *tenants > 0 {
		done := step("seed workload")
		seed, err := bench.RunSeed(ctx, rig, *tenants, *files)
		if err != nil {
			return err
		}
		done()
		rep.Seed = &seed
	}
	if *hugeMB > 0 {
		done := step(fmt.Sprintf("huge file, %d MiB", *hugeMB))
		huge, err := bench.RunHuge(ctx, rig, int64(*hugeMB)<<20, int64(*baselineMB)<<20, os.Stderr)
		if err != nil {
			return err
		}
		done()
		rep.Huge = &huge
	}
	return nil
}

// bigFile generates a file of at least size bytes in memory.
func bigFile(size int64) ([]byte, int, error) {
	gen := ecdc.NewSizedReader(size)
	buf := bytes.NewBuffer(make([]byte, 0, size+1<<16))
	if _, err := buf.ReadFrom(gen); err != nil {
		return nil, 0, fmt.Errorf("generate the big file: %w", err)
	}
	return buf.Bytes(), gen.Rows(), nil
}
