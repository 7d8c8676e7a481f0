package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
)

// AnswerLimit bounds how much of a function's answer Invoke keeps: enough
// for a report or a list of failed record ids, never a whole dump.
const AnswerLimit = 64 << 10

// Outcome classifies one invocation.
type Outcome int

const (
	OK          Outcome = iota // 2xx
	Deferred                   // 429/503: try later, not a failure
	Failed                     // any other answer (the runtime's exec_timeout 503 too) or a transport error
	Interrupted                // the connector is shutting down
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Deferred:
		return "deferred"
	case Failed:
		return "failed"
	default:
		return "interrupted"
	}
}

// Result is what one invocation produced.
type Result struct {
	Outcome Outcome
	// Status is the HTTP status; 0 for a transport error.
	Status int
	// Origin is who made the answer when not the function itself
	// (contract.HeaderOrigin: contract.OriginRuntime, OriginProvider).
	Origin string
	// RetryAfter is the function's Retry-After, if it gave a readable one
	// (HasRetryAfter).
	RetryAfter    time.Duration
	HasRetryAfter bool
	// Answer is the start of the answer body (up to the limit asked for);
	// Truncated says the answer was longer.
	Answer    []byte
	Truncated bool
	// Header is the answer's headers (nil without an answer).
	Header http.Header
	Err    error
	Took   time.Duration
}

// code is the status as a metrics label.
func (r Result) code() string {
	if r.Status == 0 {
		if r.Outcome == Interrupted {
			return "interrupted"
		}
		return "error"
	}
	return strconv.Itoa(r.Status)
}

// Invoker calls functions through the gateway, each call bounded by its
// timeout and, when it has the platform's invocation master key, signed
// with the function's own key (shared/invokesig), and counts them.
type Invoker struct {
	gw      *gateway.Client
	timeout time.Duration
	m       *Metrics
	master  []byte
}

// NewInvoker returns an invoker whose calls last at most timeout; with a
// master key (contract.InvokeMasterKeySecret) it signs every call, else
// none.
func NewInvoker(gw *gateway.Client, timeout time.Duration, m *Metrics, master []byte) *Invoker {
	return &Invoker{gw: gw, timeout: timeout, m: m, master: master}
}

// Invoke calls t with body and classifies its answer, keeping its first
// AnswerLimit bytes. ctx is cancelled only when the connector gives up on
// in-flight work at shutdown; the call's own bound is the invoker's
// timeout.
func (iv *Invoker) Invoke(ctx context.Context, t Target, body []byte, header http.Header) Result {
	return iv.InvokeLimit(ctx, t, body, header, AnswerLimit)
}

// InvokeLimit is Invoke keeping up to limit bytes of the answer; a longer
// answer sets Result.Truncated.
func (iv *Invoker) InvokeLimit(ctx context.Context, t Target, body []byte, header http.Header, limit int64) Result {
	return iv.InvokeRequest(ctx, t, Request{Method: http.MethodPost, Body: body, Header: header}, limit)
}

// Request is an invocation other than a plain POST: method, the path
// after the function's, query, body and headers.
type Request struct {
	Method, Path, RawQuery string
	Body                   []byte
	Header                 http.Header
	// Unsigned passes a caller's own request on as it came, never signed
	// by the connector: an asynchronous call carries its caller's
	// signature (or none), so queueing it cannot turn a forged call into
	// a signed one.
	Unsigned bool
}

// InvokeRequest is InvokeLimit for any request; Result.Header holds the
// answer's headers.
func (iv *Invoker) InvokeRequest(ctx context.Context, t Target, req Request, limit int64) Result {
	ictx, cancel := context.WithTimeout(ctx, iv.timeout)
	defer cancel()
	start := time.Now()
	header := req.Header
	if len(iv.master) > 0 && !req.Unsigned {
		// Signed at each call, so that a retry hours later carries a
		// fresh time; the function sees the path after its name.
		header = header.Clone()
		if header == nil {
			header = http.Header{}
		}
		path := "/" + strings.TrimPrefix(req.Path, "/")
		invokesig.Sign(header, invokesig.FunctionKey(iv.master, t.Name), req.Method, path, req.RawQuery, req.Body, start)
	}
	resp, err := iv.gw.InvokeRequest(ictx, req.Method, t.ID(), req.Path, req.RawQuery, bytes.NewReader(req.Body), header)
	if err != nil {
		r := Result{Outcome: Failed, Err: err, Took: time.Since(start)}
		if ctx.Err() != nil {
			r.Outcome = Interrupted
		} else if errors.Is(err, context.DeadlineExceeded) {
			r.Err = errors.New("invocation timed out after " + iv.timeout.String())
		}
		iv.observe(t, r)
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
	r := Result{Status: resp.StatusCode, Origin: resp.Header.Get(contract.HeaderOrigin), Header: resp.Header,
		Answer: answer, Truncated: truncated, Took: time.Since(start)}
	r.RetryAfter, r.HasRetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	switch {
	case resp.StatusCode/100 == 2 && rerr != nil:
		// A cut answer may hide a failure report: do not trust it.
		r.Outcome, r.Err = Failed, rerr
	case resp.StatusCode/100 == 2:
		r.Outcome = OK
	case resp.StatusCode == http.StatusServiceUnavailable && r.Origin == contract.OriginRuntime:
		// The function ran past its exec_timeout: it will do so again,
		// so it spends an attempt rather than waiting forever.
		r.Outcome = Failed
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusServiceUnavailable:
		r.Outcome = Deferred
	default:
		r.Outcome = Failed
	}
	if r.Outcome != OK && ctx.Err() != nil {
		r.Outcome = Interrupted
	}
	iv.observe(t, r)
	return r
}

func (iv *Invoker) observe(t Target, r Result) {
	iv.m.Invocations.WithLabelValues(t.ID(), r.code()).Inc()
	iv.m.InvocationSeconds.WithLabelValues(t.ID()).Observe(r.Took.Seconds())
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date (RFC 9110 section 10.2.3). ok is false when the header is absent or
// unreadable, so the caller falls back to its own back-off.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// KeepAlive tells JetStream every interval that msgs are still being
// worked on, so that their AckWait does not run out during a long
// invocation and hand the same file or records to a second replica. One
// ticker serves a whole batch; an error names how many messages it hit
// and the first one. The returned stop waits for the goroutine to end;
// call it before settling, since an InProgress after a Nak would restart
// the ack timer and override the Nak's delay.
func KeepAlive(msgs []jetstream.Msg, interval time.Duration, onErr func(error)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				var errs []string
				for _, m := range msgs {
					if err := m.InProgress(); err != nil {
						errs = append(errs, err.Error())
					}
				}
				if len(errs) > 0 {
					onErr(fmt.Errorf("%d of %d records: %s", len(errs), len(msgs), strings.Join(errs[:1], "")))
				}
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
