package core

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Policy is how every flow retries: attempts, back-off and the bounds on
// what a function or a crash may cost a message.
type Policy struct {
	// MaxAttempts is how many failed rounds a message gets before it is
	// dead-lettered. Deferrals (429/503) do not count.
	MaxAttempts int
	// BackoffInitial and BackoffMax bound the exponential delay before a
	// failed message is redelivered.
	BackoffInitial, BackoffMax time.Duration
	// MaxRetryAfter caps a function's Retry-After.
	MaxRetryAfter time.Duration
	// UnavailableDeadline bounds how long an S3 event is deferred by 503
	// answers (a dependency outage, a cold start) from the first one:
	// after it the event is dead-lettered with the last answer.
	UnavailableDeadline time.Duration
	// MaxDeliveries dead-letters a message delivered more often than this
	// with no recorded state (see UnrecordedReason).
	MaxDeliveries int
	// AckWait is the consumers' ack wait; a message being worked on is
	// kept alive every AckWait/3.
	AckWait time.Duration
}

// Backoff is the delay before retry number failures under p.
func (p Policy) Backoff(failures int) time.Duration {
	return Backoff(failures, p.BackoffInitial, p.BackoffMax)
}

// KeepAliveEvery is how often a message being worked on is kept alive.
func (p Policy) KeepAliveEvery() time.Duration { return p.AckWait / 3 }

// Backoff returns the delay before retry number failures (1 for the first
// retry): initial·2^(failures-1), capped at max, with ±10% jitter so that
// messages that failed together do not all come back in the same instant.
func Backoff(failures int, initial, max time.Duration) time.Duration {
	d := initial
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	if j := int64(d / 10); j > 0 {
		d += time.Duration(rand.Int64N(2*j+1) - j)
	}
	return d
}

// Sleep waits d or until ctx is done; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// PullFailed logs a failed pull and waits before the next one. It reports
// whether the consumer must be set up again.
func PullFailed(ctx context.Context, log *slog.Logger, err error, fails int) (resetup bool) {
	delay := Backoff(fails, 100*time.Millisecond, 5*time.Second)
	log.Warn("pull from JetStream", "err", err, "retry_in", delay)
	Sleep(ctx, delay)
	return errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse)
}
