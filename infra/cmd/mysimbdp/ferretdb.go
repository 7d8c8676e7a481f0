package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/mysimbdp/mysimbdp/infra/local/ferret"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// runFerretDB is `mysimbdp ferretdb`: the embedded FerretDB that `up`
// runs, alone in its own process, until interrupted. It gives the store
// its own machine, or its own cores (`taskset`), with `up --mongo-uri`
// and `scripts/bench stream -mongo-uri` pointing at it.
func runFerretDB(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ferretdb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:27017", "host:port to serve the MongoDB wire protocol on")
	data := fs.String("data", ".mysimbdp/ferretdb", "folder of the SQLite files (one per database), created if missing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := ferret.Start(ctx, ferret.Config{Listen: *listen, DataDir: *data}, log)
	if err != nil {
		return err
	}
	defer s.Stop()
	fmt.Fprintf(stdout, "FerretDB serving %s (data in %s); Ctrl-C stops it\n", s.URI(), *data)
	<-ctx.Done()
	return nil
}
