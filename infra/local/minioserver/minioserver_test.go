package minioserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mysimbdp/mysimbdp/infra/local/setupbin"
)

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// repoBinary is <repo root>/bin/minio, the root being the nearest parent
// with a go.mod. It is not checked here: a missing binary must make the
// tests fail with Start's own "run ./scripts/setup" message, never skip.
func repoBinary(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "bin", "minio")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func startServer(t *testing.T, ctx context.Context, cfg Config) *Server {
	t.Helper()
	s, err := Start(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

func client(t *testing.T, s *Server) *minio.Client {
	t.Helper()
	c, err := minio.New(s.Endpoint(), &minio.Options{
		Creds: credentials.NewStaticV4(s.RootUser(), s.RootPassword(), ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestObjectPersistsAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cfg := Config{
		Binary:       repoBinary(t),
		DataDir:      t.TempDir(),
		RootUser:     "testadmin",
		RootPassword: "testsecret123",
	}

	s1 := startServer(t, ctx, cfg)
	c1 := client(t, s1)
	if err := c1.MakeBucket(ctx, "tenant1", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	body := []byte("hello, object")
	if _, err := c1.PutObject(ctx, "tenant1", "in/a.csv", bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: "text/csv"}); err != nil {
		t.Fatalf("put object: %v", err)
	}
	pid := s1.cmd.Process.Pid
	if err := s1.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// The whole process group is gone, not just reaped.
	if err := syscall.Kill(-pid, 0); err != syscall.ESRCH {
		t.Fatalf("process group %d still exists after Stop (kill 0: %v)", pid, err)
	}

	s2 := startServer(t, ctx, cfg)
	c2 := client(t, s2)
	obj, err := c2.GetObject(ctx, "tenant1", "in/a.csv", minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get object after restart: %v", err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read object after restart: %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("object after restart = %q, want %q", got, body)
	}
}

func TestStartErrors(t *testing.T) {
	// A port someone else holds.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	taken := l.Addr().String()
	missing := filepath.Join(t.TempDir(), "bin", "minio")

	tests := []struct {
		name string
		cfg  Config
		want []string
	}{{
		name: "missing binary",
		cfg:  Config{Binary: missing},
		want: []string{"MinIO server binary not found at " + missing + ": run ./scripts/setup to build it"},
	}, {
		name: "API port taken",
		cfg:  Config{Binary: repoBinary(t), Address: taken},
		want: []string{taken, "address already in use"},
	}, {
		name: "console port taken",
		cfg:  Config{Binary: repoBinary(t), ConsoleAddress: taken},
		want: []string{taken, "address already in use"},
	}, {
		// MinIO refuses a password under 8 characters and exits at once:
		// Start must notice the exit and quote the child's output.
		name: "child exits early",
		cfg:  Config{Binary: repoBinary(t), RootPassword: "short"},
		want: []string{"exited early", "last output:", "credentials"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			tc.cfg.DataDir = t.TempDir()
			s, err := Start(ctx, tc.cfg, testLogger(t))
			if err == nil {
				_ = s.Stop(context.Background())
				t.Fatal("Start succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// If another program grabs a port between the probe and MinIO's own bind,
// MinIO exits; Start must report that as "address in use" with MinIO's
// output (startOnce is called directly to skip the probe).
func TestChildReportsPortInUse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	taken := l.Addr().String()
	console, err := resolveAddr("")
	if err != nil {
		t.Fatal(err)
	}

	cfg := Config{Binary: repoBinary(t), DataDir: t.TempDir()}
	if err := setupbin.Check("MinIO server binary", cfg.Binary); err != nil {
		t.Fatal(err)
	}
	s, err := startOnce(ctx, cfg, taken, console, testLogger(t))
	if err == nil {
		_ = s.Stop(context.Background())
		t.Fatal("startOnce on a taken port succeeded")
	}
	var inUse *addrInUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("error is not an addrInUseError: %v", err)
	}
	for _, w := range []string{taken, "address already in use", "already in use"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}
