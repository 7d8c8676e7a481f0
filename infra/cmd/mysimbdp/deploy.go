package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/mysimbdp/mysimbdp/infra/build/fnbuild"
	"github.com/mysimbdp/mysimbdp/infra/build/stack"
	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

func runDeploy(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs, env)
	file := fs.String("f", "stack.yml", "stack file")
	images := fs.String("images", "", "local images folder to build into (default <data>/images); builds only make sense for the local provider")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	st, err := stack.Load(*file)
	if err != nil {
		return err
	}
	gw, err := cf.client()
	if err != nil {
		return err
	}
	if *images == "" {
		*images = filepath.Join(cf.data, "images")
	}
	b := &fnbuild.Builder{Stack: st, ImagesDir: *images}
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, "==> "+format+"\n", a...) }
	// The master key given (MYSIMBDP_INVOKE_MASTER_KEY), else the local
	// stack's, gives tenants' apps their invocation keys.
	master := env.InvokeMasterKey
	if master == "" {
		if master, err = localstack.ReadInvokeMasterKey(cf.data); err != nil {
			return err
		}
	}
	if err := localstack.Deploy(ctx, b, gw, master, progress); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deployed %d functions to %s\n", len(st.Functions), gw.URL())
	return nil
}
