// Package lambdabuild builds mysimbdp functions for AWS Lambda's
// provided.al2023 runtime: for each function and architecture, the same
// build context infra/fnbuild lays out for OpenFaaS (the golang-mysimbdp
// template's main.go, the handler, the stack's configuration.copy paths),
// compiled as a static Linux executable named bootstrap — what a custom
// runtime runs — and zipped with bootstrap at the root, as Lambda takes it.
//
// One build context for both platforms is the point: the binary that
// OpenFaaS runs and the one Lambda runs differ only in GOOS/GOARCH and the
// lambda.norpc tag (which drops aws-lambda-go's unused net/rpc mode);
// fnrun.Main picks Lambda at run time from AWS_LAMBDA_RUNTIME_API.
//
// Output, under Options.OutDir:
//
//	<arch>/<function>/bootstrap   for sam local / the runtime emulator
//	<arch>/<function>.zip         for S3 and the SAM template's CodeUri
//
// Zips are reproducible (fixed times, one entry), so rebuilding unchanged
// code gives the same bytes and CloudFormation sees no change.
package lambdabuild

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/build/fnbuild"
	"github.com/mysimbdp/mysimbdp/infra/build/stack"
)

// Template is the language template every platform function is built with.
const Template = "golang-mysimbdp"

// Archs are the architectures Lambda runs, by GOARCH; the SAM template's
// Architecture parameter names them x86_64 and arm64.
var archs = map[string]string{"amd64": "x86_64", "arm64": "arm64"}

// LambdaArch is Lambda's name for GOARCH arch ("x86_64" for amd64), or ""
// when Lambda does not run it.
func LambdaArch(arch string) string { return archs[arch] }

// Options say what to build.
type Options struct {
	// Root is the repository (the folder holding stack.yml and go.mod).
	Root string
	// Functions are folder names under functions/, e.g. "batch-ingest".
	Functions []string
	// Archs are GOARCH values: amd64, arm64.
	Archs []string
	// OutDir receives the artifacts; default <Root>/build/lambda.
	OutDir string
	// GoBin is the go command; default "go".
	GoBin string
}

// Artifact is one built function for one architecture.
type Artifact struct {
	Function, Arch string
	// Bootstrap is the executable, Zip the deployment package.
	Bootstrap, Zip string
}

// Build builds every function for every architecture.
func Build(ctx context.Context, o Options) ([]Artifact, error) {
	if len(o.Functions) == 0 {
		return nil, fmt.Errorf("no functions to build: name folders under functions/")
	}
	if len(o.Archs) == 0 {
		return nil, fmt.Errorf("no architectures to build for: amd64, arm64")
	}
	for _, a := range o.Archs {
		if archs[a] == "" {
			return nil, fmt.Errorf("architecture %q: Lambda runs amd64 (x86_64) and arm64", a)
		}
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, fmt.Errorf("repository root: %w", err)
	}
	out := o.OutDir
	if out == "" {
		out = filepath.Join(root, "build", "lambda")
	}
	if out, err = filepath.Abs(out); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	// The copy paths are stack.yml's, so that both platforms' contexts
	// stay one definition. Only they are read: every ${VAR} gets a
	// placeholder, so the endpoints it names need not be set to build.
	st, err := stack.LoadWith(filepath.Join(root, "stack.yml"), func(string) (string, bool) { return "unused", true })
	if err != nil {
		return nil, fmt.Errorf("read the copy paths from stack.yml: %w", err)
	}
	lambdaStack := &stack.Stack{Dir: root, Functions: map[string]stack.Function{}, Configuration: stack.Configuration{Copy: st.Configuration.Copy}}
	for _, fn := range o.Functions {
		if strings.ContainsAny(fn, `/\`) || fn == "" || fn == "." || fn == ".." {
			return nil, fmt.Errorf("function %q: name a folder under functions/", fn)
		}
		lambdaStack.Functions[fn] = stack.Function{Lang: Template, Handler: "./functions/" + fn}
	}
	b := &fnbuild.Builder{Stack: lambdaStack, BuildDir: filepath.Join(out, "context")}

	var arts []Artifact
	for _, fn := range o.Functions {
		ctxDir, err := b.Context(fn)
		if err != nil {
			return nil, err
		}
		for _, arch := range o.Archs {
			a, err := compile(ctx, o.GoBin, ctxDir, out, fn, arch)
			if err != nil {
				return nil, err
			}
			arts = append(arts, a)
		}
	}
	return arts, nil
}

func compile(ctx context.Context, goBin, ctxDir, out, fn, arch string) (Artifact, error) {
	a := Artifact{Function: fn, Arch: arch,
		Bootstrap: filepath.Join(out, arch, fn, "bootstrap"),
		Zip:       filepath.Join(out, arch, fn+".zip")}
	if err := os.MkdirAll(filepath.Dir(a.Bootstrap), 0o755); err != nil {
		return a, fmt.Errorf("function %s (%s): %w", fn, arch, err)
	}
	if goBin == "" {
		goBin = "go"
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", a.Bootstrap+".building", ".")
	cmd.Dir = ctxDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=-buildvcs=false")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return a, fmt.Errorf("function %s (%s): go build in %s: %w\n%s", fn, arch, ctxDir, err, strings.TrimSpace(log.String()))
	}
	if err := os.Rename(a.Bootstrap+".building", a.Bootstrap); err != nil {
		return a, fmt.Errorf("function %s (%s): %w", fn, arch, err)
	}
	if err := zipBootstrap(a.Bootstrap, a.Zip); err != nil {
		return a, fmt.Errorf("function %s (%s): zip: %w", fn, arch, err)
	}
	return a, nil
}

// zipBootstrap writes a zip holding bootstrap (mode 0755) at its root.
func zipBootstrap(bootstrap, dst string) error {
	in, err := os.Open(bootstrap)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	// Lambda runs bootstrap as is: it must be executable in the archive.
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = io.Copy(w, in)
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}
