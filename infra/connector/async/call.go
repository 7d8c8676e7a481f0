package async

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/connector/core"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// answerLimit bounds the answer kept for the callback.
const answerLimit = 4 << 20

// handle runs one call and settles its message.
func (f *Flow) handle(ctx context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		f.log.Error("message without JetStream metadata", "subject", msg.Subject(), "err", err)
		return
	}
	log := f.log.With("stream", meta.Stream, "seq", meta.Sequence.Stream, "delivery", meta.NumDelivered)
	stop := core.KeepAlive([]jetstream.Msg{msg}, f.pol.KeepAliveEvery(), func(err error) {
		log.Warn("extend ack deadline", "err", err)
	})
	s := f.run(ctx, msg, meta, log)
	stop()
	core.Settle(ctx, msg, s, log)
}

// run invokes the call's function once and decides what becomes of the
// message; a call that ends (answered 2xx or given up on) has its
// callback made first.
func (f *Flow) run(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, log *slog.Logger) core.Settlement {
	key := core.KeyOf(meta)
	call, err := contract.AsyncCallOf(msg.Headers(), msg.Data())
	if err != nil {
		return f.giveUp(ctx, msg, meta, call, core.DeadLetter{Reason: "unreadable asynchronous call: " + err.Error()}, core.Result{}, log)
	}
	t := core.Target{Name: call.Name, Namespace: call.Namespace, Tenant: call.Tenant}
	log = log.With("function", t.ID(), "call_id", call.CallID())
	st, known := f.tracker.Load(key)
	if !known && meta.NumDelivered > uint64(f.pol.MaxDeliveries) {
		return f.giveUp(ctx, msg, meta, call, core.DeadLetter{Function: t.ID(), Reason: core.UnrecordedReason(meta.NumDelivered)}, core.Result{}, log)
	}

	h := call.Header.Clone()
	h.Set(contract.HeaderDelivery, strconv.FormatUint(meta.NumDelivered, 10))
	r := f.inv.InvokeRequest(ctx, t, core.Request{Method: call.Method, Path: call.Path, RawQuery: call.RawQuery, Body: call.Body, Header: h, Unsigned: true}, answerLimit)
	switch r.Outcome {
	case core.OK:
		if r.Truncated {
			log.Warn("answer longer than the callback carries; truncated", "limit", answerLimit)
		}
		f.callback(ctx, call, t, r, log)
		f.tracker.Forget(key)
		f.m.calls.WithLabelValues("delivered").Inc()
		return core.Settlement{Kind: core.Ack}
	case core.Interrupted:
		return core.Settlement{Kind: core.Nak}
	case core.Deferred:
		st.Deferrals++
		if r.Status == http.StatusServiceUnavailable {
			if st.UnavailableSince.IsZero() {
				st.UnavailableSince = time.Now()
			} else if time.Since(st.UnavailableSince) > f.pol.UnavailableDeadline {
				reason := fmt.Sprintf("unavailable (503) since %s, past the deadline of %s: %s",
					st.UnavailableSince.Format(time.RFC3339), f.pol.UnavailableDeadline, core.FailureReason(t.ID(), r))
				return f.giveUp(ctx, msg, meta, call, core.DeadLetter{Function: t.ID(), Attempts: st.Failures, LastStatus: r.Status, Reason: reason}, r, log)
			}
		}
		delay := f.pol.Backoff(st.Deferrals)
		if r.HasRetryAfter {
			delay = min(r.RetryAfter, f.pol.MaxRetryAfter)
		}
		f.tracker.Store(key, st)
		f.cm.Deferrals.WithLabelValues(t.ID()).Inc()
		f.m.calls.WithLabelValues("deferred").Inc()
		log.Info("asynchronous call deferred", "status", r.Status, "retry_in", delay)
		return core.Settlement{Kind: core.Nak, Delay: delay}
	default: // core.Failed
		st.Failures++
		// The provider's 404: the function is gone; trying again will
		// not bring it back.
		gone := r.Status == http.StatusNotFound && r.Origin == contract.OriginProvider
		if st.Failures >= f.pol.MaxAttempts || gone {
			return f.giveUp(ctx, msg, meta, call, core.DeadLetter{Function: t.ID(), Attempts: st.Failures, LastStatus: r.Status,
				Reason: core.FailureReason(t.ID(), r)}, r, log)
		}
		delay := f.pol.Backoff(st.Failures)
		f.tracker.Store(key, st)
		f.m.calls.WithLabelValues("retried").Inc()
		log.Info("asynchronous call failed; retrying", "status", r.Status, "attempt", st.Failures, "retry_in", delay, "err", r.Err)
		return core.Settlement{Kind: core.Nak, Delay: delay}
	}
}

// giveUp dead-letters the call, reports the failure to its callback and
// terminates the message; if the dead letter cannot be stored, the
// message comes back later instead, so that nothing is lost.
func (f *Flow) giveUp(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, call contract.AsyncCall, dl core.DeadLetter, r core.Result, log *slog.Logger) core.Settlement {
	dl.Origin = core.OriginOf(msg, meta)
	dl.Tenant = call.Tenant
	if err := f.dls.Publish(ctx, msg, dl); err != nil {
		log.Error("store dead letter; the call comes back later", "err", err)
		return core.Settlement{Kind: core.Nak, Delay: f.pol.BackoffMax}
	}
	if r.Status == 0 {
		// Never answered: the callback says so as a gateway would.
		r.Status = http.StatusBadGateway
		r.Answer = []byte(dl.Reason)
		r.Header = nil
	}
	if call.Name != "" {
		f.callback(ctx, call, core.Target{Name: call.Name, Namespace: call.Namespace}, r, log)
	}
	f.tracker.Forget(core.KeyOf(meta))
	f.m.calls.WithLabelValues("dead_lettered").Inc()
	return core.Settlement{Kind: core.Term, Reason: dl.Reason}
}

// callback POSTs the call's answer to its X-Callback-Url, if it has one,
// trying CallbackAttempts times with back-off on transport errors, 429
// and 5xx. A callback that never got through is logged and counted: the
// call itself is settled either way.
func (f *Flow) callback(ctx context.Context, call contract.AsyncCall, t core.Target, r core.Result, log *slog.Logger) {
	url := call.CallbackURL()
	if url == "" {
		return
	}
	var last string
tries:
	for attempt := 1; attempt <= f.cfg.CallbackAttempts; attempt++ {
		if attempt > 1 && !core.Sleep(ctx, f.pol.Backoff(attempt-1)) {
			break
		}
		status, err := f.postCallback(ctx, url, call, t, r)
		switch {
		case err == nil && status/100 == 2:
			f.m.callbacks.WithLabelValues("delivered").Inc()
			log.Debug("callback delivered", "status", status)
			return
		case err != nil:
			last = err.Error()
		default:
			last = "answered " + strconv.Itoa(status)
			if status != http.StatusTooManyRequests && status < 500 {
				break tries // the receiver refused it: trying again will not help
			}
		}
	}
	f.m.callbacks.WithLabelValues("failed").Inc()
	// The URL may carry a token: log its host only.
	log.Warn("callback not delivered; giving up on it", "callback_host", hostOf(url), "last", last)
}

func (f *Flow) postCallback(ctx context.Context, url string, call contract.AsyncCall, t core.Target, r core.Result) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(r.Answer))
	if err != nil {
		return 0, fmt.Errorf("callback request: %w", err)
	}
	for k, v := range r.Header {
		switch k {
		case "Content-Length", "Connection", "Transfer-Encoding", "Keep-Alive", "Date", "Trailer", "Upgrade":
		default:
			req.Header[k] = v
		}
	}
	req.Header.Set(contract.HeaderCallID, call.CallID())
	req.Header.Set(contract.HeaderFunctionName, t.ID())
	req.Header.Set(contract.HeaderFunctionStatus, strconv.Itoa(r.Status))
	req.Header.Set(contract.HeaderDurationSeconds, strconv.FormatFloat(r.Took.Seconds(), 'f', 6, 64))
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post callback: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

func hostOf(raw string) string {
	req, err := http.NewRequest(http.MethodPost, raw, nil)
	if err != nil {
		return "(unreadable URL)"
	}
	return req.URL.Host
}
