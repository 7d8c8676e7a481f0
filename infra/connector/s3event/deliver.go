package s3event

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/connector/core"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// quotaRecheck is how often an event of a blocked tenant (a decision with
// no end) is looked at again; quotaDeferral labels those deferrals.
const (
	quotaRecheck  = 30 * time.Second
	quotaDeferral = "quota"
)

// event is one S3 event message to hand to the functions of its tenant's
// topic; its body goes to them unchanged.
type event struct {
	msg    jetstream.Msg
	meta   *jetstream.MsgMetadata
	key    core.MsgKey
	origin origin
	tenant string
	// topic is the one the event is routed on (see routeOf): s3:<bucket>
	// until routed. keys are the object keys it carries.
	topic  string
	keys   []string
	header http.Header
	log    *slog.Logger
	// parked is set once the event waits in the waiting stream.
	parked bool
}

// deliver hands ev to every function of its tenant subscribed to its
// topic that has not answered 2xx yet, and returns how the message is
// settled. An event to be tried again later waits apart (see the package
// documentation) and its delivery is acked; if it cannot, it waits in
// the shared consumer.
func (f *Flow) deliver(ctx context.Context, ev *event) core.Settlement {
	s, waits := f.decide(ctx, ev)
	if !waits || !core.ValidTenant(ev.tenant) { // the tenant becomes a subject token
		return s
	}
	st, _ := f.tracker.Load(ev.key)
	err := f.wait(ctx, ev, st, s.Delay)
	if err == nil {
		ev.parked = true
		f.tracker.Forget(ev.key)
		f.m.events.WithLabelValues("waiting").Inc()
		return core.Settlement{Kind: core.Ack}
	}
	// Not parked: the event stays unacked where it is, and comes back
	// after its delay. Never acked without a place to wait in.
	reason := "error"
	if errors.As(err, new(errWaitingFull)) {
		reason = "full"
	}
	f.cm.WaitingRefused.WithLabelValues(ev.tenant, reason).Inc()
	ev.log.Error("deferred event not parked in the waiting stream; it stays unacked in its stream and comes back after its delay",
		"err", err, "retry_in", s.Delay)
	return s
}

// decide runs one round for ev, unless something before the functions
// holds it back, and returns its settlement; waits marks a delayed Nak
// (a deferral, or a retry after a failed attempt) that may wait apart.
// Dead letters are published here; the caller settles.
func (f *Flow) decide(ctx context.Context, ev *event) (s core.Settlement, waits bool) {
	st, known := f.tracker.Load(ev.key)
	if !known && ev.origin.state != nil { // an event back from waiting
		st, known = ev.origin.state.Clone(), true
	}
	if !known && ev.meta.NumDelivered > uint64(f.pol.MaxDeliveries) {
		return f.giveUp(ctx, ev.msg, ev.meta, []core.DeadLetter{{
			Origin: ev.origin.dl(), Tenant: ev.tenant, Attempts: int(ev.meta.NumDelivered),
			Reason: core.UnrecordedReason(ev.meta.NumDelivered),
		}}, ev.log), false
	}
	rt := f.dir.Routes()
	if rt == nil {
		// The function list was never read (gateway unreachable since
		// start): not the event's fault, so no attempt is spent.
		ev.log.Info("function list not read yet; event postponed", "retry_in", f.cfg.RefreshInterval)
		return core.Settlement{Kind: core.Nak, Delay: f.cfg.RefreshInterval}, false
	}
	if dec, holds := f.board.Decision(ev.tenant); holds {
		// The stats function holds the tenant back: its new files wait,
		// and no attempt is spent. A block has no end of its own, so it is
		// looked at again now and then.
		wait := quotaRecheck
		if !dec.Until.IsZero() {
			wait = min(max(time.Until(dec.Until), 100*time.Millisecond), f.pol.MaxRetryAfter)
		}
		f.cm.Deferrals.WithLabelValues(quotaDeferral).Inc()
		ev.log.Info("event deferred: the tenant is over its quota", "state", dec.State, "until", dec.Until, "reason", dec.Reason, "retry_in", wait)
		f.tracker.Store(ev.key, st)
		return core.Settlement{Kind: core.Nak, Delay: wait}, true
	}
	if st.Done == nil {
		st.Done = map[string]bool{}
	}
	r := routeOf(rt, ev.tenant, ev.tenant, ev.keys)
	if r.unrouted != "" {
		// Retrying cannot help: the tenant's functions are there, and
		// none takes the key. Dead-lettered at once, with the reason.
		return f.giveUp(ctx, ev.msg, ev.meta, []core.DeadLetter{{
			Origin: ev.origin.dl(), Tenant: ev.tenant, Attempts: st.Failures, Reason: r.unrouted,
		}}, ev.log), false
	}
	ev.topic = r.topic
	ev.header.Set(contract.HeaderTopic, r.topic)
	targets := r.targets
	if len(targets) == 0 {
		st.Failures++
		if st.Failures >= f.pol.MaxAttempts {
			// Stored first so that a failed dead-letter publish does not
			// reset the count; giveUp forgets it once published.
			f.tracker.Store(ev.key, st)
			return f.giveUp(ctx, ev.msg, ev.meta, []core.DeadLetter{{
				Origin: ev.origin.dl(), Tenant: ev.tenant, Attempts: st.Failures,
				Reason: "no function subscribed to " + ev.topic,
			}}, ev.log), false
		}
		delay := f.pol.Backoff(st.Failures)
		f.m.retries.WithLabelValues("").Inc()
		ev.log.Info("no function subscribed yet; event postponed", contract.AnnotationTopic, ev.topic, "attempt", st.Failures, "max_attempts", f.pol.MaxAttempts, "retry_in", delay)
		f.tracker.Store(ev.key, st)
		return core.Settlement{Kind: core.Nak, Delay: delay}, true
	}
	return f.conclude(ctx, ev, &st, f.round(ctx, ev, targets, &st))
}

// failedCall is one function's failed invocation in a round.
type failedCall struct {
	fn  core.Target
	res core.Result
}

// roundResult is what one round of invocations came to.
type roundResult struct {
	failed []failedCall
	// unavailable are the functions that deferred with 503 (an outage,
	// a cold start); deferredBy counts every deferring function.
	unavailable   []failedCall
	deferredBy    int
	deferred      bool
	deferFor      time.Duration
	deferStatus   int
	pending       int
	interruptedBy string
}

// round invokes every target not done with the event yet, one after the
// other: the concurrency bound counts messages, and a tenant normally has
// one batch function. It marks in st the functions that answered 2xx.
func (f *Flow) round(ctx context.Context, ev *event, targets []core.Target, st *core.DeliveryState) roundResult {
	var r roundResult
	for _, t := range targets {
		if st.Done[t.ID()] {
			continue
		}
		r.pending++
		if !f.inflight.take(t) {
			r.deferred, r.deferFor = true, max(r.deferFor, busyRecheck)
			r.deferredBy++
			ev.log.Debug("function has its files in flight; event waits", "function", t.ID(), "max_inflight_files", t.MaxInflightFiles)
			continue
		}
		res := f.inv.Invoke(ctx, t, ev.msg.Data(), ev.header.Clone())
		f.inflight.give(t)
		log := ev.log.With("function", t.ID(), "status", res.Status, "took", res.Took)
		switch res.Outcome {
		case core.OK:
			st.Done[t.ID()] = true
			r.pending--
			log.Info("event delivered")
		case core.Deferred:
			wait := res.RetryAfter
			if !res.HasRetryAfter {
				wait = f.pol.Backoff(st.Deferrals + 1)
			}
			wait = min(wait, f.pol.MaxRetryAfter)
			r.deferred, r.deferStatus = true, res.Status
			r.deferredBy++
			if res.Status == http.StatusServiceUnavailable {
				r.unavailable = append(r.unavailable, failedCall{fn: t, res: res})
			}
			r.deferFor = max(r.deferFor, wait)
			f.cm.Deferrals.WithLabelValues(t.ID()).Inc()
			log.Info("event deferred by the function", "retry_in", wait, "deferrals", st.Deferrals+1)
		case core.Failed:
			r.failed = append(r.failed, failedCall{fn: t, res: res})
			log.Warn("invocation failed", "err", res.Err, "answer", core.Truncate(res.Answer, 256))
		case core.Interrupted:
			r.interruptedBy = t.ID()
			return r
		}
	}
	return r
}

// conclude turns a round into the event's settlement: functions that
// failed their last attempt are dead-lettered (and count as done), and
// the event is acked once no function owes an answer, else tried again
// after the longest of the back-off and the deferrals.
func (f *Flow) conclude(ctx context.Context, ev *event, st *core.DeliveryState, r roundResult) (core.Settlement, bool) {
	if r.interruptedBy != "" {
		// Shutting down: hand the event back at once, for another replica
		// or the next start; an interruption is nobody's failure.
		ev.log.Info("invocation interrupted by shutdown; event handed back", "function", r.interruptedBy)
		f.tracker.Store(ev.key, *st)
		return core.Settlement{Kind: core.Nak}, false
	}
	if r.deferred {
		st.Deferrals++
	}
	dls := f.outlasted(ev, st, &r)
	outlasted := len(dls)
	if len(r.failed) > 0 {
		st.Failures++
		for _, fc := range r.failed {
			if st.Failures < f.pol.MaxAttempts {
				f.m.retries.WithLabelValues(fc.fn.ID()).Inc()
				continue
			}
			dls = append(dls, core.DeadLetter{
				Origin: ev.origin.dl(), Tenant: ev.tenant, Function: fc.fn.ID(), Attempts: st.Failures, LastStatus: fc.res.Status,
				Reason: fmt.Sprintf("gave up after %d attempts: %s", st.Failures, core.FailureReason(fc.fn.ID(), fc.res)),
			})
		}
	}
	for _, dl := range dls {
		if err := f.dls.Publish(ctx, ev.msg, dl); err != nil {
			// Keep the event: the next delivery tries the function once
			// more and, failing, the dead letter again.
			delay := f.pol.Backoff(st.Failures)
			ev.log.Error("dead-letter the event; it stays in the stream", "err", err, "retry_in", delay)
			f.tracker.Store(ev.key, *st)
			return core.Settlement{Kind: core.Nak, Delay: delay}, false
		}
		st.Done[dl.Function] = true
		r.pending--
	}
	if r.pending == 0 {
		f.tracker.Forget(ev.key)
		if len(dls) > 0 {
			f.m.events.WithLabelValues("dead_lettered").Inc()
			return core.Settlement{Kind: core.Term, Reason: "dead-lettered: " + dls[0].Reason}, false
		}
		f.m.events.WithLabelValues("delivered").Inc()
		return core.Settlement{Kind: core.Ack}, false
	}
	var delay time.Duration
	if len(r.failed) > len(dls)-outlasted {
		delay = f.pol.Backoff(st.Failures)
		ev.log.Info("event will be retried", "attempt", st.Failures, "max_attempts", f.pol.MaxAttempts, "retry_in", delay)
	}
	if r.deferred {
		delay = max(delay, r.deferFor)
		ev.log.Debug("event deferred", "status", r.deferStatus, "retry_in", delay)
	}
	f.tracker.Store(ev.key, *st)
	return core.Settlement{Kind: core.Nak, Delay: delay}, delay > 0
}

// outlasted returns the dead letters of the functions that deferred ev
// with 503 past the policy's UnavailableDeadline, counted from the first
// such answer, and takes them out of r's deferrals. Deferrals of an
// outage spend no attempt, but do not wait forever either.
func (f *Flow) outlasted(ev *event, st *core.DeliveryState, r *roundResult) []core.DeadLetter {
	if len(r.unavailable) == 0 {
		return nil
	}
	now := time.Now()
	if st.UnavailableSince.IsZero() {
		st.UnavailableSince = now
	}
	waited := now.Sub(st.UnavailableSince)
	if waited < f.pol.UnavailableDeadline {
		return nil
	}
	var dls []core.DeadLetter
	for _, u := range r.unavailable {
		dls = append(dls, core.DeadLetter{
			Origin: ev.origin.dl(), Tenant: ev.tenant, Function: u.fn.ID(), Attempts: st.Failures, LastStatus: u.res.Status,
			Reason: fmt.Sprintf("unavailable for %s since %s (deadline %s): %s", waited.Round(time.Second),
				st.UnavailableSince.UTC().Format(time.RFC3339), f.pol.UnavailableDeadline, core.FailureReason(u.fn.ID(), u.res)),
		})
	}
	r.deferredBy -= len(r.unavailable)
	r.deferred = r.deferredBy > 0
	return dls
}

// giveUp publishes dead letters for msg and, once they are stored, ends
// the message. If a dead letter cannot be stored the message stays.
func (f *Flow) giveUp(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, dls []core.DeadLetter, log *slog.Logger) core.Settlement {
	for _, dl := range dls {
		if err := f.dls.Publish(ctx, msg, dl); err != nil {
			delay := f.pol.BackoffMax
			log.Error("dead-letter the event; it stays in the stream", "err", err, "retry_in", delay)
			return core.Settlement{Kind: core.Nak, Delay: delay}
		}
	}
	f.tracker.Forget(core.KeyOf(meta))
	f.m.events.WithLabelValues("dead_lettered").Inc()
	return core.Settlement{Kind: core.Term, Reason: "dead-lettered: " + dls[0].Reason}
}

// wait schedules ev to come back after delay with state st; once it
// returns nil, and only then, ev's delivery may be acked.
func (f *Flow) wait(ctx context.Context, ev *event, st core.DeliveryState, delay time.Duration) error {
	// Schedules have whole seconds: round up, never fire early.
	at := time.Now().Add(delay).Truncate(time.Second).Add(time.Second)
	m := nats.NewMsg(f.cfg.WaitingSubjectPrefix + ".at." + ev.tenant + "." + ev.origin.id)
	m.Data = ev.msg.Data()
	for k, v := range ev.msg.Headers() {
		if !strings.HasPrefix(k, "Nats-") {
			m.Header[k] = v
		}
	}
	w, _ := json.Marshal(waitState{Failures: st.Failures, Deferrals: st.Deferrals, UnavailableSince: st.UnavailableSince,
		Done: slices.Sorted(maps.Keys(st.Done))})
	m.Header.Set(hdrEventID, ev.origin.id)
	m.Header.Set(contract.DeadLetterHeaderSubject, ev.origin.subject)
	m.Header.Set(contract.DeadLetterHeaderStream, ev.origin.stream)
	m.Header.Set(hdrDeliveries, strconv.FormatUint(ev.origin.delivery(ev.meta), 10))
	m.Header.Set(hdrState, string(w))
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	size := len(m.Subject) + len(m.Data)
	for k, vs := range m.Header {
		for _, v := range vs {
			size += len(k) + len(v) + 4
		}
	}
	if err := f.admit(pctx, size, ev.meta.Stream == f.cfg.WaitingStream); err != nil {
		return err
	}
	if _, err := f.js.PublishMsg(pctx, m, jetstream.WithScheduleAt(at), jetstream.WithScheduleTarget(f.cfg.WaitingSubjectPrefix+".ready."+ev.tenant)); err != nil {
		return fmt.Errorf("store the schedule in stream %s: %w", f.cfg.WaitingStream, err)
	}
	ev.log.Debug("deferred event waits apart", "until", at)
	return nil
}
