package connector

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/shared/quota"
)

// ControlBucket is the NATS KV bucket through which the platform steers
// the connector. Key paused.<tenant> with value "true" stops stream
// delivery to that tenant's functions; deleting it (or "false") resumes.
const ControlBucket = quota.ControlBucket

const pausedKeyPrefix = "paused."

func pausedKey(tenant string) (string, error) {
	if !validTenant(tenant) {
		return "", fmt.Errorf("tenant %q: want letters, digits, '-' and '_'", tenant)
	}
	return pausedKeyPrefix + tenant, nil
}

// pausedValue reads a paused.<tenant> value: only a true boolean pauses, so
// a mistyped value never silently stops a tenant.
func pausedValue(v []byte) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(string(v)))
	return err == nil && b
}

// controlKV returns the control bucket, creating it if it is missing; the
// stats function shares it for its quota decisions.
func controlKV(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	return quota.ControlKV(ctx, js)
}

// Pause stops stream delivery to tenant's functions: connectors stop
// pulling within a second or two, and records stay in the tenant's stream.
func Pause(ctx context.Context, js jetstream.JetStream, tenant string) error {
	key, err := pausedKey(tenant)
	if err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	kv, err := controlKV(ctx, js)
	if err != nil {
		return fmt.Errorf("pause %s: %w", tenant, err)
	}
	if _, err := kv.PutString(ctx, key, "true"); err != nil {
		return fmt.Errorf("pause %s: %w", tenant, err)
	}
	return nil
}

// Resume restarts stream delivery to tenant's functions where it stopped.
// Resuming a tenant that is not paused does nothing.
func Resume(ctx context.Context, js jetstream.JetStream, tenant string) error {
	key, err := pausedKey(tenant)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	kv, err := js.KeyValue(ctx, ControlBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("resume %s: control bucket %s: %w", tenant, ControlBucket, err)
	}
	if err := kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("resume %s: %w", tenant, err)
	}
	return nil
}

// Paused reports whether tenant's stream delivery is paused.
func Paused(ctx context.Context, js jetstream.JetStream, tenant string) (bool, error) {
	key, err := pausedKey(tenant)
	if err != nil {
		return false, fmt.Errorf("paused: %w", err)
	}
	kv, err := js.KeyValue(ctx, ControlBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("paused %s: control bucket %s: %w", tenant, ControlBucket, err)
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("paused %s: %w", tenant, err)
	}
	return pausedValue(e.Value()), nil
}

// pauseBoard is the connector's view of which tenants are held back: paused
// by an operator (paused.<tenant>) or throttled or blocked by the stats
// function (quota.<tenant>, until the decision's Until). Each tenant has a
// channel closed (and replaced) whenever whether it is held may have
// changed, a throttle running out included, so a fetch loop waits on it
// while held, and cancels a pull in progress when the tenant gets held.
type pauseBoard struct {
	mu      sync.Mutex
	paused  map[string]bool
	quota   map[string]quota.Decision
	timers  map[string]*time.Timer // fire when a decision's Until passes
	changed map[string]chan struct{}
	now     func() time.Time
}

func newPauseBoard() *pauseBoard {
	return &pauseBoard{paused: map[string]bool{}, quota: map[string]quota.Decision{},
		timers: map[string]*time.Timer{}, changed: map[string]chan struct{}{}, now: time.Now}
}

// state reports whether tenant is held back now, and returns the channel
// closed at its next change.
func (b *pauseBoard) state(tenant string) (bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch, ok := b.changed[tenant]
	if !ok {
		ch = make(chan struct{})
		b.changed[tenant] = ch
	}
	return b.paused[tenant] || b.quota[tenant].Holds(b.now()), ch
}

// decision returns tenant's quota decision if it holds now.
func (b *pauseBoard) decision(tenant string) (quota.Decision, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.quota[tenant]
	return d, d.Holds(b.now())
}

// set records tenant's flag and reports whether it changed.
func (b *pauseBoard) set(tenant string, paused bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.setLocked(tenant, paused)
}

func (b *pauseBoard) setLocked(tenant string, paused bool) bool {
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
func (b *pauseBoard) setDecision(tenant string, d quota.Decision) bool {
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

func (b *pauseBoard) signalLocked(tenant string) {
	if ch, ok := b.changed[tenant]; ok {
		close(ch)
		delete(b.changed, tenant)
	}
}

// replace installs the complete set of flags (read when a watch starts)
// and returns the tenants whose flag changed, with their new flag.
func (b *pauseBoard) replace(all map[string]bool) map[string]bool {
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
func (b *pauseBoard) replaceDecisions(all map[string]quota.Decision) []string {
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

func (b *pauseBoard) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.paused)
}

// stop releases the decisions' timers.
func (b *pauseBoard) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for t, tm := range b.timers {
		tm.Stop()
		delete(b.timers, t)
	}
}

// watchPauses keeps the pause board in step with the control bucket until
// ctx is done. ready is called once the bucket's current flags and
// decisions are on the board, so that no tenant is pulled for before they
// are known.
func (c *Connector) watchPauses(ctx context.Context, js jetstream.JetStream, ready func()) {
	defer c.pauses.stop()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := c.watchPausesOnce(ctx, js, ready)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			attempt = 1 // it worked for a while: not a persistent failure
		}
		delay := backoff(attempt, 100*time.Millisecond, 10*time.Second)
		c.log.Warn("watch the control bucket; keeping the last known pause flags and quota decisions", "bucket", ControlBucket, "err", err, "retry_in", delay)
		if !sleep(ctx, delay) {
			return
		}
	}
}

func (c *Connector) watchPausesOnce(ctx context.Context, js jetstream.JetStream, ready func()) error {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	kv, err := controlKV(sctx, js)
	cancel()
	if err != nil {
		return err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", ControlBucket, err)
	}
	defer func() { _ = w.Stop() }()
	initial := map[string]bool{}
	initialQuota := map[string]quota.Decision{}
	initDone := false
	for {
		var e jetstream.KeyValueEntry
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok = <-w.Updates():
		}
		if !ok {
			return errors.New("control bucket watch closed")
		}
		if e == nil {
			// The current values are all in: from here on every entry is
			// a change.
			initDone = true
			for t, p := range c.pauses.replace(initial) {
				c.pauseChanged(t, p)
			}
			for _, t := range c.pauses.replaceDecisions(initialQuota) {
				c.decisionChanged(t)
			}
			ready()
			continue
		}
		if tenant := quota.TenantOfKey(e.Key()); tenant != "" {
			d := quota.Decision{Tenant: tenant, State: quota.Allowed}
			if e.Operation() == jetstream.KeyValuePut {
				if got, err := quota.Decode(e.Value()); err != nil {
					c.log.Error("ignoring a quota decision that cannot be read; the tenant is allowed", "tenant", tenant, "err", err)
				} else {
					d = got
				}
			}
			switch {
			case !initDone:
				initialQuota[tenant] = d
			case c.pauses.setDecision(tenant, d):
				c.decisionChanged(tenant)
			}
			continue
		}
		tenant, isFlag := strings.CutPrefix(e.Key(), pausedKeyPrefix)
		if !isFlag {
			continue
		}
		paused := e.Operation() == jetstream.KeyValuePut && pausedValue(e.Value())
		if !initDone {
			if paused {
				initial[tenant] = true
			}
			continue
		}
		if c.pauses.set(tenant, paused) {
			c.pauseChanged(tenant, paused)
		}
	}
}

// pauseChanged logs a flag change and updates the gauges.
func (c *Connector) pauseChanged(tenant string, paused bool) {
	if paused {
		c.log.Info("tenant paused: stream delivery stopped, records stay queued", "tenant", tenant)
		c.smetrics.tenantPaused.WithLabelValues(tenant).Set(1)
	} else {
		c.log.Info("tenant resumed: stream delivery restarts where it stopped", "tenant", tenant)
		c.smetrics.tenantPaused.WithLabelValues(tenant).Set(0)
	}
	c.smetrics.pausedTenants.Set(float64(c.pauses.count()))
}

// decisionChanged logs a tenant's new quota decision and updates its gauge.
func (c *Connector) decisionChanged(tenant string) {
	d, holds := c.pauses.decision(tenant)
	if holds {
		c.log.Info("tenant held back by its quota: stream delivery stops and new files are deferred",
			"tenant", tenant, "state", d.State, "until", d.Until, "reason", d.Reason)
		c.smetrics.tenantThrottled.WithLabelValues(tenant).Set(1)
	} else {
		c.log.Info("tenant allowed by its quota", "tenant", tenant)
		c.smetrics.tenantThrottled.WithLabelValues(tenant).Set(0)
	}
}
