package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mysimbdp/mysimbdp/infra/connector/core"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/quota"
)

// Run keeps the board in step with the control bucket until ctx is done,
// watching it again (with back-off) whenever the watch fails; meanwhile
// the last known flags and decisions stay. Ready is closed once the
// bucket's current values are in.
func (b *Board) Run(ctx context.Context, js jetstream.JetStream) {
	defer b.stop()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := b.watch(ctx, js)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			attempt = 1 // it worked for a while: not a persistent failure
		}
		delay := core.Backoff(attempt, 100*time.Millisecond, 10*time.Second)
		b.log.Warn("watch the control bucket; keeping the last known pause flags and quota decisions", "bucket", contract.ControlBucket, "err", err, "retry_in", delay)
		if !core.Sleep(ctx, delay) {
			return
		}
	}
}

// watch reads the bucket's current values, installs them whole, then
// applies every change until the watch ends.
func (b *Board) watch(ctx context.Context, js jetstream.JetStream) error {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	kv, err := quota.ControlKV(sctx, js, b.replicas)
	cancel()
	if err != nil {
		return err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", contract.ControlBucket, err)
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
			for t, p := range b.replace(initial) {
				b.pauseChanged(t, p)
			}
			for _, t := range b.replaceDecisions(initialQuota) {
				b.decisionChanged(t)
			}
			b.once.Do(func() { close(b.ready) })
			continue
		}
		if tenant, ok := strings.CutPrefix(e.Key(), contract.QuotaKeyPrefix); ok && tenant != "" {
			d := quota.Decision{Tenant: tenant, State: quota.Allowed}
			if e.Operation() == jetstream.KeyValuePut {
				if got, err := quota.Decode(e.Value()); err != nil {
					b.log.Error("ignoring a quota decision that cannot be read; the tenant is allowed", "tenant", tenant, "err", err)
				} else {
					d = got
				}
			}
			switch {
			case !initDone:
				initialQuota[tenant] = d
			case b.setDecision(tenant, d):
				b.decisionChanged(tenant)
			}
			continue
		}
		tenant, isFlag := strings.CutPrefix(e.Key(), contract.PausedKeyPrefix)
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
		if b.set(tenant, paused) {
			b.pauseChanged(tenant, paused)
		}
	}
}

// pauseChanged logs a flag change and updates the gauges.
func (b *Board) pauseChanged(tenant string, paused bool) {
	if paused {
		b.log.Info("tenant paused: stream delivery stopped, records stay queued", "tenant", tenant)
		b.m.tenantPaused.WithLabelValues(tenant).Set(1)
	} else {
		b.log.Info("tenant resumed: stream delivery restarts where it stopped", "tenant", tenant)
		b.m.tenantPaused.WithLabelValues(tenant).Set(0)
	}
	b.m.pausedTenants.Set(float64(b.count()))
}

// decisionChanged logs a tenant's new quota decision and updates its gauge.
func (b *Board) decisionChanged(tenant string) {
	d, holds := b.Decision(tenant)
	if holds {
		b.log.Info("tenant held back by its quota: stream delivery stops and new files are deferred",
			"tenant", tenant, "state", d.State, "until", d.Until, "reason", d.Reason)
		b.m.tenantThrottled.WithLabelValues(tenant).Set(1)
	} else {
		b.log.Info("tenant allowed by its quota", "tenant", tenant)
		b.m.tenantThrottled.WithLabelValues(tenant).Set(0)
	}
}

// metrics are the board's series, on the connector's registry.
type metrics struct {
	pausedTenants prometheus.Gauge
	tenantPaused  *prometheus.GaugeVec
	// tenantThrottled is 1 while a quota decision holds the tenant back.
	tenantThrottled *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		pausedTenants: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "paused_tenants",
			Help: "Tenants whose stream delivery is paused (control bucket key paused.<tenant>).",
		}),
		tenantPaused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "tenant_paused",
			Help: "1 while the tenant's stream delivery is paused, 0 once resumed.",
		}, []string{"tenant"}),
		tenantThrottled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "tenant_quota_held",
			Help: "1 while a quota decision (control bucket key quota.<tenant>) throttles or blocks the tenant, 0 once allowed.",
		}, []string{"tenant"}),
	}
	reg.MustRegister(m.pausedTenants, m.tenantPaused, m.tenantThrottled)
	return m
}
