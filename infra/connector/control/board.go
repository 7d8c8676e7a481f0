// Package control is what the connector obeys from the KV bucket
// mysimbdp-control (contract.ControlBucket): an operator's pause flag per
// tenant (paused.<tenant>: Pause, Resume, Paused), and the stats
// function's quota decision per tenant (quota.<tenant>, shared/quota).
// The Board holds both as the connector knows them (watch.go keeps it in
// step with the bucket): the stream flow stops pulling for a tenant the
// board holds back, and the S3 flow defers a held tenant's new files.
package control

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mysimbdp/mysimbdp/shared/quota"
)

// NewBoard returns an empty board (every tenant allowed) that logs and
// counts its changes; Run fills it, creating the control bucket with
// replicas replicas if it is missing (0: JetStream's default, 1).
func NewBoard(reg prometheus.Registerer, log *slog.Logger, replicas int) *Board {
	b := newBoard()
	b.log, b.m, b.replicas = log, newMetrics(reg), replicas
	return b
}

// Ready is closed once the bucket's current flags and decisions are on
// the board, so that no tenant is pulled for before they are known.
func (b *Board) Ready() <-chan struct{} { return b.ready }

// Board is the connector's view of which tenants are held back: paused
// by an operator (paused.<tenant>) or throttled or blocked by the stats
// function (quota.<tenant>, until the decision's Until). Each tenant has a
// channel closed (and replaced) whenever whether it is held may have
// changed, a throttle running out included, so a fetch loop waits on it
// while held, and cancels a pull in progress when the tenant gets held.
type Board struct {
	log      *slog.Logger
	replicas int
	m        *metrics
	ready    chan struct{}
	once     sync.Once
	mu       sync.Mutex
	paused   map[string]bool
	quota    map[string]quota.Decision
	timers   map[string]*time.Timer // fire when a decision's Until passes
	changed  map[string]chan struct{}
	now      func() time.Time
}

func newBoard() *Board {
	return &Board{ready: make(chan struct{}), paused: map[string]bool{}, quota: map[string]quota.Decision{},
		timers: map[string]*time.Timer{}, changed: map[string]chan struct{}{}, now: time.Now}
}

// State reports whether tenant is held back now, and returns the channel
// closed at its next change.
func (b *Board) State(tenant string) (bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch, ok := b.changed[tenant]
	if !ok {
		ch = make(chan struct{})
		b.changed[tenant] = ch
	}
	return b.paused[tenant] || b.quota[tenant].Holds(b.now()), ch
}

// Decision returns tenant's quota decision if it holds now.
func (b *Board) Decision(tenant string) (quota.Decision, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.quota[tenant]
	return d, d.Holds(b.now())
}

// set records tenant's flag and reports whether it changed.
func (b *Board) set(tenant string, paused bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.setLocked(tenant, paused)
}

func (b *Board) setLocked(tenant string, paused bool) bool {
	if b.paused[tenant] == paused {
		return false
	}
	if paused {
		b.paused[tenant] = true
	} else {
		delete(b.paused, tenant)
	}
	b.signalLocked(tenant)
	return true
}

// setDecision records tenant's quota decision (Allowed clears it) and
// reports whether it changed.
func (b *Board) setDecision(tenant string, d quota.Decision) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	old, had := b.quota[tenant]
	keep := d.State != quota.Allowed
	if !keep {
		delete(b.quota, tenant)
	} else {
		b.quota[tenant] = d
	}
	if t := b.timers[tenant]; t != nil {
		t.Stop()
		delete(b.timers, tenant)
	}
	if keep && !d.Until.IsZero() {
		b.timers[tenant] = time.AfterFunc(d.Until.Sub(b.now()), func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.signalLocked(tenant)
		})
	}
	if had == keep && (!keep || old == d) {
		return false // allowed as before, or the same decision again
	}
	b.signalLocked(tenant)
	return true
}

func (b *Board) signalLocked(tenant string) {
	if ch, ok := b.changed[tenant]; ok {
		close(ch)
		delete(b.changed, tenant)
	}
}

// replace installs the complete set of flags (read when a watch starts)
// and returns the tenants whose flag changed, with their new flag.
func (b *Board) replace(all map[string]bool) map[string]bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]bool{}
	for t := range b.paused {
		if !all[t] && b.setLocked(t, false) {
			out[t] = false
		}
	}
	for t, p := range all {
		if b.setLocked(t, p) {
			out[t] = p
		}
	}
	return out
}

// replaceDecisions installs the complete set of decisions (read when a
// watch starts) and returns the tenants whose decision changed.
func (b *Board) replaceDecisions(all map[string]quota.Decision) []string {
	var out []string
	b.mu.Lock()
	var gone []string
	for t := range b.quota {
		if _, ok := all[t]; !ok {
			gone = append(gone, t)
		}
	}
	b.mu.Unlock()
	for _, t := range gone {
		if b.setDecision(t, quota.Decision{Tenant: t, State: quota.Allowed}) {
			out = append(out, t)
		}
	}
	for t, d := range all {
		if b.setDecision(t, d) {
			out = append(out, t)
		}
	}
	return out
}

func (b *Board) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.paused)
}

// stop releases the decisions' timers.
func (b *Board) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for t, tm := range b.timers {
		tm.Stop()
		delete(b.timers, t)
	}
}
