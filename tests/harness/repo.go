package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mysimbdp/mysimbdp/infra/build/fnbuild"
	"github.com/mysimbdp/mysimbdp/infra/build/stack"
)

// RepoRoot is the nearest parent of the working directory holding go.mod:
// the repo, with stack.yml, platform-apps.yml and bin/.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// BuildPlatformApps builds the named apps of the repo's platform-apps.yml
// as the provider runs them, under dir, and returns the images folder to
// give the provider.
func BuildPlatformApps(ctx context.Context, repo, dir string, apps ...string) (string, error) {
	st, err := stack.Load(filepath.Join(repo, "platform-apps.yml"))
	if err != nil {
		return "", err
	}
	images := filepath.Join(dir, "images")
	b := &fnbuild.Builder{Stack: st, ImagesDir: images, BuildDir: filepath.Join(dir, "build")}
	for _, app := range apps {
		if _, err := b.Build(ctx, app); err != nil {
			return "", fmt.Errorf("build %s: %w", app, err)
		}
	}
	return images, nil
}
