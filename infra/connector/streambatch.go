package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mysimbdp/mysimbdp/shared/streamingest"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// streamRec is one record of a batch and what becomes of it.
type streamRec struct {
	msg  jetstream.Msg
	meta *jetstream.MsgMetadata
	key  msgKey
	id   string
	st   deliveryState
	// s is the settlement; dl, when set, is published first and turns a
	// successful publish into a Term.
	s  settlement
	dl *deadLetter
}

// recordID is a record's id for the function: the publisher's
// Nats-Msg-Id (stable across a re-publish) or else stream:sequence.
func recordID(m jetstream.Msg, meta *jetstream.MsgMetadata) string {
	return streamingest.RecordID(m.Headers().Get(jetstream.MsgIDHeader), meta.Stream, meta.Sequence.Stream)
}

// deliverBatch invokes the function with msgs and settles each record by
// its answer: acked when done, retried with back-off when failed,
// dead-lettered after MaxAttempts failures, redelivered after the
// function's Retry-After when deferred, handed straight back when the
// connector shuts down. The records stay in progress while it runs.
// invoked is called once the function has answered (or was never called):
// it frees the function's slot before the records are settled.
func (w *streamWorker) deliverBatch(ctx context.Context, s *streamSpec, msgs []jetstream.Msg, invoked func()) {
	c := w.c
	fn := s.fn.ID()
	stopKA := keepAliveAll(msgs, c.cfg.AckWait/3, func(err error) { w.log.Warn("extend ack deadline", "err", err) })

	all := make([]*streamRec, 0, len(msgs))
	var send []*streamRec
	for _, m := range msgs {
		meta, err := m.Metadata()
		if err != nil {
			// Not a JetStream delivery; nothing to settle against.
			w.log.Error("record without JetStream metadata", "subject", m.Subject(), "err", err)
			continue
		}
		r := &streamRec{msg: m, meta: meta, key: msgKey{stream: meta.Stream, seq: meta.Sequence.Stream}, id: recordID(m, meta),
			// Until the answer says otherwise the record comes back: only
			// an explicit decision acks.
			s: settlement{kind: settleNak, delay: c.cfg.BackoffInitial}}
		all = append(all, r)
		st, known := w.tracker.load(r.key)
		r.st = st
		if !known && meta.NumDelivered > uint64(c.cfg.MaxDeliveries) {
			// See Config.MaxDeliveries: only a connector that never got to
			// record an outcome gets here.
			r.dl = &deadLetter{tenant: s.tenant, function: fn, attempts: int(meta.NumDelivered), recordID: r.id,
				reason: fmt.Sprintf("delivered %d times without an outcome recorded by this connector (does handling it crash the connector?)", meta.NumDelivered)}
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
			if err := c.publishDeadLetter(ctx, w.js, r.msg, r.meta, *r.dl); err != nil {
				// Keep the record: its next delivery tries once more and,
				// failing, the dead letter again.
				delay := backoff(max(r.st.failures, 1), c.cfg.BackoffInitial, c.cfg.BackoffMax)
				w.log.Error("dead-letter the record; it stays in the stream", "record", r.id, "err", err, "retry_in", delay)
				r.s = settlement{kind: settleNak, delay: delay}
			} else {
				r.s = settlement{kind: settleTerm, reason: "dead-lettered"}
				c.smetrics.records.WithLabelValues(fn, "dead_lettered").Inc()
				dead++
			}
		}
		switch r.s.kind {
		case settleAck:
			acked++
			w.tracker.forget(r.key)
		case settleTerm:
			w.tracker.forget(r.key)
		default:
			retried++
			w.tracker.store(r.key, r.st)
		}
	}
	if acked > 0 {
		c.smetrics.records.WithLabelValues(fn, "delivered").Add(float64(acked))
	}
	w.settleRecords(ctx, all)
	w.log.Debug("batch settled", "records", len(all), "acked", acked, "retried", retried, "dead_lettered", dead,
		"invoke_ms", took.Milliseconds(), "settle_ms", time.Since(start.Add(took)).Milliseconds())
}

// invokeBatch calls the function with recs and decides each record's
// settlement (and dead letter).
func (w *streamWorker) invokeBatch(ctx context.Context, s *streamSpec, recs []*streamRec) {
	c := w.c
	fn := s.fn.ID()
	batch := StreamBatch{Tenant: s.tenant, Records: make([]StreamRecord, len(recs))}
	var delivery uint64
	for i, r := range recs {
		h := map[string][]string(r.msg.Headers())
		if h == nil {
			h = map[string][]string{}
		}
		batch.Records[i] = StreamRecord{ID: r.id, Subject: r.msg.Subject(), Headers: h, Data: r.msg.Data(), PublishedAt: r.meta.Timestamp.UTC()}
		delivery = max(delivery, r.meta.NumDelivered)
	}
	body, err := json.Marshal(batch)
	if err != nil {
		// Cannot happen with these types; if it does, it is nobody's
		// attempt: retry later.
		w.log.Error("encode batch", "err", err)
		for _, r := range recs {
			r.s = settlement{kind: settleNak, delay: c.cfg.BackoffMax}
		}
		return
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(HeaderTopic, s.topicHeader())
	h.Set(HeaderTenant, s.tenant)
	h.Set(HeaderDelivery, strconv.FormatUint(delivery, 10))
	c.smetrics.batchSize.WithLabelValues(fn).Observe(float64(len(recs)))
	res := c.invokeLimit(ctx, s.fn, body, h, streamAnswerLimit)
	log := w.log.With("records", len(recs), "status", res.status, "took", res.took)

	switch res.outcome {
	case outcomeInterrupted:
		// Shutting down: hand the records back at once, for another
		// replica or the next start; an interruption is nobody's failure.
		log.Info("invocation interrupted by shutdown; batch handed back")
		for _, r := range recs {
			r.s = settlement{kind: settleNak}
		}
	case outcomeDeferred:
		deferrals := 0
		for _, r := range recs {
			r.st.deferrals++
			deferrals = max(deferrals, r.st.deferrals)
		}
		wait := res.retryAfter
		if !res.hasRetryAfter {
			wait = backoff(deferrals, c.cfg.BackoffInitial, c.cfg.BackoffMax)
		}
		wait = min(wait, c.cfg.MaxRetryAfter)
		// Hold back pulls too: the records behind would be deferred alike.
		w.notBefore.Store(time.Now().Add(wait).UnixNano())
		c.metrics.deferrals.WithLabelValues(fn).Inc()
		c.smetrics.records.WithLabelValues(fn, "deferred").Add(float64(len(recs)))
		log.Info("batch deferred by the function", "retry_in", wait, "deferrals", deferrals)
		for _, r := range recs {
			r.s = settlement{kind: settleNak, delay: wait}
		}
	case outcomeFailed:
		reason := failureReason(fn, res)
		log.Warn("invocation failed; whole batch retried", "err", res.err, "answer", truncate(res.answer, 256))
		for _, r := range recs {
			w.fail(s, r, res.status, reason)
		}
	case outcomeOK:
		failed, err := parseStreamResponse(res.answer, res.truncated, recs)
		if err != nil {
			res.err = err
			reason := failureReason(fn, res)
			log.Warn("unusable answer; whole batch retried", "err", err)
			for _, r := range recs {
				w.fail(s, r, res.status, reason)
			}
			return
		}
		if len(failed) > 0 {
			log.Info("function reported failed records", "failed", len(failed))
		}
		for _, r := range recs {
			why, bad := failed[r.id]
			if !bad {
				r.s = settlement{kind: settleAck}
				continue
			}
			w.fail(s, r, res.status, fmt.Sprintf("function %s reported record %s failed: %s", fn, r.id, why))
		}
	}
}

// fail counts a failed attempt for r and schedules its retry, or its dead
// letter once it has had MaxAttempts.
func (w *streamWorker) fail(s *streamSpec, r *streamRec, status int, reason string) {
	c := w.c
	r.st.failures++
	c.smetrics.records.WithLabelValues(s.fn.ID(), "failed").Inc()
	if r.st.failures >= c.cfg.MaxAttempts {
		r.dl = &deadLetter{tenant: s.tenant, function: s.fn.ID(), attempts: r.st.failures, lastStatus: status, recordID: r.id,
			reason: fmt.Sprintf("gave up after %d attempts: %s", r.st.failures, reason)}
		return
	}
	r.s = settlement{kind: settleNak, delay: backoff(r.st.failures, c.cfg.BackoffInitial, c.cfg.BackoffMax)}
}

// parseStreamResponse reads a 2xx answer into failed record id → reason.
// As with Lambda's partial batch response, an answer that cannot be fully
// trusted (unreadable, cut, or naming a record not in the batch) fails
// the whole batch rather than ack a record the function did not take.
func parseStreamResponse(answer []byte, truncated bool, recs []*streamRec) (map[string]string, error) {
	if truncated {
		return nil, fmt.Errorf("answer longer than %d bytes", streamAnswerLimit)
	}
	answer = bytes.TrimSpace(answer)
	if len(answer) == 0 || string(answer) == "null" {
		return nil, nil
	}
	var resp StreamResponse
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
	failed := map[string]string{}
	for _, f := range resp.BatchItemFailures {
		if !ids[f.ItemIdentifier] {
			return nil, fmt.Errorf("batchItemFailures names %q, which is not a record of the batch", f.ItemIdentifier)
		}
		why := f.Reason
		if why == "" {
			why = "(no reason given)"
		}
		failed[f.ItemIdentifier] = truncate([]byte(why), reasonLimit)
	}
	return failed, nil
}

// settleRecords tells JetStream each record's outcome, then flushes, so
// that the acks have reached the server when the batch counts as done.
// Plain acks rather than DoubleAck: a batch would wait one round trip per
// record, and a lost ack only means an idempotent redelivery.
func (w *streamWorker) settleRecords(ctx context.Context, recs []*streamRec) {
	var errs []error
	for _, r := range recs {
		var err error
		switch r.s.kind {
		case settleAck:
			err = r.msg.Ack()
		case settleNak:
			if r.s.delay > 0 {
				err = r.msg.NakWithDelay(r.s.delay)
			} else {
				err = r.msg.Nak()
			}
		case settleTerm:
			err = r.msg.TermWithReason(r.s.reason)
		}
		if err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			errs = append(errs, fmt.Errorf("record %s: %w", r.id, err))
		}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.js.Conn().FlushWithContext(fctx); err != nil {
		errs = append(errs, fmt.Errorf("flush: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		w.log.Warn("settle records; JetStream will redeliver the unsettled ones after AckWait", "err", err)
	}
}
