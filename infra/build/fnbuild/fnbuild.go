// Package fnbuild builds functions from a stack file the way faas-cli does,
// minus the container: it lays out the same build context as
// `faas-cli build --shrinkwrap` (build/<fn>/ = the language template, the
// handler under function/, and the stack's configuration.copy paths under
// function/) and compiles that context with `go build`. The Dockerfile in the
// template compiles the very same context on a real OpenFaaS, so local and
// production builds are one code path.
//
// The compiled executable is "pushed" to the local images folder at the
// path infra/images gives for the function's image reference, which is where
// the local provider looks for it.
package fnbuild

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mysimbdp/mysimbdp/infra/build/images"
	"github.com/mysimbdp/mysimbdp/infra/build/stack"
)

// Builder builds the functions of one stack.
type Builder struct {
	Stack *stack.Stack
	// ImagesDir is the local provider's images folder.
	ImagesDir string
	// BuildDir holds the build contexts; defaults to <stack dir>/build as
	// faas-cli uses.
	BuildDir string
	// GoBin is the go command; defaults to "go" on PATH.
	GoBin string
}

// Context lays out the build context of function name and returns its path.
func (b *Builder) Context(name string) (string, error) {
	fn, ok := b.Stack.Functions[name]
	if !ok {
		return "", fmt.Errorf("function %q is not in the stack", name)
	}
	root := b.Stack.Dir
	buildDir := b.BuildDir
	if buildDir == "" {
		buildDir = filepath.Join(root, "build")
	}
	ctxDir := filepath.Join(buildDir, name)
	if err := os.RemoveAll(ctxDir); err != nil {
		return "", fmt.Errorf("clear build context %s: %w", ctxDir, err)
	}
	fnDir := filepath.Join(ctxDir, "function")
	if err := os.MkdirAll(fnDir, 0o755); err != nil {
		return "", fmt.Errorf("create build context: %w", err)
	}

	tmpl := filepath.Join(root, "template", fn.Lang)
	if _, err := os.Stat(filepath.Join(tmpl, "template.yml")); err != nil {
		return "", fmt.Errorf("function %s: language template %q not found at %s (templates live in ./template/<lang>)", name, fn.Lang, tmpl)
	}
	if err := copyTree(tmpl, ctxDir); err != nil {
		return "", fmt.Errorf("function %s: copy template %s: %w", name, fn.Lang, err)
	}

	handler, err := inScope(root, fn.Handler)
	if err != nil {
		return "", fmt.Errorf("function %s: handler: %w", name, err)
	}
	entries, err := os.ReadDir(handler)
	if err != nil {
		return "", fmt.Errorf("function %s: read handler folder: %w", name, err)
	}
	for _, e := range entries {
		// faas-cli skips these names so a handler folder may hold its own.
		if e.Name() == "build" || e.Name() == "template" {
			continue
		}
		if err := copyTree(filepath.Join(handler, e.Name()), filepath.Join(fnDir, e.Name())); err != nil {
			return "", fmt.Errorf("function %s: copy handler: %w", name, err)
		}
	}

	for _, p := range b.Stack.Configuration.Copy {
		src, err := inScope(root, p)
		if err != nil {
			return "", fmt.Errorf("configuration.copy: %w", err)
		}
		rel, _ := filepath.Rel(root, src)
		if err := copyTree(src, filepath.Join(fnDir, rel)); err != nil {
			return "", fmt.Errorf("configuration.copy %s: %w", p, err)
		}
	}
	return ctxDir, nil
}

// Build lays out function name's build context, compiles it and places the
// executable where the local provider finds the function's image. It
// returns that path.
func (b *Builder) Build(ctx context.Context, name string) (string, error) {
	ctxDir, err := b.Context(name)
	if err != nil {
		return "", err
	}
	fn := b.Stack.Functions[name]
	dst, err := images.Path(b.ImagesDir, fn.Image)
	if err != nil {
		return "", fmt.Errorf("function %s: %w", name, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("function %s: create image folder: %w", name, err)
	}
	// Build beside the destination and rename, so a replica that is running
	// the previous build never sees a half-written file.
	tmp := dst + ".building"
	goBin := b.GoBin
	if goBin == "" {
		goBin = "go"
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", tmp, ".")
	cmd.Dir = ctxDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("function %s: go build in %s: %w\n%s", name, ctxDir, err, strings.TrimSpace(out.String()))
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", fmt.Errorf("function %s: place image: %w", name, err)
	}
	return dst, nil
}

// inScope resolves p against root and refuses paths outside root, as
// faas-cli does for copy paths.
func inScope(root, p string) (string, error) {
	abs := filepath.Clean(filepath.Join(root, p))
	if filepath.IsAbs(p) {
		abs = filepath.Clean(p)
	}
	if abs == root {
		return "", fmt.Errorf("path %q is the whole project; name a folder inside it", p)
	}
	if !strings.HasPrefix(abs, root+string(filepath.Separator)) {
		return "", fmt.Errorf("path %q is outside the project folder %s", p, root)
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("path %q: %w", p, err)
	}
	return abs, nil
}

// copyTree copies a file or folder, keeping file modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return copyFile(path, target, info.Mode().Perm())
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
