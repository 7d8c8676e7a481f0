package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mysimbdp/mysimbdp/infra/build/fnbuild"
	"github.com/mysimbdp/mysimbdp/infra/build/stack"
	"github.com/mysimbdp/mysimbdp/infra/local/minioserver"
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

// StartMinIO starts the MinIO server scripts/setup built (repo/bin/minio)
// with its data under dir, and returns it with a client of its root user.
// The caller stops it.
func StartMinIO(ctx context.Context, repo, dir string, log *slog.Logger) (*minioserver.Server, *minio.Client, error) {
	ms, err := minioserver.Start(ctx, minioserver.Config{Binary: filepath.Join(repo, "bin", "minio"), DataDir: filepath.Join(dir, "minio")}, log)
	if err != nil {
		return nil, nil, fmt.Errorf("start MinIO (built by scripts/setup): %w", err)
	}
	s3, err := minio.New(ms.Endpoint(), &minio.Options{Creds: credentials.NewStaticV4(ms.RootUser(), ms.RootPassword(), "")})
	if err != nil {
		ms.Stop(context.WithoutCancel(ctx))
		return nil, nil, fmt.Errorf("MinIO client: %w", err)
	}
	return ms, s3, nil
}
