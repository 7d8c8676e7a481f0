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
)

// ControlBucket is the NATS KV bucket through which the platform steers
// the connector. Key paused.<tenant> with value "true" stops stream
// delivery to that tenant's functions; deleting it (or "false") resumes.
const ControlBucket = "mysimbdp-control"

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

// controlKV returns the control bucket, creating it if it is missing. An
// existing bucket is used as it is: other parts (quota decisions) may
// share it with their own settings.
func controlKV(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      ControlBucket,
		Description: "mysimbdp control flags (paused.<tenant>, ...)",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, ControlBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("control bucket %s: %w", ControlBucket, err)
	}
	return kv, nil
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

// pauseBoard is the connector's view of which tenants are paused. Each
// tenant has a channel closed (and replaced) whenever its flag changes, so
// a fetch loop waits on it while paused, and cancels a pull in progress
// when the tenant gets paused.
type pauseBoard struct {
	mu      sync.Mutex
	paused  map[string]bool
	changed map[string]chan struct{}
}

func newPauseBoard() *pauseBoard {
	return &pauseBoard{paused: map[string]bool{}, changed: map[string]chan struct{}{}}
}

// state returns tenant's flag and the channel closed at its next change.
func (b *pauseBoard) state(tenant string) (bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch, ok := b.changed[tenant]
	if !ok {
		ch = make(chan struct{})
		b.changed[tenant] = ch
	}
	return b.paused[tenant], ch
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
	if ch, ok := b.changed[tenant]; ok {
		close(ch)
		delete(b.changed, tenant)
	}
	return true
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

func (b *pauseBoard) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.paused)
}

// watchPauses keeps the pause board in step with the control bucket until
// ctx is done. ready is called once the bucket's current flags are on the
// board, so that no tenant is pulled for before its flag is known.
func (c *Connector) watchPauses(ctx context.Context, js jetstream.JetStream, ready func()) {
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
		c.log.Warn("watch the control bucket; keeping the last known pause flags", "bucket", ControlBucket, "err", err, "retry_in", delay)
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
	w, err := kv.Watch(ctx, pausedKeyPrefix+"*")
	if err != nil {
		return fmt.Errorf("watch %s in %s: %w", pausedKeyPrefix+"*", ControlBucket, err)
	}
	defer func() { _ = w.Stop() }()
	initial := map[string]bool{}
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
			ready()
			continue
		}
		tenant := strings.TrimPrefix(e.Key(), pausedKeyPrefix)
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
