package connector

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/local/natsd"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// lockedBuffer collects log lines written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLogsHoldNoPassword: a connector given a NATS URL with the platform
// user's password logs its connection, a lost connection and the
// reconnection without ever writing the password.
func TestLogsHoldNoPassword(t *testing.T) {
	e := newEnv(t) // the provider; NATS with users is started here
	const password = "nats-pw-7d1e0c"
	ns, err := natsd.Start(t.Context(), natsd.Config{StoreDir: t.TempDir(), Users: []*server.User{{Username: "platform", Password: password}}},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	u, err := url.Parse(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("platform", password)
	nc, err := nats.Connect(u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	var logs lockedBuffer
	c, err := New(testConfig(u.String()), e.gw, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureStreams(t.Context(), js); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("Run did not return 20s after cancel")
		}
	})
	t.Cleanup(stop)

	// Cut the connector's connection: it logs the loss and the
	// reconnection, with the server's URL.
	var cid uint64
	harness.Until(t, 10*time.Second, "the connector connected", func() (bool, string) {
		cz, err := ns.NATS().Connz(&server.ConnzOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, ci := range cz.Conns {
			if ci.Name == "mysimbdp-connector" {
				cid = ci.Cid
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d connections, none the connector's", len(cz.Conns))
	})
	if err := ns.NATS().DisconnectClientByID(cid); err != nil {
		t.Fatal(err)
	}
	harness.Until(t, 10*time.Second, "the reconnection logged", func() (bool, string) {
		return strings.Contains(logs.String(), "reconnected to NATS"), "no reconnection logged"
	})
	stop()
	if out := logs.String(); strings.Contains(out, password) {
		t.Errorf("the connector's logs hold the NATS password:\n%s", out)
	}

}
