package minioadmin

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mysimbdp/mysimbdp/infra/local/minioserver"
)

// start runs a real MinIO (bin/minio) and returns an admin client driving
// bin/mc, both built by scripts/setup; a missing one fails the test.
func start(t *testing.T) (*Client, *minio.Client, string) {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	srv, err := minioserver.Start(ctx, minioserver.Config{
		Binary: filepath.Join(repo, "bin", "minio"), DataDir: t.TempDir(),
		RootUser: "root", RootPassword: "root-password",
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	admin, err := New(Config{Binary: filepath.Join(repo, "bin", "mc"), Endpoint: srv.Endpoint(), AccessKey: "root", SecretKey: "root-password"})
	if err != nil {
		t.Fatal(err)
	}
	root, err := minio.New(srv.Endpoint(), &minio.Options{Creds: credentials.NewStaticV4("root", "root-password", "")})
	if err != nil {
		t.Fatal(err)
	}
	return admin, root, srv.Endpoint()
}

func TestMissingBinary(t *testing.T) {
	_, err := New(Config{Binary: filepath.Join(t.TempDir(), "mc"), Endpoint: "x:1", AccessKey: "a", SecretKey: "b"})
	if err == nil || !strings.Contains(err.Error(), "scripts/setup") {
		t.Errorf("New with no mc: %v, want a hint to run scripts/setup", err)
	}
}

func TestUserPolicyQuota(t *testing.T) {
	admin, root, endpoint := start(t)
	ctx := t.Context()
	if err := root.MakeBucket(ctx, "box", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}

	if _, err := admin.User(ctx, "box-user"); !IsNotFound(err) {
		t.Fatalf("info of a missing user: %v, want not found", err)
	}
	policy := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":["arn:aws:s3:::box/*"]}]}`)
	for range 2 { // every step is idempotent
		if err := admin.PutUser(ctx, "box-user", "box-password"); err != nil {
			t.Fatal(err)
		}
		if err := admin.PutPolicy(ctx, "box-policy", policy); err != nil {
			t.Fatal(err)
		}
		if err := admin.AttachPolicy(ctx, "box-policy", "box-user"); err != nil {
			t.Fatal(err)
		}
	}
	u, err := admin.User(ctx, "box-user")
	if err != nil || u.PolicyName != "box-policy" || u.Status != "enabled" {
		t.Fatalf("user info %+v, %v", u, err)
	}

	user, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4("box-user", "box-password", "")})
	if err != nil {
		t.Fatal(err)
	}
	put := func(n int) error {
		_, err := user.PutObject(ctx, "box", "o", bytes.NewReader(make([]byte, n)), int64(n), minio.PutObjectOptions{})
		return err
	}
	for _, tc := range []struct {
		quota uint64
		size  int
		ok    bool
	}{
		{64 << 10, 128 << 10, false},
		{1 << 20, 128 << 10, true},
		{0, 2 << 20, true}, // 0 clears the quota
	} {
		if err := admin.SetQuota(ctx, "box", tc.quota); err != nil {
			t.Fatal(err)
		}
		if got, err := admin.Quota(ctx, "box"); err != nil || got != tc.quota {
			t.Errorf("quota %d (%v), want %d", got, err, tc.quota)
		}
		err := put(tc.size)
		if tc.ok && err != nil {
			t.Errorf("%d bytes under a quota of %d: %v", tc.size, tc.quota, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "quota")) {
			t.Errorf("%d bytes over a quota of %d: %v, want a quota error", tc.size, tc.quota, err)
		}
	}
	if _, err := admin.Quota(ctx, "no-such-bucket"); !IsNotFound(err) {
		t.Errorf("quota of a missing bucket: %v, want not found", err)
	}

	for range 2 {
		if err := admin.RemoveUser(ctx, "box-user"); err != nil {
			t.Fatal(err)
		}
		if err := admin.RemovePolicy(ctx, "box-policy"); err != nil {
			t.Fatal(err)
		}
	}
	if err := put(1); err == nil {
		t.Error("a removed user could still write")
	}
}

// TestNoSecretOnCommandLine runs mc through a wrapper that records the
// command line and environment each run of mc gets (what `ps` and
// /proc/<pid>/environ show): neither holds the admin's secret key nor a
// user's, while the user is still created with its secret key.
func TestNoSecretOnCommandLine(t *testing.T) {
	_, root, endpoint := start(t)
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	record := filepath.Join(dir, "runs.txt")
	wrapper := filepath.Join(dir, "mc")
	script := "#!/bin/sh\nprintf 'argv: %s\\n' \"$*\" >> '" + record + "'\nenv | sed 's/^/env: /' >> '" + record + "'\nexec '" + filepath.Join(repo, "bin", "mc") + "' \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	admin, err := New(Config{Binary: wrapper, Endpoint: endpoint, AccessKey: "root", SecretKey: "root-password"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := root.MakeBucket(ctx, "argv", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	const userSecret = "user-secret-4f9a1c"
	steps := []func() error{
		func() error { return admin.PutUser(ctx, "argv-user", userSecret) },
		func() error {
			return admin.PutPolicy(ctx, "argv-policy", []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::argv/*"]}]}`))
		},
		func() error { return admin.AttachPolicy(ctx, "argv-policy", "argv-user") },
		func() error { return admin.SetQuota(ctx, "argv", 1<<20) },
		func() error { _, err := admin.User(ctx, "argv-user"); return err },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	user, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4("argv-user", userSecret, "")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.PutObject(ctx, "argv", "o", bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err != nil {
		t.Errorf("the user added through stdin cannot write with its secret key: %v", err)
	}
	raw, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), "argv: "); n != len(steps) {
		t.Fatalf("the wrapper recorded %d runs of mc, want %d:\n%s", n, len(steps), raw)
	}
	for _, secret := range []string{"root-password", userSecret} {
		for line := range strings.Lines(string(raw)) {
			if strings.Contains(line, secret) {
				t.Errorf("mc's command line or environment holds a secret: %s", line)
			}
		}
	}
}
