// Package fnrun is the runtime every mysimbdp function runs in: the part of
// OpenFaaS's of-watchdog that a Go function built from the golang-mysimbdp
// template needs, compiled into the function's own binary.
//
// It serves the function's handler on the port given by the environment
// (many replicas share one host when the local provider runs them), answers
// the health and readiness probes, applies the watchdog's timeouts and, on
// SIGTERM, stops taking new work and drains what is in flight before it
// exits, so that scaling down never cuts a request short.
//
// The environment follows of-watchdog's names, so a function image behaves
// the same under faas-netes, faasd and mysimbdp's local provider:
//
//	port           TCP port to listen on (default 8080)
//	read_timeout   longest time to read a request (default 10s)
//	write_timeout  longest time to write a response (default 10s)
//	exec_timeout   longest time a handler may run; 0 means no limit (default 10s)
//
// Durations are Go durations ("1m30s") or whole seconds ("90").
//
// When the function has an invocation key (the secret
// MYSIMBDP_INVOKE_KEY_SECRET names), every request to its handler must be
// signed with it (shared/invokesig): an unsigned, wrongly signed or stale
// one gets 401 before the handler runs. Without a key it says once, at
// start, that invocations are not verified. A function may take requests
// of some methods (MYSIMBDP_INVOKE_HANDLER_AUTH, e.g. GET) with an
// Authorization header instead of a signature; its handler then checks
// those credentials itself (the stats function's readers do that).
//
// On AWS Lambda (AWS_LAMBDA_RUNTIME_API is set) Main serves the same
// handler through shared/lambdafn instead: no port, no probes, Lambda's own
// timeout, and no signature check (IAM decides who may invoke).
package fnrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
	"github.com/mysimbdp/mysimbdp/shared/lambdafn"
	"github.com/mysimbdp/mysimbdp/shared/secret"
)

// Probe paths, the ones of-watchdog serves.
const (
	HealthPath = "/_/health"
	ReadyPath  = "/_/ready"
)

// Config is how a function process serves its handler.
type Config struct {
	// Port to listen on, on all interfaces (a container's network is its own;
	// the local provider gives each replica a distinct port).
	Port int
	// Host to bind; empty means all interfaces.
	Host         string
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// ExecTimeout bounds one handler call; 0 means no bound.
	ExecTimeout time.Duration
	// DrainTimeout bounds how long SIGTERM waits for in-flight requests.
	// It defaults to WriteTimeout, the longest a request may legitimately take.
	DrainTimeout time.Duration
	// InvokeKey, when set, is the function's invocation key: every
	// request to the handler (not the probes) must be signed with it
	// (shared/invokesig) within InvokeWindow (default
	// invokesig.DefaultWindow), else it gets 401 and the handler does not
	// run. Main reads it from the secret contract.EnvInvokeKeySecret
	// names. Verifying reads the body first, at most MaxSignedBody bytes
	// (default DefaultMaxSignedBody).
	InvokeKey     string
	InvokeWindow  time.Duration
	MaxSignedBody int64
	// HandlerAuth are the HTTP methods (upper case) whose requests the
	// handler authenticates itself: one of them that carries an
	// Authorization header reaches the handler without a signature, and
	// the handler must refuse it unless its credentials are good. Every
	// other request still needs the signature. Main reads it from
	// contract.EnvInvokeHandlerAuth. It matters only with an InvokeKey.
	HandlerAuth []string
}

// ConfigFromEnv reads Config from the of-watchdog environment variables.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{Port: 8080, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, ExecTimeout: 10 * time.Second}
	if v := getenv("port"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p <= 0 || p > 65535 {
			return c, fmt.Errorf("env port=%q: want a TCP port number", v)
		}
		c.Port = p
	}
	c.Host = getenv("host")
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"read_timeout", &c.ReadTimeout}, {"write_timeout", &c.WriteTimeout}, {"exec_timeout", &c.ExecTimeout}} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		dur, err := parseDuration(v)
		if err != nil {
			return c, fmt.Errorf("env %s=%q: %w", d.name, v, err)
		}
		*d.dst = dur
	}
	c.DrainTimeout = c.WriteTimeout
	return c, nil
}

func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, errors.New("want a non-negative duration")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New(`want a duration such as "30s" or a number of seconds`)
	}
	if d < 0 {
		return 0, errors.New("want a non-negative duration")
	}
	return d, nil
}

// Main runs handler as the function process: it reads the configuration
// from the environment, serves until SIGTERM or SIGINT, drains, and exits.
// It is what the template's main.go calls. Under AWS Lambda's runtime API
// it serves Lambda invocations with the same handler instead.
func Main(handler http.HandlerFunc) {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	// The function validates the settings it needs itself (its handler's
	// ConfigFromEnv); here the process only says which old names it read.
	env, _ := contract.FromEnv(os.Getenv)
	env.Warn(log)
	if env.LambdaRuntimeAPI != "" {
		lambdafn.Start(handler, log) // never returns
		return
	}
	cfg, err := ConfigFromEnv(os.Getenv)
	if err != nil {
		log.Error("function configuration", "err", err)
		os.Exit(2)
	}
	if cfg.InvokeKey, err = invokeKey(env); err != nil {
		log.Error("function invocation key", "err", err)
		os.Exit(2)
	}
	cfg.HandlerAuth = env.InvokeHandlerAuth
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := Serve(ctx, handler, cfg, log); err != nil {
		log.Error("function stopped", "err", err)
		os.Exit(1)
	}
}

// Serve serves handler until ctx is done, then drains in-flight requests
// (bounded by cfg.DrainTimeout) and returns. The listener is bound before
// Serve returns an error for a taken port, so a supervisor sees the failure.
func Serve(ctx context.Context, handler http.Handler, cfg Config, log *slog.Logger) error {
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ServeListener(ctx, ln, handler, cfg, log)
}

// ServeListener is Serve on a listener the caller has bound.
func ServeListener(ctx context.Context, ln net.Listener, handler http.Handler, cfg Config, log *slog.Logger) error {
	var draining atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc(HealthPath, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("OK"))
	})
	mux.HandleFunc(ReadyPath, func(w http.ResponseWriter, r *http.Request) {
		// A draining replica must leave the load balancer's pool before it
		// stops listening; answering 503 here is how it asks to.
		if draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("OK"))
	})
	var fn http.Handler = handler
	if cfg.ExecTimeout > 0 {
		fn = execTimeout(handler, cfg.ExecTimeout)
	}
	if len(cfg.InvokeKey) > 0 {
		window, maxBody := cfg.InvokeWindow, cfg.MaxSignedBody
		if window <= 0 {
			window = invokesig.DefaultWindow
		}
		if maxBody <= 0 {
			maxBody = DefaultMaxSignedBody
		}
		fn = verified(fn, []byte(cfg.InvokeKey), cfg.HandlerAuth, window, maxBody, time.Now, log)
	} else {
		log.Warn("invocations are not verified: anyone who reaches the gateway may invoke this function",
			"fix", "give the function its invocation key as the secret "+contract.EnvInvokeKeySecret+" names")
	}
	mux.Handle("/", fn)

	srv := &http.Server{
		Handler:      mux,
		ReadTimeout:  cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("function ready", "addr", ln.Addr().String(), "read_timeout", cfg.ReadTimeout.String(), "write_timeout", cfg.WriteTimeout.String(), "exec_timeout", cfg.ExecTimeout.String())

	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	draining.Store(true)
	drain := cfg.DrainTimeout
	if drain <= 0 {
		drain = 10 * time.Second
	}
	log.Info("draining in-flight requests", "timeout", drain.String())
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("drain within %s: %w", drain, err)
	}
	log.Info("function stopped cleanly")
	return nil
}

// ReadSecret returns the value of an OpenFaaS secret given to the function
// (see shared/secret for where secrets are).
func ReadSecret(name string) (string, error) {
	env, _ := contract.FromEnv(os.Getenv)
	b, _, err := secret.Read(env.SecretsDir, name)
	return string(b), err
}
