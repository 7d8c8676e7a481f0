package ecdc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publish publishes rows [from, to) to subject as JSON, one message each
// as the seed's producers did, with Nats-Msg-Id <subject>-<row> (so a
// re-publish is a no-op), and waits for every ack: when it returns nil the
// stream has stored them all. An error names the first row refused.
func Publish(ctx context.Context, js jetstream.JetStream, subject string, from, to int) error {
	acks := make([]jetstream.PubAckFuture, 0, to-from)
	for i := from; i < to; i++ {
		msg := &nats.Msg{Subject: subject, Data: JSON(i), Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, subject+"-"+strconv.Itoa(i))
		f, err := js.PublishMsgAsync(msg)
		for errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			// The server acks more slowly than we publish (a loaded
			// machine): wait for the outstanding acks, then go on.
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Second):
			case <-ctx.Done():
				return fmt.Errorf("publish row %d to %s: %w", i, subject, ctx.Err())
			}
			f, err = js.PublishMsgAsync(msg)
		}
		if err != nil {
			return fmt.Errorf("publish row %d to %s: %w", i, subject, err)
		}
		acks = append(acks, f)
	}
	for i, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("row %d refused by %s: %w", from+i, subject, err)
		case <-ctx.Done():
			return fmt.Errorf("row %d to %s: no ack: %w", from+i, subject, ctx.Err())
		}
	}
	return nil
}
