package provider

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openfaas/faas-provider/types"
	"github.com/prometheus/client_golang/prometheus"
)

// function is one deployed function and its replica pool.
type function struct {
	p                           *Provider
	name, namespace, metricName string
	logs                        *logRing
	started                     prometheus.Counter
	inflight                    prometheus.Gauge // invocations in flight, waiting or running
	invocations                 atomic.Uint64
	rr                          atomic.Uint64 // round-robin offset for ties

	mu        sync.RWMutex
	spec      types.FunctionDeployment
	exe       string
	createdAt time.Time
	gen       int // bumped by update; replicas of older gens are rolling out
	desired   int
	pool      []*replica // replicas that may serve (ready or starting)
	// draining are replicas a scale-down took out of the pool that have
	// not stopped yet; a forced scale-down bounds their drains too.
	draining map[*replica]struct{}
	readyCh  chan struct{}
	deleted  bool
}

func (p *Provider) newFunction(spec types.FunctionDeployment, exe string, createdAt time.Time) *function {
	metricName := spec.Service + "." + spec.Namespace
	return &function{
		p:          p,
		name:       spec.Service,
		namespace:  spec.Namespace,
		metricName: metricName,
		logs:       newLogRing(p.cfg.LogLines),
		started:    p.metrics.started.WithLabelValues(metricName),
		inflight:   p.metrics.inflight.WithLabelValues(metricName),
		spec:       spec,
		exe:        exe,
		createdAt:  createdAt,
		readyCh:    make(chan struct{}),
		draining:   map[*replica]struct{}{},
	}
}

// snapshot returns what state.json keeps of the function.
func (f *function) snapshot() (types.FunctionDeployment, time.Time, int) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.spec, f.createdAt, f.desired
}

func (f *function) status() types.FunctionStatus {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s := f.spec
	available := 0
	for _, r := range f.pool {
		if r.ready.Load() {
			available++
		}
	}
	// A roll briefly runs old and new replicas together; report at most
	// the desired count so clients waiting for "available == replicas"
	// do not see more than they asked for.
	available = min(available, f.desired)
	return types.FunctionStatus{
		Name:                   s.Service,
		Image:                  s.Image,
		Namespace:              s.Namespace,
		EnvProcess:             s.EnvProcess,
		EnvVars:                maps.Clone(s.EnvVars),
		Constraints:            slices.Clone(s.Constraints),
		Secrets:                slices.Clone(s.Secrets),
		Labels:                 cloneMapPtr(s.Labels),
		Annotations:            cloneMapPtr(s.Annotations),
		Limits:                 s.Limits,
		Requests:               s.Requests,
		ReadOnlyRootFilesystem: s.ReadOnlyRootFilesystem,
		InvocationCount:        float64(f.invocations.Load()),
		Replicas:               uint64(f.desired),
		AvailableReplicas:      uint64(available),
		CreatedAt:              f.createdAt,
	}
}

func cloneMapPtr(m *map[string]string) *map[string]string {
	if m == nil {
		return nil
	}
	c := maps.Clone(*m)
	return &c
}

// notifyLocked wakes invocations waiting for a ready replica.
func (f *function) notifyLocked() {
	close(f.readyCh)
	f.readyCh = make(chan struct{})
}

func (f *function) notify() {
	f.mu.Lock()
	f.notifyLocked()
	f.mu.Unlock()
}

// scale sets the desired replica count of the current generation,
// starting or draining replicas as needed; mode is how a replica that
// leaves while busy is drained. It is a no-op on a deleted function.
func (f *function) scale(n int, mode drainMode) {
	f.mu.Lock()
	victims := f.scaleLocked(n)
	if mode == drainBounded {
		// The operator wants them gone: earlier victims still waiting
		// for their requests are bounded too.
		for r := range f.draining {
			r.forceStop()
		}
	}
	for _, r := range victims {
		f.draining[r] = struct{}{}
	}
	f.mu.Unlock()
	f.p.drainAsync(victims, mode)
}

// scaleLocked does scale's bookkeeping and returns the replicas that left
// the pool, for the caller to drain outside the lock.
func (f *function) scaleLocked(n int) []*replica {
	if f.deleted {
		return nil
	}
	f.desired = n
	var current []*replica
	for _, r := range f.pool {
		if r.gen == f.gen {
			current = append(current, r)
		}
	}
	var victims []*replica
	switch {
	case n > len(current):
		for range n - len(current) {
			f.pool = append(f.pool, f.p.newReplica(f, f.gen, f.spec, f.exe))
		}
	case n < len(current):
		// Prefer replicas that are not serving yet, then idle ones (the
		// fewest in flight), then the newest: the least disruptive to take
		// away. The write lock holds pick off, so the counts stand still.
		slices.SortStableFunc(current, func(a, b *replica) int {
			if ar, br := a.ready.Load(), b.ready.Load(); ar != br {
				if !ar {
					return -1
				}
				return 1
			}
			if c := cmp.Compare(a.inflight.Load(), b.inflight.Load()); c != 0 {
				return c
			}
			return cmp.Compare(b.seq, a.seq)
		})
		victims = current[:len(current)-n]
		f.pool = slices.DeleteFunc(f.pool, func(r *replica) bool { return slices.Contains(victims, r) })
	}
	f.p.metrics.serviceCount.WithLabelValues(f.metricName).Set(float64(n))
	// Wakes a roll-out waiting for the desired count.
	f.notifyLocked()
	return victims
}

// scaleFromZero starts one replica if none is desired; the invocation
// path calls it when a request finds the function scaled to zero.
func (f *function) scaleFromZero() {
	f.mu.Lock()
	if f.desired != 0 || f.deleted {
		f.mu.Unlock()
		return
	}
	f.scaleLocked(1)
	f.mu.Unlock()
	f.p.log.Info("scaling from zero", "function", f.name, "namespace", f.namespace)
	f.p.persistOrLog()
}

// removeAll takes every replica out of the pool and marks the function
// deleted, waking waiters so they stop waiting.
func (f *function) removeAll() []*replica {
	f.mu.Lock()
	defer f.mu.Unlock()
	rs := f.pool
	f.pool = nil
	f.deleted = true
	f.notifyLocked()
	return rs
}

// pick returns the ready replica with the fewest in-flight requests and
// counts the new request against it. The increment happens under the read
// lock so that a replica being removed (write lock) is either seen busy or
// never picked. With no ready replica it returns the channel that is
// closed on the next readiness change.
func (f *function) pick() (*replica, chan struct{}, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := len(f.pool)
	var best *replica
	var bestLoad int64
	if n > 0 {
		off := int(f.rr.Add(1) % uint64(n))
		for i := range n {
			r := f.pool[(off+i)%n]
			if !r.ready.Load() {
				continue
			}
			if l := r.inflight.Load(); best == nil || l < bestLoad {
				best, bestLoad = r, l
			}
		}
	}
	if best != nil {
		best.inflight.Add(1)
	}
	return best, f.readyCh, f.deleted
}

var (
	errFunctionGone = errors.New("function was deleted")
	errNoReplica    = errors.New("no ready replica")
)

// acquire returns a ready replica (counted in flight), scaling from zero
// and waiting up to timeout when there is none.
func (f *function) acquire(ctx context.Context, timeout time.Duration) (*replica, error) {
	r, ch, deleted := f.pick()
	if r != nil {
		return r, nil
	}
	if deleted {
		return nil, errFunctionGone
	}
	f.scaleFromZero()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		// Re-pick after scaleFromZero: the channel may predate it.
		r, ch, deleted = f.pick()
		if r != nil {
			return r, nil
		}
		if deleted {
			return nil, errFunctionGone
		}
		select {
		case <-ch:
		case <-t.C:
			return nil, fmt.Errorf("%w within %s", errNoReplica, timeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// update replaces the spec and rolls the replicas: it starts as many new
// replicas as are desired and, once they are all ready, drains the old
// ones. Until then the old ones keep serving.
func (f *function) update(spec types.FunctionDeployment, exe string) {
	f.mu.Lock()
	if f.deleted {
		f.mu.Unlock()
		return
	}
	f.spec, f.exe = spec, exe
	f.gen++
	gen := f.gen
	for range f.desired {
		f.pool = append(f.pool, f.p.newReplica(f, gen, spec, exe))
	}
	f.mu.Unlock()
	if !f.p.goTracked(func() { f.roll(gen) }) {
		return
	}
}

// roll waits until generation gen is fully ready, then retires older
// replicas. A newer update takes the job over.
func (f *function) roll(gen int) {
	for {
		f.mu.Lock()
		if f.deleted || f.gen != gen {
			f.mu.Unlock()
			return
		}
		ready := 0
		for _, r := range f.pool {
			if r.gen == gen && r.ready.Load() {
				ready++
			}
		}
		if ready >= f.desired {
			var old []*replica
			f.pool = slices.DeleteFunc(f.pool, func(r *replica) bool {
				if r.gen != gen {
					old = append(old, r)
					return true
				}
				return false
			})
			f.mu.Unlock()
			f.p.log.Info("rolled function", "function", f.name, "namespace", f.namespace, "retired", len(old))
			f.p.drainAsync(old, drainBounded)
			return
		}
		ch := f.readyCh
		f.mu.Unlock()
		// A new generation that never becomes ready leaves the old one
		// serving, as a stuck Kubernetes roll-out does.
		select {
		case <-ch:
		case <-f.p.ctx.Done():
			return
		}
	}
}

// drainAsync drains and stops replicas that have left a pool. Once Close
// has begun it drains inline, so that Close never misses them.
func (p *Provider) drainAsync(rs []*replica, mode drainMode) {
	if len(rs) == 0 {
		return
	}
	drain := func() {
		var wg sync.WaitGroup
		for _, r := range rs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.drainAndStop(p.ctx, mode)
			}()
		}
		wg.Wait()
	}
	if !p.goTracked(drain) {
		drain()
	}
}
