package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/nats-io/nats.go/jetstream"
)

// s3Route is what the connector reads from one S3 event message.
type s3Route struct {
	// bucket owns the records to ingest; "" when nothing is to be routed.
	bucket string
	// keys are the URL-decoded object keys to ingest, for logs.
	keys []string
	// ignored says why nothing is routed.
	ignored string
}

// isObjectCreated accepts MinIO's "s3:ObjectCreated:Put" and AWS's
// "ObjectCreated:Put" spellings.
func isObjectCreated(name string) bool {
	return strings.HasPrefix(strings.TrimPrefix(name, "s3:"), "ObjectCreated:")
}

// parseS3Event reads a bucket notification: MinIO's envelope
// {"EventName","Key","Records":[...]} whose Records are those of
// events.S3Event. Only ObjectCreated records under prefix are routed. The
// records to route must all be of one bucket: the body goes to that
// bucket's tenant unchanged, and must not carry another tenant's objects.
func parseS3Event(data []byte, prefix string) (s3Route, error) {
	var ev events.S3Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return s3Route{}, fmt.Errorf("decode S3 event: %w", err)
	}
	if len(ev.Records) == 0 {
		return s3Route{ignored: "no records"}, nil
	}
	var r s3Route
	var why []string
	for _, rec := range ev.Records {
		// URLDecodedKey is url.QueryUnescape of the key, done while decoding.
		key := rec.S3.Object.URLDecodedKey
		switch {
		case !isObjectCreated(rec.EventName):
			why = append(why, fmt.Sprintf("%s is not ObjectCreated", rec.EventName))
			continue
		case !strings.HasPrefix(key, prefix):
			why = append(why, fmt.Sprintf("key %q is not under %s", key, prefix))
			continue
		case rec.S3.Bucket.Name == "":
			return s3Route{}, fmt.Errorf("record for key %q has no bucket name", key)
		case r.bucket != "" && r.bucket != rec.S3.Bucket.Name:
			return s3Route{}, fmt.Errorf("records of buckets %s and %s in one event", r.bucket, rec.S3.Bucket.Name)
		}
		r.bucket = rec.S3.Bucket.Name
		r.keys = append(r.keys, key)
	}
	if r.bucket == "" {
		r.ignored = strings.Join(why, "; ")
	}
	return r, nil
}

// handleS3 handles one message of the S3 events stream and settles it.
func (c *Connector) handleS3(ctx context.Context, js jetstream.JetStream, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		// Not a JetStream delivery; nothing to settle against.
		c.log.Error("message without JetStream metadata", "subject", msg.Subject(), "err", err)
		return
	}
	c.metrics.inflight.Inc()
	defer c.metrics.inflight.Dec()
	log := c.log.With("stream", meta.Stream, "seq", meta.Sequence.Stream, "delivery", meta.NumDelivered)
	stop := keepAlive(msg, c.cfg.AckWait/3, func(err error) {
		log.Warn("extend ack deadline", "err", err)
	})

	var s settlement
	route, perr := parseS3Event(msg.Data(), c.cfg.IncomingPrefix)
	switch {
	case perr != nil:
		// A body that cannot be read will not read better later: keep it
		// for an operator instead of retrying it.
		dl := deadLetter{tenant: route.bucket, reason: "undecodable S3 event: " + perr.Error()}
		s = c.giveUp(ctx, js, msg, meta, []deadLetter{dl}, log)
	case route.bucket == "":
		log.Debug("S3 event ignored", "why", route.ignored)
		c.metrics.events.WithLabelValues("ignored").Inc()
		s = settlement{kind: settleAck}
	default:
		tenant := route.bucket
		topic := "s3:" + route.bucket
		log = log.With("tenant", tenant, "keys", route.keys)
		h := http.Header{}
		h.Set(HeaderTopic, topic)
		h.Set(HeaderTenant, tenant)
		origin := c.originOf(msg, meta)
		h.Set(HeaderEventID, origin.id)
		h.Set(HeaderDelivery, strconv.FormatUint(origin.delivery(meta), 10))
		h.Set("Content-Type", "application/json")
		d := delivery{msg: msg, meta: meta, origin: origin, tenant: tenant, topic: topic, body: msg.Data(), header: h, log: log}
		s = c.deliver(ctx, js, d)
		if s.waits {
			key := msgKey{stream: meta.Stream, seq: meta.Sequence.Stream}
			if st, _ := c.tracker.load(key); c.wait(ctx, js, d, st, s.delay) {
				c.tracker.forget(key)
				c.metrics.events.WithLabelValues("waiting").Inc()
				s = settlement{kind: settleAck}
			}
		}
	}
	stop()
	c.settle(ctx, msg, s, log)
}

// settleKind is how a message ends a delivery.
type settleKind int

const (
	settleAck  settleKind = iota // done
	settleNak                    // redeliver after delay
	settleTerm                   // dead-lettered: never redeliver
)

type settlement struct {
	kind   settleKind
	delay  time.Duration
	reason string
	// waits marks a delayed Nak of an event (a deferral, or a retry after
	// a failed attempt): the event may wait apart instead (see wait.go).
	waits bool
}

// settle tells JetStream the outcome. It runs after the keep-alive has
// stopped: an InProgress after a Nak would restart the ack timer and
// override the Nak's delay.
func (c *Connector) settle(ctx context.Context, msg jetstream.Msg, s settlement, log *slog.Logger) {
	var err error
	switch s.kind {
	case settleAck:
		// A confirmed ack makes "acked after 2xx" true rather than likely;
		// if it is lost the event comes back and the idempotent function
		// sees it again.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err = msg.DoubleAck(actx)
		cancel()
		if err != nil {
			err = fmt.Errorf("ack: %w", err)
		}
	case settleNak:
		if s.delay > 0 {
			err = msg.NakWithDelay(s.delay)
		} else {
			err = msg.Nak()
		}
		if err != nil {
			err = fmt.Errorf("nak with delay %s: %w", s.delay, err)
		}
	case settleTerm:
		if err = msg.TermWithReason(s.reason); err != nil {
			err = fmt.Errorf("term: %w", err)
		}
	}
	if err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		log.Warn("settle message; JetStream will redeliver it after AckWait", "err", err)
	}
}
