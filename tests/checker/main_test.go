// Package checker_test tests the call-out to a tenant's own quality
// checker (shared/checker) against the real local provider and gateway:
// the example checker of the repo's stack.yml (functions/tenant1-checker)
// and checkers that answer outside the contract run as real function
// processes with their invocation keys, and the caller is the client
// itself or a function deployed as `tenant apply` deploys a batch app
// that may call checkers.
package checker_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/build/fnbuild"
	"github.com/mysimbdp/mysimbdp/infra/build/images"
	"github.com/mysimbdp/mysimbdp/infra/build/stack"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

const (
	exampleChecker = "tenant1-checker"
	badImage       = "test/badchecker:1"
	callerImage    = "test/caller:1"
)

// shared is what every test reads: the images built once.
var shared struct {
	images string
	stack  *stack.Stack
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "checker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// build builds the example checker from the repo's stack.yml, as `mysimbdp
// up` does, and the test functions, into one images folder.
func build(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	repo, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	st, err := stack.Load(filepath.Join(repo, "stack.yml"))
	if err != nil {
		return err
	}
	shared.stack, shared.images = st, filepath.Join(dir, "images")
	b := &fnbuild.Builder{Stack: st, ImagesDir: shared.images, BuildDir: filepath.Join(dir, "build")}
	if _, err := b.Build(ctx, exampleChecker); err != nil {
		return fmt.Errorf("build %s: %w", exampleChecker, err)
	}
	for pkg, image := range map[string]string{"./testdata/badchecker": badImage, "./testdata/caller": callerImage} {
		out, err := images.Path(shared.images, image)
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", pkg, err)
		}
	}
	return nil
}

// testWriter sends logs to the test's log, shown on failure.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
