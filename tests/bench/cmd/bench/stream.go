package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/tests/bench"
)

// runStream is `bench stream`: stream ingestion end to end (publish ->
// JetStream -> connector -> provider -> stream-ingest -> FerretDB) beside
// raw inserts of the same documents and raw JetStream, the publish->stored
// latency at fixed rates, and throughput by batch size.
func runStream(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("stream", flag.ExitOnError)
	repo := fs.String("repo", ".", "repo folder (with stack.yml and tenants/tenant1.yaml)")
	n := fs.Int("n", 20000, "records of each throughput run (0 skips the throughput comparison)")
	rounds := fs.Int("rounds", 5, "passes of the throughput comparison (end to end, hand-built, raw insert), reported by their median ratio")
	pinnedRounds := fs.Int("pinned-rounds", -1, "passes of end to end vs raw insert with the store (`mysimbdp ferretdb`) pinned to the last core by taskset and everything else on the others (-1: as -rounds; 0 skips them)")
	batch := fs.Int("batch", 100, "com.mysimbdp.batch-size of the throughput and latency runs")
	inflight := fs.Int("inflight", 1, "com.mysimbdp.max-inflight of the throughput and curve runs (latency always uses 1)")
	rates := fs.String("rates", "200,1000", "offered rates of the latency runs, records/s (empty skips them)")
	duration := fs.Duration("duration", 10*time.Second, "length of each latency run")
	poll := fs.Duration("poll", 5*time.Millisecond, "count polling period of the latency runs")
	sizes := fs.String("sizes", "1,10,100,1000", "batch sizes of the curve (empty skips it)")
	curveN := fs.Int("curve-n", 0, "records per curve point (0: same as -n)")
	ackWait := fs.Duration("ack-wait", 0, "the connector's AckWait (0: its default, 30s)")
	mongoURI := fs.String("mongo-uri", "", "the store to measure against (a real MongoDB, or `mysimbdp ferretdb` on cores of its own); default: an embedded FerretDB in this process")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (NATS, FerretDB, provider, connector) during the first end-to-end run to this file")
	fnEnv := fs.String("fn-env", "", "extra environment of the function, as NAME=value,NAME=value (e.g. GOGC=400)")
	debug := fs.Bool("vv", false, "log at debug level")
	verbose := fs.Bool("v", false, "log the connector, provider and servers at info level (-vv: debug, with every batch)")
	_ = fs.Parse(args)

	rateList, err := parseFloats(*rates)
	if err != nil {
		return fmt.Errorf("-rates: %w", err)
	}
	sizeList, err := parseInts(*sizes)
	if err != nil {
		return fmt.Errorf("-sizes: %w", err)
	}
	if *curveN <= 0 {
		*curveN = *n
	}
	if *batch < 1 || *inflight < 1 || *rounds < 1 || (len(sizeList) > 0 && *curveN < 1) {
		return errors.New("-batch, -inflight and the curve's record count must be at least 1")
	}

	dir, err := os.MkdirTemp("", "mysimbdp-bench-stream")
	if err != nil {
		return fmt.Errorf("create a work folder: %w", err)
	}
	defer os.RemoveAll(dir)
	level := slog.LevelError
	switch {
	case *debug:
		level = slog.LevelDebug
	case *verbose:
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *pinnedRounds < 0 {
		*pinnedRounds = *rounds
	}
	if *n == 0 {
		*pinnedRounds = 0
	}

	// Whatever finished is printed, also when a later part fails.
	rep := bench.StreamReport{Poll: *poll, StoreInProcess: *mongoURI == ""}
	defer func() { rep.Print(os.Stdout) }()
	step := func(what string) func() {
		fmt.Fprintf(os.Stderr, "%s...\n", what)
		start := time.Now()
		return func() { fmt.Fprintf(os.Stderr, "  (%s took %.1f s)\n", what, time.Since(start).Seconds()) }
	}
	rigOpts := bench.StreamRigOptions{Log: log, AckWait: *ackWait, MongoURI: *mongoURI, FunctionEnv: map[string]string{}}
	for kv := range strings.SplitSeq(*fnEnv, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k != "" {
			rigOpts.FunctionEnv[k] = v
		} else if strings.TrimSpace(kv) != "" {
			return fmt.Errorf("-fn-env: %q is not NAME=value", kv)
		}
	}
	if err := streamMain(ctx, *repo, filepath.Join(dir, "main"), rigOpts, &rep, step, streamRuns{
		n: *n, rounds: *rounds, batch: *batch, inflight: *inflight, rates: rateList, duration: *duration, poll: *poll,
		sizes: sizeList, curveN: *curveN, cpuProfile: *cpuProfile,
	}); err != nil {
		return err
	}
	if *pinnedRounds == 0 {
		return nil
	}
	done := step("starting `mysimbdp ferretdb` pinned to a core of its own and a second rig on the other cores")
	pdir := filepath.Join(dir, "pinned")
	if err := os.MkdirAll(pdir, 0o700); err != nil {
		return err
	}
	store, err := bench.StartPinnedStore(ctx, *repo, pdir)
	if err != nil {
		return err
	}
	defer store.Close()
	rep.PinnedWhere = store.String()
	rigOpts.MongoURI = store.URI
	prig, err := bench.StartStreamRig(ctx, *repo, pdir, rigOpts)
	if err != nil {
		return err
	}
	defer prig.Close(context.Background())
	done()
	for i := range *pinnedRounds {
		var r bench.PinnedRound
		done := step(fmt.Sprintf("pinned round %d: end to end, %d records, batch %d", i+1, *n, *batch))
		if r.E2E, err = prig.RunE2E(ctx, "pinned"+strconv.Itoa(i), *n, *batch, *inflight); err != nil {
			return err
		}
		done()
		done = step(fmt.Sprintf("pinned round %d: raw InsertMany of the same documents", i+1))
		if r.Raw, err = prig.RunRawInsert(ctx, *n, *batch); err != nil {
			return err
		}
		rep.Pinned = append(rep.Pinned, r)
		done()
	}
	return nil
}

// streamRuns are the runs of the main rig.
type streamRuns struct {
	n, rounds, batch, inflight int
	rates                      []float64
	duration, poll             time.Duration
	sizes                      []int
	curveN                     int
	cpuProfile                 string
}

// streamMain runs the throughput rounds, raw JetStream, the latency runs
// and the curve on a rig of its own (the store as rigOpts says), closed
// before it returns.
func streamMain(ctx context.Context, repo, dir string, rigOpts bench.StreamRigOptions, rep *bench.StreamReport, step func(string) func(), o streamRuns) error {
	n, rounds, batch, inflight, poll, curveN, cpuProfile := &o.n, &o.rounds, &o.batch, &o.inflight, &o.poll, &o.curveN, &o.cpuProfile
	duration, rateList, sizeList := &o.duration, o.rates, o.sizes
	fmt.Fprintln(os.Stderr, "building stream-ingest, starting NATS, FerretDB, the provider and the connector...")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	rig, err := bench.StartStreamRig(ctx, repo, dir, rigOpts)
	if err != nil {
		return err
	}
	defer rig.Close(context.Background())

	if *n == 0 {
		*rounds = 0 // no throughput comparison
	}
	for i := range *rounds {
		var r bench.Round
		done := step(fmt.Sprintf("round %d: end to end, %d records, batch %d", i+1, *n, *batch))
		stopProfile := func() {}
		if i == 0 {
			if stopProfile, err = startCPUProfile(*cpuProfile); err != nil {
				return err
			}
		}
		r.E2E, err = rig.RunE2E(ctx, "e2e"+strconv.Itoa(i), *n, *batch, *inflight)
		stopProfile()
		if err != nil {
			return err
		}
		done()
		done = step(fmt.Sprintf("round %d: hand-built queue and %d workers", i+1, *inflight))
		if r.Worker, err = rig.RunWorker(ctx, *n, *batch, *inflight); err != nil {
			return err
		}
		done()
		done = step(fmt.Sprintf("round %d: raw InsertMany of the same documents", i+1))
		if r.Raw, err = rig.RunRawInsert(ctx, *n, *batch); err != nil {
			return err
		}
		rep.Rounds = append(rep.Rounds, r)
		done()
	}
	if *n > 0 {
		done := step("raw JetStream publish/consume")
		js, err := rig.RunRawJetStream(ctx, *n, *batch)
		if err != nil {
			return err
		}
		rep.RawJS = &js
		done()
	}
	for i, r := range rateList {
		done := step(fmt.Sprintf("latency at %.0f records/s for %s", r, *duration))
		l, err := rig.RunLatency(ctx, "lat"+strconv.Itoa(i), r, *duration, *batch, *poll)
		if err != nil {
			return err
		}
		rep.Latency = append(rep.Latency, l)
		done()
	}
	for _, size := range sizeList {
		done := step(fmt.Sprintf("curve: batch %d, %d records", size, *curveN))
		e2e, err := rig.RunE2E(ctx, "curve"+strconv.Itoa(size), *curveN, size, *inflight)
		if err != nil {
			return err
		}
		raw, err := rig.RunRawInsert(ctx, *curveN, size)
		if err != nil {
			return err
		}
		rep.Curve = append(rep.Curve, bench.CurvePoint{E2E: e2e, Raw: raw})
		done()
	}
	return nil
}

// startCPUProfile profiles this process into path until stop is called;
// an empty path profiles nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, v)
	}
	return out, nil
}
