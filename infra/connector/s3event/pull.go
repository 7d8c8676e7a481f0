package s3event

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/connector/core"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// consumeLoop sets up the consumer cc on stream and consumes from it,
// setting it up again when it disappears, until ctx is done.
func (f *Flow) consumeLoop(ctx, work context.Context, stream string, cc jetstream.ConsumerConfig, sem chan struct{}) {
	for ctx.Err() == nil {
		cons, err := f.setup(ctx, stream, cc)
		if err != nil {
			return // ctx is done
		}
		f.log.Info("connector consuming", "stream", stream, "subject", cc.FilterSubject, "durable", cc.Durable,
			"max_concurrent", cap(sem), "ack_wait", cc.AckWait)
		f.consume(ctx, work, cons, sem)
	}
}

// setup creates the streams (unless skipped) and the consumer, retrying
// with back-off until it works or ctx is done.
func (f *Flow) setup(ctx context.Context, stream string, cc jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	for attempt := 1; ; attempt++ {
		cons, err := f.trySetup(ctx, stream, cc)
		if err == nil {
			return cons, nil
		}
		delay := core.Backoff(attempt, 100*time.Millisecond, 10*time.Second)
		if ctx.Err() == nil {
			f.log.Warn("set up JetStream consumer; retrying", "err", err, "retry_in", delay)
		}
		if !core.Sleep(ctx, delay) {
			return nil, ctx.Err()
		}
	}
}

func (f *Flow) trySetup(ctx context.Context, stream string, cc jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if f.cfg.Ensure != nil {
		if err := f.cfg.Ensure(sctx, f.js); err != nil {
			return nil, err
		}
	}
	cons, err := f.js.CreateOrUpdateConsumer(sctx, stream, cc)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on stream %s: %w", cc.Durable, stream, err)
	}
	return cons, nil
}

// consume pulls and handles messages until ctx is done or the consumer
// is gone (core.Consume); sem bounds the handlers and outlives one call.
func (f *Flow) consume(ctx, work context.Context, cons jetstream.Consumer, sem chan struct{}) {
	core.Consume(ctx, cons, sem, f.cfg.FetchWait, &f.handlers, f.log, func(msg jetstream.Msg) { f.handle(work, msg) })
}

// handle reads one message of the S3 events (or waiting) stream, has it
// delivered, and settles it.
func (f *Flow) handle(ctx context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		// Not a JetStream delivery; nothing to settle against.
		f.log.Error("message without JetStream metadata", "subject", msg.Subject(), "err", err)
		return
	}
	f.m.inflight.Inc()
	defer f.m.inflight.Dec()
	log := f.log.With("stream", meta.Stream, "seq", meta.Sequence.Stream, "delivery", meta.NumDelivered)
	stop := core.KeepAlive([]jetstream.Msg{msg}, f.pol.KeepAliveEvery(), func(err error) {
		log.Warn("extend ack deadline", "err", err)
	})

	var s core.Settlement
	origin := f.originOf(msg, meta)
	route, perr := parseS3Event(msg.Data(), f.cfg.IncomingPrefix)
	switch {
	case perr != nil:
		// A body that cannot be read will not read better later: keep it
		// for an operator instead of retrying it.
		dl := core.DeadLetter{Origin: origin.dl(), Tenant: route.bucket, Reason: "undecodable S3 event: " + perr.Error()}
		s = f.giveUp(ctx, msg, meta, []core.DeadLetter{dl}, log)
	case route.bucket == "":
		log.Debug("S3 event ignored", "why", route.ignored)
		f.m.events.WithLabelValues("ignored").Inc()
		s = core.Settlement{Kind: core.Ack}
	default:
		tenant := route.bucket
		topic := topicPrefix + route.bucket
		log = log.With("tenant", tenant, "keys", route.keys)
		h := http.Header{}
		h.Set(contract.HeaderTopic, topic)
		h.Set(contract.HeaderTenant, tenant)
		h.Set(contract.HeaderEventID, origin.id)
		h.Set(contract.HeaderDelivery, strconv.FormatUint(origin.delivery(meta), 10))
		h.Set("Content-Type", "application/json")
		ev := &event{msg: msg, meta: meta, key: core.KeyOf(meta), origin: origin,
			tenant: tenant, topic: topic, keys: route.keys, header: h, log: log}
		f.pending.begin(route)
		s = f.deliver(ctx, ev)
		// Done with the objects unless the event comes back: parked, or
		// handed back to its stream.
		defer f.pending.end(route, s.Kind != core.Nak && !ev.parked)
	}
	stop()
	core.Settle(ctx, msg, s, log)
	if meta.Stream == f.cfg.WaitingStream && s.Kind != core.Nak {
		// The waiting stream keeps messages until deleted (waiting.go).
		f.forget(ctx, meta)
	}
}

// origin is where an event message comes from: the event's id and the
// deliveries and state it had before this message (an event that
// waited), or this message's own.
type origin struct {
	id         string
	deliveries uint64
	state      *core.DeliveryState
	// subject and stream are where the event was first stored, under
	// sequence id.
	subject, stream string
}

// originOf reads msg's origin: its own, or for an event back from the
// waiting stream (where only the connector publishes), what its headers
// carry.
func (f *Flow) originOf(msg jetstream.Msg, meta *jetstream.MsgMetadata) origin {
	o := origin{id: strconv.FormatUint(meta.Sequence.Stream, 10), subject: msg.Subject(), stream: meta.Stream}
	if meta.Stream != f.cfg.WaitingStream {
		return o
	}
	h := msg.Headers()
	if id := h.Get(hdrEventID); id != "" {
		o.id = id
	}
	if subj, stream := h.Get(contract.DeadLetterHeaderSubject), h.Get(contract.DeadLetterHeaderStream); subj != "" && stream != "" {
		o.subject, o.stream = subj, stream
	}
	o.deliveries, _ = strconv.ParseUint(h.Get(hdrDeliveries), 10, 64)
	if raw := h.Get(hdrState); raw != "" {
		var w waitState
		if err := json.Unmarshal([]byte(raw), &w); err == nil {
			st := core.DeliveryState{Failures: w.Failures, Deferrals: w.Deferrals, UnavailableSince: w.UnavailableSince, Done: map[string]bool{}}
			for _, fn := range w.Done {
				st.Done[fn] = true
			}
			o.state = &st
		}
	}
	return o
}

// delivery is the event's delivery count with this message's.
func (o origin) delivery(meta *jetstream.MsgMetadata) uint64 {
	return o.deliveries + meta.NumDelivered
}

// dl is where the event's dead letter says it was stored.
func (o origin) dl() core.Origin {
	return core.Origin{Subject: o.subject, Stream: o.stream, Seq: o.id}
}

// s3Route is what the flow reads from one S3 event message.
type s3Route struct {
	// bucket owns the records to ingest; "" when nothing is to be routed.
	bucket string
	// keys are the URL-decoded object keys to ingest, for logs, and
	// etags their versions' ETags (unquoted, "" when the event has none).
	keys, etags []string
	// ignored says why nothing is routed.
	ignored string
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
		r.etags = append(r.etags, strings.Trim(rec.S3.Object.ETag, `"`))
	}
	if r.bucket == "" {
		r.ignored = strings.Join(why, "; ")
	}
	return r, nil
}

// isObjectCreated accepts MinIO's "s3:ObjectCreated:Put" and AWS's
// "ObjectCreated:Put" spellings.
func isObjectCreated(name string) bool {
	return strings.HasPrefix(strings.TrimPrefix(name, topicPrefix), "ObjectCreated:")
}
