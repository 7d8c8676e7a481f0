package natsd

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// testLogger sends server logs to the test log so failures show them.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func startServer(t *testing.T, ctx context.Context, cfg Config) *Server {
	t.Helper()
	s, err := Start(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Shutdown) // Shutdown is safe to call twice
	return s
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestJetStreamPersistsAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := Config{StoreDir: t.TempDir()}

	s1 := startServer(t, ctx, cfg)
	nc := connect(t, s1.ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "INGEST",
		Subjects: []string{"ingest.>"},
		Storage:  jetstream.FileStorage,
	}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	ack, err := js.Publish(ctx, "ingest.tenant1", []byte("hello"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ack.Stream != "INGEST" || ack.Sequence != 1 {
		t.Fatalf("ack = %+v, want stream INGEST seq 1", ack)
	}
	nc.Close()
	s1.Shutdown()

	s2 := startServer(t, ctx, cfg)
	nc2 := connect(t, s2.ClientURL())
	js2, err := jetstream.New(nc2)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js2.Stream(ctx, "INGEST")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	msg, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatalf("get msg 1 after restart: %v", err)
	}
	if string(msg.Data) != "hello" || msg.Subject != "ingest.tenant1" {
		t.Fatalf("msg after restart = %q on %q, want hello on ingest.tenant1", msg.Data, msg.Subject)
	}
}

func TestPortInUse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Hold a port so the server cannot have it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	port := l.Addr().(*net.TCPAddr).Port
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	s, err := Start(ctx, Config{Port: port, StoreDir: t.TempDir()}, testLogger(t))
	if err == nil {
		s.Shutdown()
		t.Fatal("Start on a taken port succeeded")
	}
	for _, want := range []string{addr, "address already in use", "--nats-port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestOptionsHookAddsUsers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := startServer(t, ctx, Config{
		StoreDir: t.TempDir(),
		Options: func(o *server.Options) {
			o.Users = []*server.User{{Username: "tenant1", Password: "secret"}}
		},
	})

	if nc, err := nats.Connect(s.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("anonymous connect succeeded although the hook configured users")
	}
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("tenant1", "secret"))
	if err != nil {
		t.Fatalf("connect as tenant1: %v", err)
	}
	nc.Close()
}

func TestJetStreamFailureFailsStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A store dir that is a regular file makes JetStream fail inside
	// nats-server, which it only reports through Fatalf: Start must
	// return that error promptly rather than time out or exit.
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	s, err := Start(ctx, Config{
		StoreDir:     t.TempDir(),
		ReadyTimeout: 20 * time.Second,
		Options:      func(o *server.Options) { o.StoreDir = file },
	}, testLogger(t))
	if err == nil {
		s.Shutdown()
		t.Fatal("Start succeeded with an unusable store dir")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "jetstream") {
		t.Errorf("error %q does not mention jetstream", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("Start took %s to fail; want it to notice the fatal error at once", d)
	}
}
