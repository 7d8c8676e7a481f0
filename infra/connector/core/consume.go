package core

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Consume pulls messages while sem has room, handing each to handle in a
// goroutine counted by handlers, until ctx is done or the consumer is gone
// (a failed pull that PullFailed says needs the consumer set up again). A
// pull asks for as many messages as there are free slots, never more, so
// no message waits in a local buffer while its AckWait runs out; each
// waits up to fetchWait.
//
// sem outlives one Consume call, so that handlers still running when the
// consumer is set up again keep counting against the bound (its capacity).
func Consume(ctx context.Context, cons jetstream.Consumer, sem chan struct{}, fetchWait time.Duration,
	handlers *sync.WaitGroup, log *slog.Logger, handle func(jetstream.Msg)) {
	release := func(n int) {
		for range n {
			<-sem
		}
	}
	fails := 0
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	grab:
		for n < cap(sem) {
			select {
			case sem <- struct{}{}:
				n++
			default:
				break grab
			}
		}
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		batch, err := cons.Fetch(n, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			release(n)
			if ctx.Err() != nil {
				continue
			}
			fails++
			if PullFailed(ctx, log, err, fails) {
				return
			}
			continue
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			if ctx.Err() != nil {
				// Arrived while stopping: hand it straight back.
				_ = msg.Nak()
				<-sem
				continue
			}
			handlers.Go(func() {
				defer func() { <-sem }()
				handle(msg)
			})
		}
		cancel()
		release(n - got)
		if err := batch.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			fails++
			if PullFailed(ctx, log, err, fails) {
				return
			}
			continue
		}
		fails = 0
	}
}
