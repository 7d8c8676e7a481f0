package minioadmin

import (
	"bytes"
	"context"
	"log/slog"
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
