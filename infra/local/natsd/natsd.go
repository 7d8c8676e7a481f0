// Package natsd runs an embedded NATS server with JetStream persisted on
// disk, so the platform's event bus lives in the same process as the
// control plane and keeps its streams across restarts.
package natsd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultReadyTimeout bounds how long Start waits for the server to accept
// clients when neither Config.ReadyTimeout nor the context say otherwise.
const DefaultReadyTimeout = 10 * time.Second

// Config says where the embedded server listens and stores its data.
type Config struct {
	// Host to listen on; empty means 127.0.0.1 (never all interfaces by
	// accident).
	Host string
	// Port to listen on; 0 picks a free port (nats-server's RANDOM_PORT).
	Port int
	// StoreDir holds JetStream's files; it persists across restarts and is
	// created if missing. Required.
	StoreDir string
	// ServerName is the NATS server name; empty lets nats-server pick one.
	ServerName string
	// Trace logs every protocol message (very verbose) at slog debug level.
	Trace bool
	// ReadyTimeout bounds the wait for readiness; 0 means
	// DefaultReadyTimeout. A context deadline, if sooner, wins.
	ReadyTimeout time.Duration
	// PortFlag names the command-line flag that sets Port, so the
	// "address in use" error can tell the user what to change. Empty means
	// "--nats-port".
	PortFlag string
	// Options, if set, is called with the fully built options just before
	// the server is created, so callers can add accounts, users and other
	// settings (e.g. for tenant isolation) without this package knowing
	// about them.
	Options func(*server.Options)
	// Users, if any, are the only identities the server accepts (with their
	// permissions and accounts); none means no authentication, as for
	// tests. SetAuth replaces them, and Accounts, on the running server.
	Users []*server.User
	// Accounts are the accounts Users belong to (natsauth.Parse).
	Accounts []*server.Account
}

// Server is a running embedded NATS server.
type Server struct {
	ns       *server.Server
	log      *slog.Logger
	stopOnce sync.Once

	// opts are the options the server runs with; SetAuth reloads a
	// clone of them, as ReloadOptions wants every option, not a diff.
	mu   sync.Mutex
	opts *server.Options
}

// Start starts the server and returns once it accepts client connections.
// ctx bounds start-up only; the server runs until Shutdown.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "nats")
	if cfg.StoreDir == "" {
		return nil, errors.New("start nats: Config.StoreDir is empty")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start nats: %w", err)
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	flag := cfg.PortFlag
	if flag == "" {
		flag = "--nats-port"
	}
	if err := os.MkdirAll(cfg.StoreDir, 0o755); err != nil {
		return nil, fmt.Errorf("start nats: create store dir: %w", err)
	}

	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT
	} else {
		// nats-server only reports a busy port through its logger and then
		// keeps waiting, so probe first to fail fast with a real error value.
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		var lc net.ListenConfig
		l, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, listenError(addr, flag, err)
		}
		if err := l.Close(); err != nil {
			return nil, fmt.Errorf("nats: probe %s: %w", addr, err)
		}
	}

	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		// The embedding process owns signal handling.
		NoSigs: true,
	}
	if len(cfg.Users) > 0 {
		opts.Users = cfg.Users
		opts.Accounts = cfg.Accounts
	}
	if cfg.Options != nil {
		cfg.Options(opts)
	}
	// The server keeps and sorts what it is given; ours stays untouched.
	base := opts.Clone()

	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start nats: %w", err)
	}
	// nats-server reports start-up failures (listen, JetStream) through
	// Fatalf without stopping; the adapter forwards them here.
	fatal := make(chan string, 1)
	debug := log.Enabled(ctx, slog.LevelDebug)
	ns.SetLoggerV2(&slogAdapter{log: log, fatal: fatal}, debug, cfg.Trace && debug, false)
	ns.Start()

	if err := waitReady(ctx, ns, cfg.ReadyTimeout, fatal); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		addr := net.JoinHostPort(host, strconv.Itoa(cfg.Port))
		// Someone took the port between the probe and nats-server's own
		// listen: give the same advice as the probe does.
		if strings.Contains(err.Error(), "address already in use") {
			return nil, fmt.Errorf("nats: listen %s: address already in use — pick another port with %s: %w", addr, flag, err)
		}
		return nil, fmt.Errorf("start nats on %s: %w", addr, err)
	}
	s := &Server{ns: ns, log: log, opts: base}
	log.InfoContext(ctx, "nats server ready", "url", s.ClientURL(), "store_dir", cfg.StoreDir)
	return s, nil
}

// listenError turns a failed probe into a message that says what to do.
func listenError(addr, flag string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("nats: listen %s: address already in use — pick another port with %s: %w", addr, flag, err)
	}
	return fmt.Errorf("nats: listen %s: %w", addr, err)
}

// waitReady polls in short slices so a fatal start-up error or a cancelled
// context is noticed at once instead of after the whole timeout.
func waitReady(ctx context.Context, ns *server.Server, timeout time.Duration, fatal <-chan string) error {
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		select {
		case msg := <-fatal:
			return errors.New(msg)
		case <-ctx.Done():
			return fmt.Errorf("wait for readiness: %w", context.Cause(ctx))
		default:
		}
		if ns.ReadyForConnections(50 * time.Millisecond) {
			// Readiness only covers the listener; JetStream may have
			// failed just before it.
			select {
			case msg := <-fatal:
				return errors.New(msg)
			default:
			}
			if !ns.JetStreamEnabled() {
				return errors.New("jetstream is not enabled")
			}
			return nil
		}
	}
}

// ClientURL is the nats:// URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// NATS gives access to the underlying server for callers that need more
// (e.g. account lookups); most code should only need ClientURL.
func (s *Server) NATS() *server.Server { return s.ns }

// SetAuth replaces the accounts and users the running server accepts.
// Clients of a user that is gone, or whose password changed, are
// disconnected; clients of a user whose permissions changed keep their
// connection under the new permissions. Accounts that stay keep their
// JetStream state. A server started without users cannot be given some:
// that would turn authentication on under its clients' feet.
func (s *Server) SetAuth(accounts []*server.Account, users []*server.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.opts.Users) == 0 {
		return errors.New("nats: set users: the server was started without authentication")
	}
	if len(users) == 0 {
		return errors.New("nats: set users: at least one user must remain")
	}
	next := s.opts.Clone()
	next.Users = users
	next.Accounts = accounts
	added := addsAccounts(s.ns, accounts)
	if err := s.ns.ReloadOptions(next.Clone()); err != nil {
		return fmt.Errorf("nats: reload users: %w", err)
	}
	s.opts = next
	if added {
		// nats-server v2.15 starts the service imports of an account a
		// reload creates only at the next reload, when the account exists
		// (server.go configureAccounts: "only if not reloading"); until
		// then a new tenant's publishes would find no stream. So reload
		// once more, which changes nothing else.
		if err := s.ns.ReloadOptions(next.Clone()); err != nil {
			return fmt.Errorf("nats: reload new accounts: %w", err)
		}
	}
	return nil
}

// addsAccounts reports whether accounts holds one the running server has
// not got.
func addsAccounts(ns *server.Server, accounts []*server.Account) bool {
	for _, a := range accounts {
		if _, err := ns.LookupAccount(a.Name); err != nil {
			return true
		}
	}
	return false
}

// Shutdown stops the server and returns once it has fully shut down, so
// the store dir can be reused straight away.
// Calling it again is a no-op.
func (s *Server) Shutdown() {
	s.stopOnce.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.log.Info("nats server stopped")
	})
}

// slogAdapter routes nats-server's own logging into slog.
type slogAdapter struct {
	log   *slog.Logger
	fatal chan<- string
}

// levelTrace sits below debug: slog has no trace level of its own.
const levelTrace = slog.LevelDebug - 4

func (a *slogAdapter) Noticef(format string, v ...any) { a.emit(slog.LevelInfo, format, v) }
func (a *slogAdapter) Warnf(format string, v ...any)   { a.emit(slog.LevelWarn, format, v) }
func (a *slogAdapter) Errorf(format string, v ...any)  { a.emit(slog.LevelError, format, v) }
func (a *slogAdapter) Debugf(format string, v ...any)  { a.emit(slog.LevelDebug, format, v) }
func (a *slogAdapter) Tracef(format string, v ...any)  { a.emit(levelTrace, format, v) }

// Fatalf must not exit the process (nats-server's own logger would); it
// logs and hands the message to Start, which fails instead.
func (a *slogAdapter) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	a.log.Error(msg, "fatal", true)
	select {
	case a.fatal <- msg:
	default: // Start already has one, or has returned.
	}
}

func (a *slogAdapter) emit(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !a.log.Enabled(ctx, level) {
		return
	}
	msg := fmt.Sprintf(format, v...)
	if strings.TrimSpace(msg) == "" {
		return // blank lines of nats-server's start-up banner
	}
	a.log.Log(ctx, level, msg)
}
