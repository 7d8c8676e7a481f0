package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/local/freeport"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/openfaas/faas-provider/types"
)

// replica is one slot of a function's pool, supervised by run: the slot
// keeps its id across process restarts, while port and pid change.
type replica struct {
	p       *Provider
	fn      *function
	id      string
	seq     uint64
	gen     int
	exe     string
	env     []string
	secrets []string
	dir     string
	as      *runAs // the OS user the process runs as; nil: the provider's

	addr     atomic.Pointer[string] // host:port of the current process
	hops     hopPool                // kept-alive connections of the synchronous hop
	ready    atomic.Bool            // in the balancer's eyes
	inflight atomic.Int64
	pid      atomic.Int64
	clash    atomic.Bool // the current process reported its port taken

	stopCtx context.Context // cancelled to stop the slot for good
	stop    context.CancelFunc
	// abortCtx is cancelled when the replica is stopped while requests
	// are still in flight on it: the proxy then answers them at once
	// (503, try again) instead of when the process finally dies.
	abortCtx context.Context
	abort    context.CancelFunc
	// forced is closed (once, by forceStop) when an operator forces a
	// scale-down: a drain waiting for this replica to go idle is bounded
	// from then on.
	forced    chan struct{}
	forceOnce sync.Once
	done      chan struct{} // closed when the slot's process is gone
}

// newReplica creates a slot and starts supervising it.
func (p *Provider) newReplica(fn *function, gen int, spec types.FunctionDeployment, exe string) *replica {
	seq := p.seq.Add(1)
	id := fmt.Sprintf("%s-%d", fn.name, seq)
	env := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range spec.EnvVars {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	as, asErr := p.identityFor(spec)
	r := &replica{
		p:       p,
		fn:      fn,
		id:      id,
		seq:     seq,
		gen:     gen,
		exe:     exe,
		env:     env,
		secrets: slices.Clone(spec.Secrets),
		dir:     filepath.Join(p.replicaRoot(as), fn.namespace, fn.name, id),
		as:      as,
		done:    make(chan struct{}),
		forced:  make(chan struct{}),
		hops:    hopPool{max: p.cfg.MaxIdleConnsPerReplica},
	}
	if asErr != nil {
		// Never fall back to the provider's user for a tenant's code: the
		// replica keeps failing to start and says why.
		r.exe = ""
		p.log.Error("replica has no OS user of its own; it will not start", append(r.logAttrs(), "err", asErr)...)
	}
	r.stopCtx, r.stop = context.WithCancel(p.ctx)
	r.abortCtx, r.abort = context.WithCancel(p.ctx)
	if !p.goTracked(r.run) {
		// The provider is closing: there is no process to wait for.
		r.stop()
		close(r.done)
	}
	return r
}

// drainMode is how long a replica leaving its pool may keep working.
type drainMode int

const (
	// drainUntilIdle waits for its in-flight requests as long as they
	// take (until Close begins, when the bound applies): scaling down
	// never cuts an invocation short.
	drainUntilIdle drainMode = iota
	// drainBounded waits at most DrainTimeout, then stops it anyway: a
	// forced scale-down, a roll-out, a delete, Close.
	drainBounded
)

// forceStop bounds the replica's drain by DrainTimeout from now on.
func (r *replica) forceStop() { r.forceOnce.Do(func() { close(r.forced) }) }

// drainAndStop is for a replica already out of the pool: it waits for its
// in-flight requests as mode says (and at most until ctx ends), then stops
// the process (SIGTERM, SIGKILL after StopTimeout) and waits until it is
// gone. Requests still in flight then are answered at once by the proxy.
func (r *replica) drainAndStop(ctx context.Context, mode drainMode) {
	r.ready.Store(false)
	if n := r.inflight.Load(); n > 0 && mode == drainUntilIdle {
		r.p.log.Info("replica left the pool while busy; it stops once its requests finish", append(r.logAttrs(), "inflight", n)...)
	}
	if !r.waitIdle(ctx, mode) {
		r.p.log.Warn("replica still busy after the drain bound; stopping it anyway", append(r.logAttrs(), "inflight", r.inflight.Load())...)
		r.abort()
	}
	r.stop()
	<-r.done
	r.abort()
	r.fn.mu.Lock()
	delete(r.fn.draining, r)
	r.fn.mu.Unlock()
}

// waitIdle waits until no request is in flight, as long as mode allows
// and ctx lasts; it reports whether the replica went idle.
func (r *replica) waitIdle(ctx context.Context, mode drainMode) bool {
	if r.inflight.Load() == 0 {
		return true
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var bound <-chan time.Time
	closing, forced := r.p.closing, r.forced
	startBound := func() {
		t := time.NewTimer(r.p.cfg.DrainTimeout)
		bound, closing, forced = t.C, nil, nil
	}
	if mode == drainBounded {
		startBound()
	}
	for r.inflight.Load() > 0 {
		select {
		case <-tick.C:
		case <-closing:
			startBound()
		case <-forced:
			startBound()
		case <-bound:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

func (r *replica) logAttrs() []any {
	return []any{"function", r.fn.name, "namespace", r.fn.namespace, "replica", r.id}
}

// run supervises the slot until it is stopped: it starts the process,
// waits for readiness, and restarts the process with exponential back-off
// when it exits unexpectedly.
func (r *replica) run() {
	defer close(r.done)
	defer r.hops.close()
	defer func() {
		if err := os.RemoveAll(r.dir); err != nil {
			r.p.log.Warn("remove replica folder", append(r.logAttrs(), "err", err)...)
		}
	}()
	log := r.p.log.With(r.logAttrs()...)
	backoff := r.p.cfg.RestartBackoffMin
	clashes := 0
	for r.stopCtx.Err() == nil {
		began := time.Now()
		wasReady, err := r.runOnce()
		r.ready.Store(false)
		r.pid.Store(0)
		if r.stopCtx.Err() != nil {
			return
		}
		// Another process can take the port between freeport.Get and the
		// child's bind; that is not a crash, so retry at once on a new port.
		if r.clash.Load() && !wasReady && clashes < 5 {
			clashes++
			log.Info("replica port was taken; retrying on a new port", "err", err)
			continue
		}
		clashes = 0
		if time.Since(began) >= r.p.cfg.StableAfter {
			backoff = r.p.cfg.RestartBackoffMin
		}
		log.Warn("replica exited unexpectedly; restarting", "err", err, "ran", time.Since(began).Round(time.Millisecond), "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-r.stopCtx.Done():
			t.Stop()
			return
		}
		backoff = min(backoff*2, r.p.cfg.RestartBackoffMax)
	}
}

// runOnce runs one process of the slot until it exits or the slot is
// stopped. It reports whether the process became ready and why it ended.
func (r *replica) runOnce() (wasReady bool, err error) {
	r.clash.Store(false)
	port, err := freeport.Get()
	if err != nil {
		return false, fmt.Errorf("start replica: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	work, secretsDir := filepath.Join(r.dir, "work"), filepath.Join(r.dir, "secrets")
	if err := r.prepareDirs(work, secretsDir); err != nil {
		return false, err
	}
	exe := r.exe
	if exe == "" {
		return false, errors.New("start replica: no OS user for its tenant")
	}
	if r.as != nil {
		if exe, err = r.stageExecutable(); err != nil {
			return false, err
		}
	}

	cmd := exec.Command(exe)
	// argv[0] names the image, wherever the executable was staged: ps
	// and whoever looks for the data folder's processes see what runs.
	cmd.Args[0] = r.exe
	cmd.Dir = work
	cmd.Env = append(slices.Clip(r.env),
		"port="+strconv.Itoa(port),
		"host=127.0.0.1",
		contract.EnvSecretsDir+"="+secretsDir,
		"TMPDIR="+work,
	)
	cmd.Stdout = r.lineWriter()
	cmd.Stderr = r.lineWriter()
	// Own process group so that stop signals reach whatever the function
	// spawns; Pdeathsig so that no replica outlives a provider that dies.
	// Credential: a tenant's replica runs as its tenant's own user (nil
	// keeps the provider's); Go sets Pdeathsig after switching user.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: r.as.credential()}
	// Bounds Wait when a grandchild keeps the output pipes open.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("start replica %s: %w", r.exe, err)
	}
	pid := cmd.Process.Pid
	r.pid.Store(int64(pid))
	r.addr.Store(&addr)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	log := r.p.log.With(r.logAttrs()...)
	start := time.Now()
	ok, err := r.awaitReady(addr, pid, exited)
	if !ok {
		return false, err
	}
	r.ready.Store(true)
	r.fn.notify()
	log.Info("replica ready", "pid", pid, "addr", addr, "startup", time.Since(start).Round(time.Microsecond))

	probe := time.NewTicker(r.p.cfg.ProbeInterval)
	defer probe.Stop()
	fails := 0
	for {
		select {
		case err := <-exited:
			return true, exitError(err)
		case <-r.stopCtx.Done():
			r.ready.Store(false)
			return true, r.terminate(pid, exited)
		case <-probe.C:
			// Three misses in a row, so a busy machine's slow probe does
			// not flap the replica out of the pool.
			if r.isReady(addr) {
				fails = 0
				if !r.ready.Swap(true) {
					r.fn.notify()
				}
			} else if fails++; fails >= 3 {
				r.ready.Store(false)
			}
		}
	}
}

// awaitReady polls /_/ready at a tight interval: it is most of what a
// cold start costs beyond process start-up.
func (r *replica) awaitReady(addr string, pid int, exited <-chan error) (bool, error) {
	deadline := time.NewTimer(r.p.cfg.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(r.p.cfg.ReadyPollInterval)
	defer tick.Stop()
	for {
		if r.isReady(addr) {
			return true, nil
		}
		select {
		case err := <-exited:
			return false, fmt.Errorf("exited before ready: %w", exitError(err))
		case <-r.stopCtx.Done():
			return false, r.terminate(pid, exited)
		case <-deadline.C:
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-exited
			return false, fmt.Errorf("not ready within %s; killed", r.p.cfg.StartTimeout)
		case <-tick.C:
		}
	}
}

func (r *replica) isReady(addr string) bool {
	ctx, cancel := context.WithTimeout(r.stopCtx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/_/ready", nil)
	if err != nil {
		return false
	}
	resp, err := r.p.probe.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// terminate asks the process group to drain and exit (SIGTERM), and kills
// it after StopTimeout or at once when the provider is being torn down.
func (r *replica) terminate(pid int, exited <-chan error) error {
	if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		r.p.log.Warn("signal replica", append(r.logAttrs(), "pid", pid, "err", err)...)
	}
	t := time.NewTimer(r.p.cfg.StopTimeout)
	defer t.Stop()
	select {
	case err := <-exited:
		// The group may hold more than the replica's own process.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return exitError(err)
	case <-t.C:
		r.p.log.Warn("replica ignored SIGTERM; killing it", append(r.logAttrs(), "pid", pid, "after", r.p.cfg.StopTimeout)...)
	case <-r.p.ctx.Done():
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return exitError(<-exited)
}

func exitError(err error) error {
	if err == nil {
		return errors.New("exited with status 0")
	}
	return err
}

// prepareDirs gives the process a work folder and a secrets folder with a
// fresh copy of each declared secret (so an updated secret reaches a
// restarted replica), all readable by the replica's user only.
func (r *replica) prepareDirs(work, secretsDir string) error {
	if err := r.prepareFunctionDir(); err != nil {
		return err
	}
	for _, d := range []string{work, secretsDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("prepare replica folder: %w", err)
		}
		if err := r.as.chown(d); err != nil {
			return err
		}
	}
	for _, s := range r.secrets {
		b, err := os.ReadFile(r.p.secretPath(r.fn.namespace, s))
		if err != nil {
			// The function sees the secret missing, as on OpenFaaS when a
			// secret is deleted after deployment.
			r.p.log.Warn("declared secret is missing", append(r.logAttrs(), "secret", s, "err", err)...)
			continue
		}
		dst := filepath.Join(secretsDir, s)
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			return fmt.Errorf("give secret %q to replica: %w", s, err)
		}
		if err := r.as.chown(dst); err != nil {
			return err
		}
	}
	return nil
}
