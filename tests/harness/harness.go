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

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/ferret"
	"github.com/mysimbdp/mysimbdp/infra/natsd"
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
