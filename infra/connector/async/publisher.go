package async

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher stores the gateway's asynchronous calls in the stream
// (it is the provider's provider.Publisher). Give it a connection made
// with nats.ReconnectBufSize(-1): a publish while disconnected must fail
// at once, not wait in a buffer and be stored after the client was told
// 503.
type Publisher struct {
	js     jetstream.JetStream
	stream string
}

// NewPublisher returns a publisher into stream through js.
func NewPublisher(js jetstream.JetStream, stream string) *Publisher {
	return &Publisher{js: js, stream: stream}
}

// PublishAsync returns once the stream acknowledged the call. Calls are
// not deduplicated by callID: a client's X-Call-Id is often one passed on
// through a chain of functions, so two distinct calls may share it.
func (p *Publisher) PublishAsync(ctx context.Context, subject, callID string, header map[string][]string, body []byte) error {
	m := &nats.Msg{Subject: subject, Header: nats.Header(header), Data: body}
	if _, err := p.js.PublishMsg(ctx, m, jetstream.WithExpectStream(p.stream)); err != nil {
		return fmt.Errorf("store call %s on %s: %w", callID, subject, err)
	}
	return nil
}
