// Package minioserver runs the MinIO server as a child process, giving the
// platform S3-compatible object storage without Docker.
//
// MinIO is AGPL-licensed, so it is never linked into this module: the
// binary is built separately (./scripts/setup puts it in bin/minio) and
// only talked to over HTTP.
package minioserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/local/freeport"

	"github.com/mysimbdp/mysimbdp/infra/local/setupbin"
	"github.com/mysimbdp/mysimbdp/shared/trust"
)

// Defaults used when the matching Config field is zero.
const (
	DefaultRootUser     = "minioadmin"
	DefaultRootPassword = "minioadmin"
	DefaultReadyTimeout = 30 * time.Second
	DefaultStopTimeout  = 10 * time.Second
)

// tailLines is how much of the child's output an early-exit error quotes.
const tailLines = 20

// Config says which binary to run and how.
type Config struct {
	// Binary is the path of the minio executable (normally <repo>/bin/minio).
	Binary string
	// DataDir is MinIO's single drive; created if missing, reused across
	// restarts. Required.
	DataDir string
	// Address is the S3 API host:port. Empty or port 0 picks a free port
	// on 127.0.0.1 (or the given host).
	Address string
	// ConsoleAddress is the web console host:port, picked like Address.
	ConsoleAddress string
	// RootUser and RootPassword are the admin credentials; empty means
	// minioadmin/minioadmin (MinIO wants a password of 8+ characters).
	RootUser, RootPassword string
	// Env is extra environment for the child (e.g. MINIO_NOTIFY_NATS_*);
	// it overrides anything set by this package.
	Env []string
	// Output, if set, also receives the child's raw stdout and stderr.
	Output io.Writer
	// ReadyTimeout bounds the wait for /minio/health/cluster; 0 means
	// DefaultReadyTimeout. A context deadline, if sooner, wins.
	ReadyTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL;
	// 0 means DefaultStopTimeout.
	StopTimeout time.Duration
	// CertsDir, when set, is MinIO's --certs-dir (public.crt, private.key,
	// CAs/): it then serves https only, and reloads the pair when the
	// files change. CAFile is the CA the ready check trusts.
	CertsDir, CAFile string
}

// Server is a running MinIO child process.
type Server struct {
	cmd         *exec.Cmd
	endpoint    string
	console     string
	listen      string // as given to --address, port resolved
	listenCon   string // as given to --console-address
	user, pass  string
	stopTimeout time.Duration
	log         *slog.Logger
	out         *lineLog
	exited      chan struct{} // closed once the child has been reaped
	exitErr     error         // valid after exited is closed
	stopOnce    sync.Once
	stopErr     error
	secure      bool
	caFile      string
}

// Start runs MinIO and returns once it reports ready. ctx bounds start-up
// only; the child runs until Stop (or until this process dies: it gets
// SIGKILL then, so it is never orphaned).
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "minio")
	if err := setupbin.Check("MinIO server binary", cfg.Binary); err != nil {
		return nil, err
	}
	if cfg.DataDir == "" {
		return nil, errors.New("start minio: Config.DataDir is empty")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("start minio: create data dir: %w", err)
	}

	// freeport's answer can be stale by the time MinIO binds it; ports we
	// picked ourselves are worth a few more tries, ports the caller chose
	// are not.
	const attempts = 3
	for i := 1; ; i++ {
		addr, console, err := listenAddrs(ctx, cfg)
		if err == nil {
			var s *Server
			if s, err = startOnce(ctx, cfg, addr, console, log); err == nil {
				return s, nil
			}
		}
		var inUse *addrInUseError
		if !errors.As(err, &inUse) || !inUse.picked || i == attempts || ctx.Err() != nil {
			return nil, err
		}
		log.WarnContext(ctx, "port taken before minio could bind it; retrying", "attempt", i, "err", err)
	}
}

// addrInUseError reports a taken port; picked says whether this package
// chose the port (so another one may be tried).
type addrInUseError struct {
	addr   string
	picked bool
	err    error
}

func (e *addrInUseError) Error() string {
	return fmt.Sprintf("minio: listen %s: address already in use — pick another address: %v", e.addr, e.err)
}

func (e *addrInUseError) Unwrap() error { return e.err }

// listenAddrs resolves and probes the API and console addresses.
func listenAddrs(ctx context.Context, cfg Config) (addr, console string, err error) {
	if addr, err = resolveAddr(cfg.Address); err != nil {
		return "", "", err
	}
	// Two freeport answers in a row may coincide; ask again if so.
	for range 3 {
		if console, err = resolveAddr(cfg.ConsoleAddress); err != nil {
			return "", "", err
		}
		if console != addr || !isAuto(cfg.ConsoleAddress) {
			break
		}
	}
	if console == addr {
		return "", "", fmt.Errorf("minio: API and console addresses are both %s", addr)
	}
	if err := probe(ctx, addr, isAuto(cfg.Address)); err != nil {
		return "", "", err
	}
	if err := probe(ctx, console, isAuto(cfg.ConsoleAddress)); err != nil {
		return "", "", err
	}
	return addr, console, nil
}

func isAuto(addr string) bool {
	if addr == "" {
		return true
	}
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port == "0"
}

// resolveAddr fills in a free port where the caller left it open.
func resolveAddr(addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("minio: address %q: %w", addr, err)
	}
	if port != "0" {
		return addr, nil
	}
	p, err := freeport.Get()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// probe fails fast, naming the address, when a port is taken: MinIO's own
// message for it is less clear and comes only after it has started up.
func probe(ctx context.Context, addr string, picked bool) error {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return &addrInUseError{addr: addr, picked: picked, err: err}
		}
		return fmt.Errorf("minio: listen %s: %w", addr, err)
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("minio: probe %s: %w", addr, err)
	}
	return nil
}

func startOnce(ctx context.Context, cfg Config, addr, console string, log *slog.Logger) (*Server, error) {
	s := &Server{
		endpoint:    dialable(addr),
		console:     dialable(console),
		listen:      addr,
		listenCon:   console,
		user:        orDefault(cfg.RootUser, DefaultRootUser),
		pass:        orDefault(cfg.RootPassword, DefaultRootPassword),
		stopTimeout: cfg.StopTimeout,
		log:         log,
		exited:      make(chan struct{}),
		secure:      cfg.CertsDir != "",
		caFile:      cfg.CAFile,
	}
	if s.stopTimeout <= 0 {
		s.stopTimeout = DefaultStopTimeout
	}
	s.out = &lineLog{log: log, also: cfg.Output}

	// Not CommandContext: ctx only bounds start-up, and Stop shuts the
	// child down gracefully rather than with a bare kill.
	args := []string{"server", "--address", addr, "--console-address", console}
	if cfg.CertsDir != "" {
		args = append(args, "--certs-dir", cfg.CertsDir)
	}
	cmd := exec.Command(cfg.Binary, append(args, cfg.DataDir)...)
	cmd.Env = childEnv(s.user, s.pass, cfg.Env)
	cmd.Stdout = s.out
	cmd.Stderr = s.out
	// Own process group, so Stop can signal MinIO and anything it spawns;
	// Pdeathsig so the kernel kills it if this process dies without Stop
	// (it fires when the OS thread that forked exits, which for Go's
	// long-lived threads means the process).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Don't let a stray holder of the output pipe block Wait forever.
	cmd.WaitDelay = 2 * time.Second
	s.cmd = cmd

	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start minio %s: %w", cfg.Binary, err)
	}
	go func() {
		s.exitErr = cmd.Wait()
		s.out.flush()
		close(s.exited)
	}()
	log.DebugContext(ctx, "minio started", "pid", cmd.Process.Pid, "address", addr, "console", console, "data_dir", cfg.DataDir)

	if err := s.waitReady(ctx, cfg.ReadyTimeout); err != nil {
		_ = s.Stop(context.Background())
		var inUse *addrInUseError
		if errors.As(err, &inUse) {
			// MinIO lost a race for one of the ports after the probe.
			inUse.addr = addr + " or " + console
			inUse.picked = isAuto(cfg.Address) || isAuto(cfg.ConsoleAddress)
			return nil, inUse
		}
		return nil, fmt.Errorf("start minio on %s: %w", addr, err)
	}
	log.InfoContext(ctx, "minio ready", "endpoint", s.endpoint, "console", s.console, "data_dir", cfg.DataDir)
	return s, nil
}

// waitReady polls MinIO's cluster health check until it answers 200, the
// child exits, or the deadline passes. Not /minio/health/ready or /live:
// those answer 200 before the object layer, IAM and bucket metadata are
// loaded, and S3 calls made then fail with "Server not initialized yet".
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A probe in flight is cut short when the child dies: whatever still
	// answers on the port then is not our MinIO.
	probeCtx, cancelProbe := context.WithCancel(ctx)
	defer cancelProbe()
	go func() {
		select {
		case <-s.exited:
			cancelProbe()
		case <-probeCtx.Done():
		}
	}()
	url := s.URL() + "/minio/health/cluster"
	// Own transport without keep-alives: nothing lingers after Start.
	tr := &http.Transport{DisableKeepAlives: true}
	if err := trust.HTTP(tr, s.caFile); err != nil {
		return err
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: tr}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		ok, err := probeReady(probeCtx, client, url)
		select {
		case <-s.exited:
			return s.earlyExitError()
		default:
		}
		if ok {
			return nil
		}
		lastErr = err
		select {
		case <-s.exited:
			return s.earlyExitError()
		case <-ctx.Done():
			return fmt.Errorf("wait for readiness (timeout %s): %w (last probe: %v); last output:\n%s",
				timeout, context.Cause(ctx), lastErr, s.out.tail())
		case <-tick.C:
		}
	}
}

func probeReady(ctx context.Context, client *http.Client, url string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return true, nil
}

func (s *Server) earlyExitError() error {
	tail := s.out.tail()
	lower := strings.ToLower(tail)
	if strings.Contains(lower, "address already in use") || strings.Contains(lower, "port is already in use") {
		return &addrInUseError{err: fmt.Errorf("minio exited early (%v); last output:\n%s", s.exitErr, tail)}
	}
	return fmt.Errorf("minio exited early (%v); last output:\n%s", s.exitErr, tail)
}

// Endpoint is the S3 API host:port to give minio-go.
func (s *Server) Endpoint() string { return s.endpoint }

// Secure reports whether MinIO serves https (Config.CertsDir).
func (s *Server) Secure() bool { return s.secure }

// URL is the S3 API's base URL, http:// or https://.
func (s *Server) URL() string {
	if s.secure {
		return "https://" + s.endpoint
	}
	return "http://" + s.endpoint
}

// ConsoleAddress is the web console's host:port.
func (s *Server) ConsoleAddress() string { return s.console }

// ListenAddress and ConsoleListenAddress are the addresses MinIO was told
// to listen on, with the ports it got: a restart passes them again so that
// clients find it where it was.
func (s *Server) ListenAddress() string { return s.listen }

// ConsoleListenAddress: see ListenAddress.
func (s *Server) ConsoleListenAddress() string { return s.listenCon }

// Pid is the child's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Done is closed once the child has exited, asked to or not.
func (s *Server) Done() <-chan struct{} { return s.exited }

// ExitErr says how the child exited ("signal: killed"); valid once Done
// is closed.
func (s *Server) ExitErr() error {
	select {
	case <-s.exited:
		return s.exitErr
	default:
		return nil
	}
}

// RootUser is the admin access key.
func (s *Server) RootUser() string { return s.user }

// RootPassword is the admin secret key.
func (s *Server) RootPassword() string { return s.pass }

// Stop sends SIGTERM to the child's process group, waits up to
// StopTimeout (or until ctx ends) for it to exit, then SIGKILLs the group.
// It returns once the child has been reaped. Calling it again returns the
// first result.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	pgid := s.cmd.Process.Pid // Setpgid: the group id is the child's pid
	select {
	case <-s.exited:
		return nil // already gone (e.g. early exit during Start)
	default:
	}
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		s.log.WarnContext(ctx, "SIGTERM minio", "pid", pgid, "err", err)
	}
	timer := time.NewTimer(s.stopTimeout)
	defer timer.Stop()
	var result error
	select {
	case <-s.exited:
		s.log.InfoContext(ctx, "minio stopped", "endpoint", s.endpoint)
		return nil
	case <-timer.C:
		s.log.WarnContext(ctx, "minio did not stop after SIGTERM; killing it", "grace", s.stopTimeout)
	case <-ctx.Done():
		result = fmt.Errorf("stop minio on %s: %w (killed)", s.endpoint, context.Cause(ctx))
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop minio on %s: SIGKILL group %d: %w", s.endpoint, pgid, err)
	}
	// SIGKILL cannot be ignored, and WaitDelay bounds the output copy.
	<-s.exited
	return result
}

// childEnv passes on this process's environment minus MINIO_* variables,
// which would silently reconfigure the child, then adds ours.
func childEnv(user, pass string, extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"MINIO_ROOT_USER="+user,
		"MINIO_ROOT_PASSWORD="+pass,
		// Update checks are pointless for a locally built binary.
		"MINIO_UPDATE=off",
	)
	// exec uses the last value of a duplicated key, so extra wins.
	return append(env, extra...)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// dialable turns a listen address into one clients can connect to.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// lineLog turns the child's output into one slog record per line and
// keeps the last lines for error messages. exec serialises writes when
// Stdout and Stderr are the same writer, but tail and flush run on other
// goroutines, hence the mutex.
type lineLog struct {
	log  *slog.Logger
	also io.Writer

	mu    sync.Mutex
	buf   []byte
	lines []string
}

func (w *lineLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.also != nil {
		_, _ = w.also.Write(p) // a broken side copy must not stop MinIO
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lineLog) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

// emit must be called with mu held.
func (w *lineLog) emit(line string) {
	line = strings.TrimRight(line, "\r ")
	if strings.TrimSpace(line) == "" {
		return
	}
	w.lines = append(w.lines, line)
	if len(w.lines) > tailLines {
		w.lines = w.lines[len(w.lines)-tailLines:]
	}
	w.log.Log(context.Background(), levelOf(line), line)
}

func (w *lineLog) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// levelOf maps MinIO's text prefixes to slog levels.
func levelOf(line string) slog.Level {
	l := strings.ToUpper(line)
	switch {
	case strings.HasPrefix(l, "ERROR"), strings.HasPrefix(l, "FATAL"),
		strings.HasPrefix(l, "API: SYSTEM"), strings.Contains(l, "UNABLE TO"):
		return slog.LevelError
	case strings.HasPrefix(l, "WARN"), strings.HasPrefix(l, "INFO: WARNING"):
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
