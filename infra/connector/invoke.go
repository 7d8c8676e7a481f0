package connector

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Headers the connector sends with every invocation.
const (
	HeaderTopic   = "X-Topic"
	HeaderTenant  = "X-Mysimbdp-Tenant"
	HeaderEventID = "X-Mysimbdp-Event-Id"
	// HeaderDelivery is the message's delivery count (1 on first delivery),
	// so a function can tell a retry from a first try in its logs.
	HeaderDelivery = "X-Mysimbdp-Delivery"
)

// answerLimit bounds how much of a function's answer is kept: enough for
// a report or a list of failed record ids, never a whole dump.
const answerLimit = 64 << 10

// outcome classifies one invocation.
type outcome int

const (
	outcomeOK          outcome = iota // 2xx
	outcomeDeferred                   // 429/503: try later, not a failure
	outcomeFailed                     // any other answer or a transport error
	outcomeInterrupted                // the connector is shutting down
)

func (o outcome) String() string {
	switch o {
	case outcomeOK:
		return "ok"
	case outcomeDeferred:
		return "deferred"
	case outcomeFailed:
		return "failed"
	default:
		return "interrupted"
	}
}

// result is what one invocation produced.
type result struct {
	outcome outcome
	// status is the HTTP status; 0 for a transport error.
	status int
	// retryAfter is the function's Retry-After, if it gave a readable one.
	retryAfter    time.Duration
	hasRetryAfter bool
	// answer is the start of the answer body (up to answerLimit).
	answer []byte
	// truncated says the answer was longer than what answer holds.
	truncated bool
	err       error
	took      time.Duration
}

// code is the status as a metrics label.
func (r result) code() string {
	if r.status == 0 {
		if r.outcome == outcomeInterrupted {
			return "interrupted"
		}
		return "error"
	}
	return strconv.Itoa(r.status)
}

// invoke calls one function with body and classifies its answer. ctx is
// cancelled only when the connector gives up on in-flight work at
// shutdown; the invocation's own bound is InvokeTimeout. Only the first
// answerLimit bytes of the answer are kept.
func (c *Connector) invoke(ctx context.Context, t target, body []byte, header http.Header) result {
	return c.invokeLimit(ctx, t, body, header, answerLimit)
}

// invokeLimit is invoke keeping up to limit bytes of the answer; a longer
// answer sets result.truncated.
func (c *Connector) invokeLimit(ctx context.Context, t target, body []byte, header http.Header, limit int64) result {
	ictx, cancel := context.WithTimeout(ctx, c.cfg.InvokeTimeout)
	defer cancel()
	start := time.Now()
	resp, err := c.gw.Invoke(ictx, t.ID(), bytes.NewReader(body), header)
	if err != nil {
		r := result{outcome: outcomeFailed, err: err, took: time.Since(start)}
		if ctx.Err() != nil {
			r.outcome = outcomeInterrupted
		} else if errors.Is(err, context.DeadlineExceeded) {
			r.err = errors.New("invocation timed out after " + c.cfg.InvokeTimeout.String())
		}
		c.observe(t, r)
		return r
	}
	defer resp.Body.Close()
	answer, rerr := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	truncated := int64(len(answer)) > limit
	if truncated {
		answer = answer[:limit]
	}
	// Drain the rest (bounded) so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	r := result{status: resp.StatusCode, answer: answer, truncated: truncated, took: time.Since(start)}
	r.retryAfter, r.hasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	switch {
	case resp.StatusCode/100 == 2 && rerr != nil:
		// A cut answer may hide a failure report: do not trust it.
		r.outcome, r.err = outcomeFailed, rerr
	case resp.StatusCode/100 == 2:
		r.outcome = outcomeOK
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusServiceUnavailable:
		r.outcome = outcomeDeferred
	default:
		r.outcome = outcomeFailed
	}
	if r.outcome != outcomeOK && ctx.Err() != nil {
		r.outcome = outcomeInterrupted
	}
	c.observe(t, r)
	return r
}

func (c *Connector) observe(t target, r result) {
	c.metrics.invocations.WithLabelValues(t.ID(), r.code()).Inc()
	c.metrics.invocationSeconds.WithLabelValues(t.ID()).Observe(r.took.Seconds())
}

// keepAlive tells JetStream every interval that msg is still being worked
// on, so that its AckWait does not expire during a long invocation and
// hand the same file to a second replica. The returned stop waits for the
// goroutine to end.
func keepAlive(msg jetstream.Msg, interval time.Duration, onErr func(error)) (stop func()) {
	return keepAliveAll([]jetstream.Msg{msg}, interval, onErr)
}
