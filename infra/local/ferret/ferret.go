// Package ferret runs an embedded FerretDB with its SQLite backend, giving
// the platform a MongoDB-compatible document store inside the control-plane
// process, with no external database to install.
package ferret

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/trust/mongotrust"
)

// DefaultReadyTimeout bounds how long Start waits for FerretDB to answer a
// ping when neither Config.ReadyTimeout nor the context say otherwise.
const DefaultReadyTimeout = 15 * time.Second

// Config says where FerretDB listens and keeps its SQLite files.
type Config struct {
	// Listen is host:port; port 0 picks a free port. Empty means
	// 127.0.0.1:0.
	Listen string
	// DataDir holds one SQLite file per database; it is created if missing
	// and reused across restarts. Required.
	DataDir string
	// ReadyTimeout bounds the wait for the first successful ping; 0 means
	// DefaultReadyTimeout. A context deadline, if sooner, wins.
	ReadyTimeout time.Duration
	// TLSCertFile and TLSKeyFile, when set, make FerretDB listen with TLS
	// only (on Listen); client certificates are not asked for. CAFile is
	// the CA the ready check trusts (shared/trust).
	TLSCertFile, TLSKeyFile, CAFile string
}

// Server is a running embedded FerretDB.
type Server struct {
	uri      string
	addr     string
	log      *slog.Logger
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
}

// Start starts FerretDB and returns once it answers a MongoDB ping.
// ctx bounds start-up only; the server runs until Stop.
//
// Telemetry: the embedded ferretdb package disables and locks telemetry
// itself and never starts the reporter, so nothing is sent anywhere.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "ferretdb")
	if cfg.DataDir == "" {
		return nil, errors.New("start ferretdb: Config.DataDir is empty")
	}
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start ferretdb on %s: %w", listen, err)
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("start ferretdb: data dir %s: %w", cfg.DataDir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start ferretdb: create data dir: %w", err)
	}
	// ferretdb.New leaks its SQLite backend when its own listen fails, and
	// flattens the error to a string, so probe a fixed port first.
	if err := probe(ctx, listen); err != nil {
		return nil, err
	}

	// SQLite wants a directory URI ending in "/".
	sqliteURL := (&url.URL{Scheme: "file", Path: dir + "/", OmitHost: true}).String()
	lc := ferretdb.ListenerConfig{TCP: listen}
	if cfg.TLSCertFile != "" {
		// No TLSCAFile: FerretDB would require client certificates.
		lc = ferretdb.ListenerConfig{TLS: listen, TLSCertFile: cfg.TLSCertFile, TLSKeyFile: cfg.TLSKeyFile}
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  lc,
		Logger:    slog.New(quieter{base: log.Handler()}),
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		if strings.Contains(err.Error(), "address already in use") {
			return nil, fmt.Errorf("ferretdb: listen %s: address already in use — pick another address: %w", listen, err)
		}
		return nil, fmt.Errorf("start ferretdb on %s: %w", listen, err)
	}

	// Run's context is not derived from ctx: ctx only bounds start-up.
	runCtx, cancel := context.WithCancel(context.Background())
	s := &Server{log: log, cancel: cancel, done: make(chan struct{})}
	keeper := make(chan struct{})
	go func() {
		defer close(s.done)
		if err := f.Run(runCtx); err != nil {
			log.Error("ferretdb stopped with error", "err", err)
		}
		<-keeper
	}()
	go func() {
		defer close(keeper)
		keepIDIndexes(runCtx, dir, log)
	}()
	// New has already bound the listener, so the URI holds the real port.
	s.uri = f.MongoDBURI()
	u, err := url.Parse(s.uri)
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("start ferretdb: its URI %q: %w", s.uri, err)
	}
	s.addr = u.Host

	if err := waitReady(ctx, s.uri, cfg.CAFile, cfg.ReadyTimeout); err != nil {
		s.Stop()
		return nil, fmt.Errorf("start ferretdb on %s: %w", s.addr, err)
	}
	log.InfoContext(ctx, "ferretdb ready", "uri", s.uri, "data_dir", dir)
	return s, nil
}

// probe fails fast, with a real error value, if a fixed port is taken.
func probe(ctx context.Context, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("start ferretdb: listen address %q: %w", addr, err)
	}
	if port == "0" {
		return nil
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("ferretdb: listen %s: address already in use — pick another address: %w", addr, err)
		}
		return fmt.Errorf("ferretdb: listen %s: %w", addr, err)
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("ferretdb: probe %s: %w", addr, err)
	}
	return nil
}

// waitReady pings until FerretDB answers; the driver retries server
// selection itself, so one Ping bounded by the deadline is enough.
func waitReady(ctx context.Context, uri, caFile string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	opts, err := mongotrust.Options(options.Client().ApplyURI(uri), caFile)
	if err != nil {
		return err
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", uri, err)
	}
	// Disconnect with a fresh context: ctx may be the one that expired.
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer dcancel()
		_ = client.Disconnect(dctx)
	}()
	if err := client.Ping(ctx, nil); err != nil {
		return fmt.Errorf("ping %s: %w", uri, err)
	}
	return nil
}

// URI is the mongodb:// URI clients connect to (with tls=true when
// FerretDB serves TLS).
func (s *Server) URI() string { return s.uri }

// Addr is the host:port FerretDB listens on.
func (s *Server) Addr() string { return s.addr }

// Stop stops FerretDB and returns once its listener, connections and
// SQLite backend are closed. Clients still connected are given up to ~3s
// (FerretDB's own grace period) to finish, so disconnect them first for a
// fast stop. Calling it again is a no-op.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.cancel()
		<-s.done
		s.log.Info("ferretdb stopped", "addr", s.addr)
	})
}

// quieter lowers the level of FerretDB's chattiest records: it logs every
// client connection at info, and every error answer it sends a client
// (including the driver's routine "endSessions", which it does not
// implement) as two warnings with a full message dump. Those are the
// client's business, not the operator's, so they go to debug.
//
// It also defers WithAttrs and WithGroup until a record is logged:
// FerretDB derives a logger per connection and per command, and a text or
// JSON handler formats the attributes at once, which cost about 5% of the
// CPU of a bulk insert for records that are almost never logged.
type quieter struct {
	base slog.Handler
	with []func(slog.Handler) slog.Handler
}

func (h quieter) Enabled(ctx context.Context, l slog.Level) bool {
	// A warning may turn out to be a demoted one; decide in Handle.
	return h.base.Enabled(ctx, l) || h.base.Enabled(ctx, demote(l, ""))
}

func (h quieter) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level, r.Message)
	if !h.base.Enabled(ctx, r.Level) {
		return nil
	}
	out := h.base
	for _, f := range h.with {
		out = f(out)
	}
	return out.Handle(ctx, r)
}

func (h quieter) WithAttrs(as []slog.Attr) slog.Handler {
	return h.and(func(x slog.Handler) slog.Handler { return x.WithAttrs(as) })
}

func (h quieter) WithGroup(name string) slog.Handler {
	return h.and(func(x slog.Handler) slog.Handler { return x.WithGroup(name) })
}

// and returns h with f applied after its other derivations; the slice is
// copied so that siblings derived from one logger do not share it.
func (h quieter) and(f func(slog.Handler) slog.Handler) quieter {
	return quieter{base: h.base, with: append(h.with[:len(h.with):len(h.with)], f)}
}

func demote(l slog.Level, msg string) slog.Level {
	switch {
	case l == slog.LevelInfo:
		return slog.LevelDebug
	case l == slog.LevelWarn && (strings.HasPrefix(msg, "Response header:") ||
		strings.HasPrefix(msg, "Response message:")):
		return slog.LevelDebug
	}
	return l
}
