package tenant

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// StreamConfig is the JetStream configuration of the tenant's stream, as
// its profile says: every subject under ingest.<tenant>., on disk, within
// stream.jetstream's limits, kept by replicas servers (0: JetStream's 1).
//
// A full stream refuses new messages (DiscardNew): the publisher's
// PublishAck is an error ("maximum messages exceeded", "maximum bytes
// exceeded") and it knows to slow down or retry, whereas DiscardOld would
// silently drop accepted records that the connector has not delivered yet.
// Deletes and purges stay allowed so that an operator can clear a tenant's
// backlog by hand.
func StreamConfig(p *profile.Profile, replicas int) jetstream.StreamConfig {
	js := p.Stream.JetStream
	return jetstream.StreamConfig{
		Name:        p.StreamName(),
		Description: "Records tenant " + p.Tenant + " publishes, kept until its stream ingest function stored them",
		Subjects:    []string{p.StreamSubject()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    unlimited(int64(js.MaxBytes)),
		MaxMsgs:     unlimited(js.MaxMessages),
		MaxAge:      time.Duration(js.MaxAge),
		DenyDelete:  false,
		DenyPurge:   false,
		Replicas:    replicas,
	}
}

// unlimited maps the profile's "0 means no limit" to JetStream's -1, which
// is what the server stores; sending 0 would work too, but then the
// config read back would differ from the one applied.
func unlimited(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// ApplyStream creates the tenant's JetStream stream, or updates it in place
// to the profile's limits; stored messages are kept. Applying the same
// profile again changes nothing. Lowering a limit below what the stream
// holds is accepted by JetStream: the stream then refuses publishes until
// the connector has drained it below the limit. Its replicas are set to
// replicas, or kept if it has more: fewer servers is an operator's call.
func ApplyStream(ctx context.Context, js jetstream.JetStream, p *profile.Profile, replicas int) error {
	cfg := StreamConfig(p, replicas)
	if s, err := js.Stream(ctx, cfg.Name); err == nil {
		cfg.Replicas = max(cfg.Replicas, s.CachedInfo().Config.Replicas)
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("tenant %s: read stream %s: %w", p.Tenant, cfg.Name, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("tenant %s: apply stream %s over %s: %w", p.Tenant, cfg.Name, p.StreamSubject(), err)
	}
	return nil
}

// RemoveStream deletes the tenant's stream and every message in it. A
// stream that is already gone is not an error, so offboarding can be
// repeated.
func RemoveStream(ctx context.Context, js jetstream.JetStream, p *profile.Profile) error {
	err := js.DeleteStream(ctx, p.StreamName())
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("tenant %s: remove stream %s: %w", p.Tenant, p.StreamName(), err)
	}
	return nil
}
