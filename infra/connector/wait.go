package connector

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Deferred and retried S3 events wait apart from the consumer every tenant
// shares.
//
// An event that a tenant's function defers (429/503, Retry-After), that
// the tenant's quota holds back, or that waits for its next attempt after a
// failure, would otherwise stay pending in the S3 events consumer until its
// time comes; that consumer's MaxAckPending is every tenant's, so a tenant
// with a thousand files held back, or a broken function, would stop
// everybody's files. Instead the event waits as a JetStream message
// schedule in the waiting stream, on WaitingSubjectPrefix.at.<tenant>.<event
// id>, firing once onto WaitingSubjectPrefix.ready.<tenant>, and its
// delivery is acked. The ready subject has a consumer of its own, handled
// like the S3 events one; an event that comes back holds a place there
// only while it is being handled. It carries, in headers, its first id,
// the deliveries it had, its delivery state (attempts failed, deferrals,
// functions done) and where it first was (for its dead letter), so that to
// the functions, to MaxAttempts and in the dead-letter stream it is the
// same event. Scheduling it again under the same subject
// replaces the schedule, so a connector that dies between scheduling and
// acking does not make two.
//
// Schedules need NATS 2.12 or later, and a stream that discards old
// messages when full (the server refuses schedules on a DiscardNew
// stream): a waiting stream over StreamMaxBytes loses its oldest waiting
// events, whose files stay in their buckets' incoming/ folders.

// Headers an event that waited carries.
const (
	hdrEventID    = "Mysimbdp-Event-Id"
	hdrDeliveries = "Mysimbdp-Deliveries"
	hdrState      = "Mysimbdp-State"
)

// waitingStreamConfig is the stream deferred events wait in.
func (c *Connector) waitingStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              c.cfg.WaitingStream,
		Description:       "Deferred S3 events, each waiting as a message schedule until it may be tried again",
		Subjects:          []string{c.cfg.WaitingSubjectPrefix + ".>"},
		Storage:           jetstream.FileStorage,
		AllowMsgSchedules: true,
		Discard:           jetstream.DiscardOld,
		MaxAge:            c.cfg.EventsMaxAge,
		MaxBytes:          c.cfg.StreamMaxBytes,
	}
}

// readyConsumerConfig is the durable pull consumer of the events back from
// waiting, shared by connector replicas like the S3 events one.
func (c *Connector) readyConsumerConfig() jetstream.ConsumerConfig {
	cc := c.consumerConfig()
	cc.Durable = c.cfg.Durable + "-ready"
	cc.Description = "mysimbdp connector: deferred S3 events whose time has come"
	cc.FilterSubject = c.cfg.WaitingSubjectPrefix + ".ready.>"
	return cc
}

// eventOrigin is where an event message comes from: the event's id and
// the deliveries and state it had before this message (an event that
// waited), or this message's own.
type eventOrigin struct {
	id         string
	deliveries uint64
	state      *deliveryState
	// subject and stream are where the event was first stored, under
	// sequence id.
	subject, stream string
}

// originOf reads msg's origin: its own, or for an event back from the
// waiting stream (where only the connector publishes), what its headers
// carry.
func (c *Connector) originOf(msg jetstream.Msg, meta *jetstream.MsgMetadata) eventOrigin {
	o := eventOrigin{id: strconv.FormatUint(meta.Sequence.Stream, 10), subject: msg.Subject(), stream: meta.Stream}
	if meta.Stream != c.cfg.WaitingStream {
		return o
	}
	h := msg.Headers()
	if id := h.Get(hdrEventID); id != "" {
		o.id = id
	}
	if subj, stream := h.Get(DLHeaderSubject), h.Get(DLHeaderStream); subj != "" && stream != "" {
		o.subject, o.stream = subj, stream
	}
	o.deliveries, _ = strconv.ParseUint(h.Get(hdrDeliveries), 10, 64)
	if raw := h.Get(hdrState); raw != "" {
		var w waitState
		if err := json.Unmarshal([]byte(raw), &w); err == nil {
			st := deliveryState{failures: w.Failures, deferrals: w.Deferrals, done: map[string]bool{}}
			for _, fn := range w.Done {
				st.done[fn] = true
			}
			o.state = &st
		}
	}
	return o
}

// delivery is the event's delivery count with this message's.
func (o eventOrigin) delivery(meta *jetstream.MsgMetadata) uint64 {
	return o.deliveries + meta.NumDelivered
}

// waitState is deliveryState as an event that waits carries it.
type waitState struct {
	Failures  int      `json:"failures,omitempty"`
	Deferrals int      `json:"deferrals,omitempty"`
	Done      []string `json:"done,omitempty"`
}

// wait schedules d's event to come back after delay and reports whether it
// is scheduled; then, and only then, its delivery may be acked.
func (c *Connector) wait(ctx context.Context, js jetstream.JetStream, d delivery, st deliveryState, delay time.Duration) bool {
	if !validTenant(d.tenant) { // it becomes a subject token
		return false
	}
	// Schedules have whole seconds: round up, never fire early.
	at := time.Now().Add(delay).Truncate(time.Second).Add(time.Second)
	m := nats.NewMsg(c.cfg.WaitingSubjectPrefix + ".at." + d.tenant + "." + d.origin.id)
	m.Data = d.msg.Data()
	for k, v := range d.msg.Headers() {
		if !strings.HasPrefix(k, "Nats-") {
			m.Header[k] = v
		}
	}
	w, _ := json.Marshal(waitState{Failures: st.failures, Deferrals: st.deferrals, Done: slices.Sorted(maps.Keys(st.done))})
	m.Header.Set(hdrEventID, d.origin.id)
	m.Header.Set(DLHeaderSubject, d.origin.subject)
	m.Header.Set(DLHeaderStream, d.origin.stream)
	m.Header.Set(hdrDeliveries, strconv.FormatUint(d.origin.delivery(d.meta), 10))
	m.Header.Set(hdrState, string(w))
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(pctx, m, jetstream.WithScheduleAt(at), jetstream.WithScheduleTarget(c.cfg.WaitingSubjectPrefix+".ready."+d.tenant)); err != nil {
		d.log.Warn("schedule the deferred event; it waits in the shared consumer", "err", err)
		return false
	}
	d.log.Debug("deferred event waits apart", "until", at)
	return true
}
