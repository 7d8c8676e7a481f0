// Command lambda-build builds mysimbdp functions as AWS Lambda deployment
// packages (provided.al2023, bootstrap) for amd64 and arm64: see
// infra/build/lambdabuild. infra/deploy/lambda/build runs it.
//
//	lambda-build [-arch amd64,arm64] [-out build/lambda] [function ...]
//
// With no function named it builds batch-ingest and stream-ingest, the ones
// infra/deploy/lambda/template.yaml deploys.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/mysimbdp/mysimbdp/infra/build/lambdabuild"
)

func main() {
	archs := flag.String("arch", "amd64,arm64", "GOARCH values to build for, comma-separated (Lambda: amd64 = x86_64, arm64)")
	out := flag.String("out", "build/lambda", "output folder: <arch>/<function>/bootstrap and <arch>/<function>.zip")
	root := flag.String("root", ".", "the repository (holding stack.yml, go.mod, functions/)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: lambda-build [flags] [function ...]\n\nBuilds functions/<function> as Lambda bootstrap binaries and zips.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	fns := flag.Args()
	if len(fns) == 0 {
		fns = []string{"batch-ingest", "stream-ingest"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	arts, err := lambdabuild.Build(ctx, lambdabuild.Options{Root: *root, Functions: fns, Archs: strings.Split(*archs, ","), OutDir: *out})
	if err != nil {
		fmt.Fprintln(os.Stderr, "lambda-build:", err)
		os.Exit(1)
	}
	for _, a := range arts {
		fmt.Printf("%s %s (%s): %s\n", a.Function, a.Arch, lambdabuild.LambdaArch(a.Arch), a.Zip)
	}
}
