package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openfaas/faas-provider/auth"
	"github.com/openfaas/faas-provider/types"
	"github.com/prometheus/client_golang/prometheus"
)

// Provider names reported by /system/info.
const (
	ProviderName  = "mysimbdp-local"
	Orchestration = "process"
)

// Config is how a Provider runs. Zero durations and counts take the
// defaults documented on each field.
type Config struct {
	// DataDir holds the provider's state: state.json (deployments and
	// namespaces), secrets/ and replicas/ (each replica's work and secrets
	// folders). Required.
	DataDir string
	// ImagesDir is where package images lays out function executables. Required.
	ImagesDir string
	// SecretMountPath holds basic-auth-user and basic-auth-password, the
	// OpenFaaS secret-file convention for the /system API. Required.
	SecretMountPath string
	// DefaultNamespace is "openfaas-fn" if empty; it always exists.
	DefaultNamespace string
	// ColdStartTimeout bounds how long an invocation waits for a ready
	// replica when none is (scale from zero, crash restart). Default 30s.
	ColdStartTimeout time.Duration
	// StartTimeout bounds how long a starting replica may take to become
	// ready before it is killed and restarted. Default 30s.
	StartTimeout time.Duration
	// DrainTimeout bounds how long a replica leaving the pool waits for its
	// in-flight requests before it is sent SIGTERM, when it must go: on a
	// scale-down the operator forced (contract.QueryScaleForceStop), a
	// roll-out, a delete or Close. An ordinary scale-down waits as long
	// as the requests take. Default 30s.
	DrainTimeout time.Duration
	// StopTimeout is the grace between SIGTERM and SIGKILL. Default 10s.
	StopTimeout time.Duration
	// ReadyPollInterval is how often a starting replica's /_/ready is
	// polled; it is what a cold start costs on top of process start-up.
	// Default 3ms.
	ReadyPollInterval time.Duration
	// ProbeInterval is how often a running replica's /_/ready is checked so
	// that availableReplicas stays truthful. Default 1s.
	ProbeInterval time.Duration
	// RestartBackoffMin and RestartBackoffMax bound the exponential
	// back-off between restarts of a crashing replica. Defaults 100ms, 10s.
	RestartBackoffMin time.Duration
	RestartBackoffMax time.Duration
	// StableAfter is how long a replica must run for its back-off to reset.
	// Default 10s.
	StableAfter time.Duration
	// LogLines is how many log lines are kept per function. Default 2000.
	LogLines int
	// LogLineBytes truncates longer log lines. Default 16 KiB.
	LogLineBytes int
	// LogsTimeout bounds one /system/logs request, follow included. Default 5m.
	LogsTimeout time.Duration
	// MaxIdleConnsPerReplica is the keep-alive pool per replica. Default 256.
	MaxIdleConnsPerReplica int
	// MaxReplicas is a hard cap on any function's replicas, whatever its
	// labels say, so that one request cannot fork-bomb the host. Default 100.
	MaxReplicas int
	// Async stores the asynchronous invocations accepted on
	// /async-function/ (a JetStream stream the connector consumes); nil
	// answers them 503.
	Async Publisher
	// AsyncMaxBody bounds an asynchronous invocation's body; a larger one
	// is answered 413 (default 512 KiB: the message, headers included,
	// must fit NATS's max_payload, 1 MiB by default).
	AsyncMaxBody int64
	// AsyncPublishTimeout bounds storing one asynchronous invocation
	// before the client is answered 503 (default 5s).
	AsyncPublishTimeout time.Duration
	// Console serves the operator's dashboard under /ui/ (package
	// infra/console), behind the gateway's basic auth; nil: no /ui/.
	Console http.Handler
	// Version is reported by /system/info. Default "dev".
	Version string
	// SHA is reported by /system/info.
	SHA string
	// TenantUIDFirst and TenantUIDCount are the OS user ids given to
	// tenants (one each; the gid is the uid) when the provider runs as
	// root: a replica of a function labelled contract.LabelTenant runs as
	// its tenant's user. Defaults 200000 and 10000; a negative count keeps
	// every replica on the provider's user.
	TenantUIDFirst uint32
	TenantUIDCount int64
	// RunDir is where, when tenants get users of their own, the folder
	// holding the replicas' work and secrets folders is made (one per
	// start, outside DataDir, which replicas cannot enter). Default: the
	// system's temporary folder.
	RunDir string
}

func (c *Config) setDefaults() error {
	if c.DataDir == "" {
		return errors.New("config: DataDir is required")
	}
	if c.ImagesDir == "" {
		return errors.New("config: ImagesDir is required")
	}
	if c.SecretMountPath == "" {
		return errors.New("config: SecretMountPath is required (basic-auth-user and basic-auth-password files)")
	}
	if c.DefaultNamespace == "" {
		c.DefaultNamespace = "openfaas-fn"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ColdStartTimeout, 30*time.Second)
	def(&c.StartTimeout, 30*time.Second)
	def(&c.DrainTimeout, 30*time.Second)
	def(&c.StopTimeout, 10*time.Second)
	def(&c.ReadyPollInterval, 3*time.Millisecond)
	def(&c.ProbeInterval, time.Second)
	def(&c.RestartBackoffMin, 100*time.Millisecond)
	def(&c.RestartBackoffMax, 10*time.Second)
	def(&c.StableAfter, 10*time.Second)
	def(&c.LogsTimeout, 5*time.Minute)
	def(&c.AsyncPublishTimeout, 5*time.Second)
	if c.AsyncMaxBody <= 0 {
		c.AsyncMaxBody = 512 << 10
	}
	if c.LogLines <= 0 {
		c.LogLines = 2000
	}
	if c.LogLineBytes <= 0 {
		c.LogLineBytes = 16 << 10
	}
	if c.MaxIdleConnsPerReplica <= 0 {
		c.MaxIdleConnsPerReplica = 256
	}
	if c.MaxReplicas <= 0 {
		c.MaxReplicas = 100
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.TenantUIDCount == 0 {
		c.TenantUIDFirst, c.TenantUIDCount = defaultTenantUIDFirst, defaultTenantUIDCount
	}
	if c.TenantUIDCount > 0 && (c.TenantUIDFirst == 0 || uint64(c.TenantUIDFirst)+uint64(c.TenantUIDCount) > 1<<31) {
		return fmt.Errorf("config: tenant uids %d..+%d must be above 0 and below 2^31", c.TenantUIDFirst, c.TenantUIDCount)
	}
	return nil
}

// fnKey identifies a function; a struct key keeps the invocation path's
// map lookup free of string concatenation.
type fnKey struct{ name, namespace string }

// Provider runs functions as local processes behind the OpenFaaS API.
type Provider struct {
	cfg   Config
	log   *slog.Logger
	creds *auth.BasicAuthCredentials

	// ctx is cancelled by Close after draining; replica supervisors that are
	// still running then stop their processes.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the provider starts
	lifeMu sync.Mutex     // orders goTracked's wg.Add before Close's wg.Wait
	closed atomic.Bool
	// closing is closed when Close begins: a drain that waits for a busy
	// replica as long as it takes is bounded from then on.
	closing chan struct{}

	mu         sync.RWMutex
	functions  map[fnKey]*function
	namespaces map[string]types.FunctionNamespace

	persistMu sync.Mutex // serialises state.json writes
	secretsMu sync.Mutex // serialises secret file writes

	seq       atomic.Uint64 // replica ids
	transport *http.Transport
	// dialer opens the synchronous hop's connections (hop.go).
	dialer  *net.Dialer
	probe   *http.Client
	bufs    sync.Pool // proxy copy buffers
	metrics *metrics
	handler http.Handler

	// runDir is the replicas' run folder when tenants get OS users of
	// their own ("" when not: replicas then live in DataDir/replicas).
	runDir string
	// tenantUIDs is each tenant's OS user id (persisted). uidMu is a leaf
	// lock: replicas are made under a function's lock.
	uidMu      sync.Mutex
	tenantUIDs map[string]uint32
}

// New loads persisted namespaces and deployments from cfg.DataDir and
// starts their replicas. Replicas start in the background; New does not
// wait for them to become ready.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Provider, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reader := auth.ReadBasicAuthFromDisk{SecretMountPath: cfg.SecretMountPath}
	creds, err := reader.Read()
	if err != nil {
		return nil, fmt.Errorf("read basic auth credentials from %s: %w", cfg.SecretMountPath, err)
	}
	for _, d := range []string{cfg.DataDir, filepath.Join(cfg.DataDir, "secrets")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create data folder: %w", err)
		}
		// An older folder may be open to others: it holds every secret.
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, fmt.Errorf("restrict data folder: %w", err)
		}
	}
	// Replica folders are per process; leftovers belong to processes of a
	// previous run that are gone (Pdeathsig), so start clean.
	if err := os.RemoveAll(filepath.Join(cfg.DataDir, "replicas")); err != nil {
		return nil, fmt.Errorf("clean replica folders: %w", err)
	}

	// The provider outlives New's ctx (which only bounds start-up I/O), so
	// its own context is detached from it.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &Provider{
		cfg:        cfg,
		log:        log,
		creds:      creds,
		ctx:        pctx,
		cancel:     cancel,
		functions:  map[fnKey]*function{},
		namespaces: map[string]types.FunctionNamespace{},
		metrics:    newMetrics(),
		closing:    make(chan struct{}),
		tenantUIDs: map[string]uint32{},
	}
	if err := p.setupIsolation(); err != nil {
		cancel()
		return nil, err
	}
	p.bufs.New = func() any { b := make([]byte, 32<<10); return &b }
	// One shared transport with large keep-alive pools: the invocation path
	// must not dial per request. Compression is left to the function so
	// bodies pass through untouched.
	p.dialer = &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	p.transport = &http.Transport{
		DialContext:         p.dialer.DialContext,
		MaxIdleConns:        0, // no global cap; per-host cap below
		MaxIdleConnsPerHost: cfg.MaxIdleConnsPerReplica,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		WriteBufferSize:     32 << 10,
		ReadBufferSize:      32 << 10,
	}
	p.probe = &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
		Timeout: 2 * time.Second,
	}
	p.namespaces[cfg.DefaultNamespace] = types.FunctionNamespace{
		Name:   cfg.DefaultNamespace,
		Labels: map[string]string{"openfaas": "1"},
	}

	st, err := p.loadState()
	if err != nil {
		cancel()
		return nil, err
	}
	for _, ns := range st.Namespaces {
		p.namespaces[ns.Name] = ns
	}
	maps.Copy(p.tenantUIDs, st.TenantUIDs)
	for _, pf := range st.Functions {
		spec := pf.Spec
		path, err := p.imagePath(spec.Image)
		if err != nil {
			// Keep the function so it can be listed, updated or deleted;
			// its replicas will keep failing to start and say why.
			log.Error("persisted function's image is not runnable", "function", spec.Service, "namespace", spec.Namespace, "err", err)
		}
		fn := p.newFunction(spec, path, pf.CreatedAt)
		p.functions[fnKey{spec.Service, spec.Namespace}] = fn
		fn.scale(pf.Replicas, drainUntilIdle)
		log.Info("restored function", "function", spec.Service, "namespace", spec.Namespace, "replicas", pf.Replicas)
	}
	p.handler = p.router()
	return p, nil
}

// Registry is the provider's own metrics registry (what /metrics serves).
func (p *Provider) Registry() *prometheus.Registry { return p.metrics.reg }

// Handler is the whole provider API.
func (p *Provider) Handler() http.Handler { return p.handler }

// Close drains and stops every replica and waits for every process to
// exit. When ctx ends first, remaining processes are killed and Close
// still waits for them to be reaped before it returns ctx's error.
func (p *Provider) Close(ctx context.Context) error {
	p.lifeMu.Lock()
	already := p.closed.Swap(true)
	p.lifeMu.Unlock()
	if already {
		return nil
	}
	close(p.closing)
	p.mu.Lock()
	fns := make([]*function, 0, len(p.functions))
	for _, fn := range p.functions {
		fns = append(fns, fn)
	}
	p.mu.Unlock()

	var wg sync.WaitGroup
	for _, fn := range fns {
		for _, r := range fn.removeAll() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.drainAndStop(ctx, drainBounded)
			}()
		}
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		p.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("close provider: %w", ctx.Err())
	}
	// Cancelling the provider context makes every supervisor still running
	// (drains cut short by ctx) kill its process.
	p.cancel()
	<-done
	p.transport.CloseIdleConnections()
	p.probe.CloseIdleConnections()
	for _, fn := range fns {
		fn.logs.close()
	}
	if p.runDir != "" {
		if rmErr := os.RemoveAll(p.runDir); rmErr != nil {
			p.log.Warn("remove replica run folder", "dir", p.runDir, "err", rmErr)
		}
	}
	return err
}

// lookup returns a function or nil.
func (p *Provider) lookup(name, namespace string) *function {
	p.mu.RLock()
	fn := p.functions[fnKey{name, namespace}]
	p.mu.RUnlock()
	return fn
}

// namespaceOf defaults an empty namespace.
func (p *Provider) namespaceOf(ns string) string {
	if ns == "" {
		return p.cfg.DefaultNamespace
	}
	return ns
}

func (p *Provider) namespaceExists(ns string) bool {
	p.mu.RLock()
	_, ok := p.namespaces[ns]
	p.mu.RUnlock()
	return ok
}

// goTracked runs f in a goroutine that Close waits for. It refuses (and
// returns false) once Close has begun, so nothing starts behind Close.
func (p *Provider) goTracked(f func()) bool {
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	if p.closed.Load() {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}
