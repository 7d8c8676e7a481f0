package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/connector/core"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// streamRec is one record of a batch and what becomes of it.
type streamRec struct {
	msg  jetstream.Msg
	meta *jetstream.MsgMetadata
	key  core.MsgKey
	id   string
	st   core.DeliveryState
	// s is the settlement; dl, when set, is published first and turns a
	// successful publish into a Term.
	s  core.Settlement
	dl *core.DeadLetter
}

// recordID is a record's id for the function: the publisher's
// Nats-Msg-Id (stable across a re-publish) or else stream:sequence.
func recordID(m jetstream.Msg, meta *jetstream.MsgMetadata) string {
	return contract.RecordID(m.Headers().Get(jetstream.MsgIDHeader), meta.Stream, meta.Sequence.Stream)
}

// deliverBatch invokes the function with msgs and settles each record by
// its answer: acked when done, retried with back-off when failed,
// dead-lettered after MaxAttempts failures, redelivered after the
// function's Retry-After when deferred, handed straight back when the
// connector shuts down. The records stay in progress while it runs.
// invoked is called once the function has answered (or was never called):
// it frees the function's slot before the records are settled.
func (w *worker) deliverBatch(ctx context.Context, s *streamSpec, msgs []jetstream.Msg, invoked func()) {
	m := w.m
	fn := s.fn.ID()
	stopKA := core.KeepAlive(msgs, m.pol.KeepAliveEvery(), func(err error) { w.log.Warn("extend ack deadline", "err", err) })

	all := make([]*streamRec, 0, len(msgs))
	var send []*streamRec
	for _, msg := range msgs {
		meta, err := msg.Metadata()
		if err != nil {
			// Not a JetStream delivery; nothing to settle against.
			w.log.Error("record without JetStream metadata", "subject", msg.Subject(), "err", err)
			continue
		}
		r := &streamRec{msg: msg, meta: meta, key: core.KeyOf(meta), id: recordID(msg, meta),
			// Until the answer says otherwise the record comes back: only
			// an explicit decision acks.
			s: core.Settlement{Kind: core.Nak, Delay: m.pol.BackoffInitial}}
		all = append(all, r)
		st, known := w.tracker.Load(r.key)
		r.st = st
		if !known && meta.NumDelivered > uint64(m.pol.MaxDeliveries) {
			// See core.Policy.MaxDeliveries.
			r.dl = &core.DeadLetter{Tenant: s.tenant, Function: fn, Attempts: int(meta.NumDelivered), RecordID: r.id,
				Reason: core.UnrecordedReason(meta.NumDelivered)}
			continue
		}
		send = append(send, r)
	}
	start := time.Now()
	if len(send) > 0 {
		w.invokeBatch(ctx, s, send)
	}
	took := time.Since(start)
	invoked()
	stopKA()

	var acked, dead, retried int
	for _, r := range all {
		if r.dl != nil {
			r.dl.Origin = core.OriginOf(r.msg, r.meta)
			if err := m.dls.Publish(ctx, r.msg, *r.dl); err != nil {
				// Keep the record: its next delivery tries once more and,
				// failing, the dead letter again.
				delay := m.pol.Backoff(max(r.st.Failures, 1))
				w.log.Error("dead-letter the record; it stays in the stream", "record", r.id, "err", err, "retry_in", delay)
				r.s = core.Settlement{Kind: core.Nak, Delay: delay}
			} else {
				r.s = core.Settlement{Kind: core.Term, Reason: "dead-lettered"}
				m.m.records.WithLabelValues(fn, "dead_lettered").Inc()
				dead++
			}
		}
		switch r.s.Kind {
		case core.Ack:
			acked++
			w.tracker.Forget(r.key)
		case core.Term:
			w.tracker.Forget(r.key)
		default:
			retried++
			w.tracker.Store(r.key, r.st)
		}
	}
	if acked > 0 {
		m.m.records.WithLabelValues(fn, "delivered").Add(float64(acked))
	}
	settled := make([]core.Settled, len(all))
	for i, r := range all {
		settled[i] = core.Settled{Msg: r.msg, ID: r.id, Settlement: r.s}
	}
	core.SettleBatch(ctx, m.js.Conn(), settled, w.log)
	w.log.Debug("batch settled", "records", len(all), "acked", acked, "retried", retried, "dead_lettered", dead,
		"invoke_ms", took.Milliseconds(), "settle_ms", time.Since(start.Add(took)).Milliseconds())
}

// invokeBatch calls the function with recs and decides each record's
// settlement (and dead letter).
func (w *worker) invokeBatch(ctx context.Context, s *streamSpec, recs []*streamRec) {
	m := w.m
	fn := s.fn.ID()
	var delivery uint64
	for _, r := range recs {
		delivery = max(delivery, r.meta.NumDelivered)
	}
	// A record's JSON is ~3/4 of its base64 with the other fields: room
	// for all of them at once.
	size := 64
	for _, r := range recs {
		size += 160 + len(r.id) + len(r.msg.Subject()) + len(r.msg.Data())*4/3
	}
	body := appendBatch(make([]byte, 0, size), s.tenant, recs, s.rawJSON)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(contract.HeaderTopic, s.topicHeader())
	h.Set(contract.HeaderTenant, s.tenant)
	h.Set(contract.HeaderDelivery, strconv.FormatUint(delivery, 10))
	m.m.batchSize.WithLabelValues(fn).Observe(float64(len(recs)))
	res := m.inv.InvokeLimit(ctx, s.fn, body, h, answerLimit)
	w.decide(s, recs, res)
}

// decide settles each record of recs by the function's answer res.
func (w *worker) decide(s *streamSpec, recs []*streamRec, res core.Result) {
	m := w.m
	fn := s.fn.ID()
	log := w.log.With("records", len(recs), "status", res.Status, "took", res.Took)
	switch res.Outcome {
	case core.Interrupted:
		// Shutting down: hand the records back at once, for another
		// replica or the next start; an interruption is nobody's failure.
		log.Info("invocation interrupted by shutdown; batch handed back")
		for _, r := range recs {
			r.s = core.Settlement{Kind: core.Nak}
		}
	case core.Deferred:
		deferrals := 0
		for _, r := range recs {
			r.st.Deferrals++
			deferrals = max(deferrals, r.st.Deferrals)
		}
		wait := res.RetryAfter
		if !res.HasRetryAfter {
			wait = m.pol.Backoff(deferrals)
		}
		wait = min(wait, m.pol.MaxRetryAfter)
		// Hold back pulls too: the records behind would be deferred alike.
		w.notBefore.Store(time.Now().Add(wait).UnixNano())
		m.cm.Deferrals.WithLabelValues(fn).Inc()
		m.m.records.WithLabelValues(fn, "deferred").Add(float64(len(recs)))
		log.Info("batch deferred by the function", "retry_in", wait, "deferrals", deferrals)
		for _, r := range recs {
			r.s = core.Settlement{Kind: core.Nak, Delay: wait}
		}
	case core.Failed:
		reason := core.FailureReason(fn, res)
		log.Warn("invocation failed; whole batch retried", "err", res.Err, "answer", core.Truncate(res.Answer, 256))
		for _, r := range recs {
			w.fail(s, r, res.Status, reason)
		}
	case core.OK:
		failed, err := parseStreamResponse(res.Answer, res.Truncated, recs)
		if err != nil {
			res.Err = err
			reason := core.FailureReason(fn, res)
			log.Warn("unusable answer; whole batch retried", "err", err)
			for _, r := range recs {
				w.fail(s, r, res.Status, reason)
			}
			return
		}
		if len(failed) > 0 {
			log.Info("function reported failed records", "failed", len(failed))
		}
		for _, r := range recs {
			f, bad := failed[r.id]
			switch {
			case !bad:
				r.s = core.Settlement{Kind: core.Ack}
			case f.permanent:
				w.deadNow(s, r, res.Status, fmt.Sprintf("function %s reported record %s can never succeed: %s", fn, r.id, f.reason))
			default:
				w.fail(s, r, res.Status, fmt.Sprintf("function %s reported record %s failed: %s", fn, r.id, f.reason))
			}
		}
	}
}

// fail counts a failed attempt for r and schedules its retry, or its dead
// letter once it has had MaxAttempts.
func (w *worker) fail(s *streamSpec, r *streamRec, status int, reason string) {
	m := w.m
	r.st.Failures++
	m.m.records.WithLabelValues(s.fn.ID(), "failed").Inc()
	if r.st.Failures >= m.pol.MaxAttempts {
		r.dl = &core.DeadLetter{Tenant: s.tenant, Function: s.fn.ID(), Attempts: r.st.Failures, LastStatus: status, RecordID: r.id,
			Reason: fmt.Sprintf("gave up after %d attempts: %s", r.st.Failures, reason)}
		return
	}
	r.s = core.Settlement{Kind: core.Nak, Delay: m.pol.Backoff(r.st.Failures)}
}

// deadNow dead-letters r at once: its function says it can never succeed
// (contract.ItemFailure.Permanent), so retries would only be spent.
func (w *worker) deadNow(s *streamSpec, r *streamRec, status int, reason string) {
	r.st.Failures++
	w.m.m.records.WithLabelValues(s.fn.ID(), "failed").Inc()
	r.dl = &core.DeadLetter{Tenant: s.tenant, Function: s.fn.ID(), Attempts: r.st.Failures, LastStatus: status, RecordID: r.id,
		Reason: "dead-lettered at once: " + reason}
}

// itemFailure is what the function's answer says of one failed record.
type itemFailure struct {
	reason    string
	permanent bool
}

// parseStreamResponse reads a 2xx answer into failed record id → failure.
// As with Lambda's partial batch response, an answer that cannot be fully
// trusted (unreadable, cut, or naming a record not in the batch) fails
// the whole batch rather than ack a record the function did not take.
func parseStreamResponse(answer []byte, truncated bool, recs []*streamRec) (map[string]itemFailure, error) {
	if truncated {
		return nil, fmt.Errorf("answer longer than %d bytes", answerLimit)
	}
	answer = bytes.TrimSpace(answer)
	if len(answer) == 0 || string(answer) == "null" {
		return nil, nil
	}
	var resp contract.Response
	dec := json.NewDecoder(bytes.NewReader(answer))
	if err := dec.Decode(&resp); err != nil {
		return nil, fmt.Errorf("answer is not a batch response {\"batchItemFailures\":[...]}: %w", err)
	}
	if len(resp.BatchItemFailures) == 0 {
		return nil, nil
	}
	ids := make(map[string]bool, len(recs))
	for _, r := range recs {
		ids[r.id] = true
	}
	failed := map[string]itemFailure{}
	for _, f := range resp.BatchItemFailures {
		if !ids[f.ItemIdentifier] {
			return nil, fmt.Errorf("batchItemFailures names %q, which is not a record of the batch", f.ItemIdentifier)
		}
		why := f.Reason
		if why == "" {
			why = "(no reason given)"
		}
		failed[f.ItemIdentifier] = itemFailure{reason: core.Truncate([]byte(why), core.ReasonLimit), permanent: f.Permanent}
	}
	return failed, nil
}
