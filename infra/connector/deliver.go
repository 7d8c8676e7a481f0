package connector

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// quotaRecheck is how often an event of a blocked tenant (a decision with
// no end) is looked at again; quotaDeferral labels those deferrals.
const (
	quotaRecheck  = 30 * time.Second
	quotaDeferral = "quota"
)

// delivery is one message to hand to the functions of one tenant's topic.
// It is the part of the flow that does not depend on what the message is.
type delivery struct {
	msg    jetstream.Msg
	meta   *jetstream.MsgMetadata
	origin eventOrigin
	tenant string
	topic  string
	body   []byte
	header http.Header
	log    *slog.Logger
}

// failedCall is one function's failed invocation in a round.
type failedCall struct {
	fn  target
	res result
}

// deliver invokes every function of d.tenant subscribed to d.topic that
// has not answered 2xx yet, and decides how the message is settled. It
// publishes dead letters itself; the caller applies the settlement.
func (c *Connector) deliver(ctx context.Context, js jetstream.JetStream, d delivery) settlement {
	key := msgKey{stream: d.meta.Stream, seq: d.meta.Sequence.Stream}
	st, known := c.tracker.load(key)
	if !known && d.origin.state != nil { // an event back from waiting
		st, known = d.origin.state.clone(), true
	}
	if !known && d.meta.NumDelivered > uint64(c.cfg.MaxDeliveries) {
		// Only a connector that never got to record an outcome (it crashed
		// or was restarted each time) gets here; see Config.MaxDeliveries.
		return c.giveUp(ctx, js, d.msg, d.meta, []deadLetter{{
			tenant: d.tenant, attempts: int(d.meta.NumDelivered),
			reason: fmt.Sprintf("delivered %d times without an outcome recorded by this connector (does handling it crash the connector?)", d.meta.NumDelivered),
		}}, d.log)
	}
	rt := c.routes.Load()
	if rt == nil {
		// The function list was never read (gateway unreachable since
		// start): not the event's fault, so no attempt is spent.
		d.log.Info("function list not read yet; event postponed", "retry_in", c.cfg.RefreshInterval)
		return settlement{kind: settleNak, delay: c.cfg.RefreshInterval}
	}
	if dec, holds := c.pauses.decision(d.tenant); holds {
		// The stats function holds the tenant back: its new files wait,
		// and no attempt is spent. A block has no end of its own, so it is
		// looked at again now and then.
		wait := quotaRecheck
		if !dec.Until.IsZero() {
			wait = min(max(time.Until(dec.Until), 100*time.Millisecond), c.cfg.MaxRetryAfter)
		}
		c.metrics.deferrals.WithLabelValues(quotaDeferral).Inc()
		d.log.Info("event deferred: the tenant is over its quota", "state", dec.State, "until", dec.Until, "reason", dec.Reason, "retry_in", wait)
		c.tracker.store(key, st)
		return settlement{kind: settleNak, delay: wait, waits: true}
	}
	if st.done == nil {
		st.done = map[string]bool{}
	}

	targets := rt.match(d.topic, d.tenant)
	if len(targets) == 0 {
		st.failures++
		if st.failures >= c.cfg.MaxAttempts {
			// Stored first so that a failed dead-letter publish does not
			// reset the count; giveUp forgets it once published.
			c.tracker.store(key, st)
			return c.giveUp(ctx, js, d.msg, d.meta, []deadLetter{{
				tenant: d.tenant, attempts: st.failures,
				reason: "no function subscribed to " + d.topic,
			}}, d.log)
		}
		delay := backoff(st.failures, c.cfg.BackoffInitial, c.cfg.BackoffMax)
		c.metrics.retries.WithLabelValues("").Inc()
		d.log.Info("no function subscribed yet; event postponed", "topic", d.topic, "attempt", st.failures, "max_attempts", c.cfg.MaxAttempts, "retry_in", delay)
		c.tracker.store(key, st)
		return settlement{kind: settleNak, delay: delay, waits: true}
	}

	var (
		failed        []failedCall
		deferred      bool
		deferFor      time.Duration
		deferStatus   int
		pending       int
		interruptedBy string
	)
	// Functions are invoked one after the other: the concurrency bound
	// counts messages, and a tenant normally has one batch function.
	for _, t := range targets {
		if st.done[t.ID()] {
			continue
		}
		pending++
		r := c.invoke(ctx, t, d.body, d.header.Clone())
		log := d.log.With("function", t.ID(), "status", r.status, "took", r.took)
		switch r.outcome {
		case outcomeOK:
			st.done[t.ID()] = true
			pending--
			log.Info("event delivered")
		case outcomeDeferred:
			wait := r.retryAfter
			if !r.hasRetryAfter {
				wait = backoff(st.deferrals+1, c.cfg.BackoffInitial, c.cfg.BackoffMax)
			}
			wait = min(wait, c.cfg.MaxRetryAfter)
			deferred, deferStatus = true, r.status
			deferFor = max(deferFor, wait)
			c.metrics.deferrals.WithLabelValues(t.ID()).Inc()
			log.Info("event deferred by the function", "retry_in", wait, "deferrals", st.deferrals+1)
		case outcomeFailed:
			failed = append(failed, failedCall{fn: t, res: r})
			log.Warn("invocation failed", "err", r.err, "answer", truncate(r.answer, 256))
		case outcomeInterrupted:
			interruptedBy = t.ID()
		}
		if interruptedBy != "" {
			break
		}
	}
	if interruptedBy != "" {
		// Shutting down: hand the event back at once, for another replica
		// or the next start; an interruption is nobody's failure.
		d.log.Info("invocation interrupted by shutdown; event handed back", "function", interruptedBy)
		c.tracker.store(key, st)
		return settlement{kind: settleNak}
	}
	if deferred {
		st.deferrals++
	}

	var dls []deadLetter
	if len(failed) > 0 {
		st.failures++
		if st.failures >= c.cfg.MaxAttempts {
			for _, f := range failed {
				dls = append(dls, deadLetter{
					tenant: d.tenant, function: f.fn.ID(), attempts: st.failures, lastStatus: f.res.status,
					reason: fmt.Sprintf("gave up after %d attempts: %s", st.failures, failureReason(f.fn.ID(), f.res)),
				})
			}
		} else {
			for _, f := range failed {
				c.metrics.retries.WithLabelValues(f.fn.ID()).Inc()
			}
		}
	}
	for _, dl := range dls {
		if err := c.publishDeadLetter(ctx, js, d.msg, d.meta, dl); err != nil {
			// Keep the event: the next delivery tries the function once
			// more and, failing, the dead letter again.
			delay := backoff(st.failures, c.cfg.BackoffInitial, c.cfg.BackoffMax)
			d.log.Error("dead-letter the event; it stays in the stream", "err", err, "retry_in", delay)
			c.tracker.store(key, st)
			return settlement{kind: settleNak, delay: delay}
		}
		st.done[dl.function] = true
		pending--
	}

	if pending == 0 {
		c.tracker.forget(key)
		if len(dls) > 0 {
			c.metrics.events.WithLabelValues("dead_lettered").Inc()
			return settlement{kind: settleTerm, reason: "dead-lettered: " + dls[0].reason}
		}
		c.metrics.events.WithLabelValues("delivered").Inc()
		return settlement{kind: settleAck}
	}
	var delay time.Duration
	if len(failed) > len(dls) {
		delay = backoff(st.failures, c.cfg.BackoffInitial, c.cfg.BackoffMax)
		d.log.Info("event will be retried", "attempt", st.failures, "max_attempts", c.cfg.MaxAttempts, "retry_in", delay)
	}
	if deferred {
		delay = max(delay, deferFor)
		d.log.Debug("event deferred", "status", deferStatus, "retry_in", delay)
	}
	c.tracker.store(key, st)
	return settlement{kind: settleNak, delay: delay, waits: delay > 0}
}

// giveUp publishes dead letters for msg and, once they are stored, ends
// the message. If a dead letter cannot be stored the message stays.
func (c *Connector) giveUp(ctx context.Context, js jetstream.JetStream, msg jetstream.Msg, meta *jetstream.MsgMetadata, dls []deadLetter, log *slog.Logger) settlement {
	for _, dl := range dls {
		if err := c.publishDeadLetter(ctx, js, msg, meta, dl); err != nil {
			delay := c.cfg.BackoffMax
			log.Error("dead-letter the event; it stays in the stream", "err", err, "retry_in", delay)
			return settlement{kind: settleNak, delay: delay}
		}
	}
	c.tracker.forget(msgKey{stream: meta.Stream, seq: meta.Sequence.Stream})
	c.metrics.events.WithLabelValues("dead_lettered").Inc()
	return settlement{kind: settleTerm, reason: "dead-lettered: " + dls[0].reason}
}
