// Package harness is what tests share to run the real parts and wait on
// them: an embedded FerretDB and NATS per test (own ports, own folders,
// stopped in the test's Cleanup), a logger into the test's log, and a
// deadline-bound wait for a condition.
package harness

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/local/ferret"
	"github.com/mysimbdp/mysimbdp/infra/local/natsd"
)

// pollEvery is how often Until looks again.
const pollEvery = 20 * time.Millisecond

// Until polls cond until it holds, failing tb once within has passed with
// what and the state cond last reported.
func Until(tb testing.TB, within time.Duration, what string, cond func() (ok bool, state string)) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("waited %s for %s; last state: %s", within, what, state)
		}
		time.Sleep(pollEvery)
	}
}

// Logger logs into tb's log from level up.
func Logger(tb testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{tb}, &slog.HandlerOptions{Level: level}))
}

type logWriter struct{ tb testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// FerretDB starts an embedded FerretDB for tb and returns it with a
// client; the client disconnects, then the server stops, in tb's Cleanup.
func FerretDB(tb testing.TB) (*ferret.Server, *mongo.Client) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fs, err := ferret.Start(ctx, ferret.Config{DataDir: tb.TempDir()}, Logger(tb, slog.LevelError))
	if err != nil {
		tb.Fatalf("start FerretDB: %v", err)
	}
	tb.Cleanup(fs.Stop)
	db, err := mongo.Connect(options.Client().ApplyURI(fs.URI()))
	if err != nil {
		tb.Fatalf("MongoDB client: %v", err)
	}
	tb.Cleanup(func() { _ = db.Disconnect(context.Background()) })
	return fs, db
}

// NATS starts an embedded NATS server with JetStream for tb; it shuts
// down in tb's Cleanup.
func NATS(tb testing.TB) *natsd.Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ns, err := natsd.Start(ctx, natsd.Config{StoreDir: tb.TempDir()}, Logger(tb, slog.LevelError))
	if err != nil {
		tb.Fatalf("start NATS: %v", err)
	}
	tb.Cleanup(ns.Shutdown)
	return ns
}

// NATSAs connects to url with opts (a tenant's user, its inbox prefix),
// without reconnecting, and hands back the connection with the server's
// asynchronous errors (permission violations arrive that way, up to 16
// kept) and a channel closed when the connection is. It closes in tb's
// Cleanup.
func NATSAs(tb testing.TB, url string, opts ...nats.Option) (nc *nats.Conn, errs chan error, closed chan struct{}) {
	tb.Helper()
	errs = make(chan error, 16)
	closed = make(chan struct{})
	opts = append(opts, nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		tb.Fatalf("connect to NATS %s: %v", url, err)
	}
	tb.Cleanup(nc.Close)
	return nc, errs, closed
}

// Run runs run (a connector, a server loop) until tb ends: its Cleanup
// cancels run's context and waits up to 30 s for it to return, failing tb
// on an error or if it does not stop.
func Run(tb testing.TB, name string, run func(context.Context) error) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	tb.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("%s: %v", name, err)
			}
		case <-time.After(30 * time.Second):
			tb.Errorf("%s did not stop 30s after cancel", name)
		}
	})
}
