package s3event

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The waiting stream never drops a pending event.
//
// NATS refuses message schedules on a DiscardNew stream, and on a
// DiscardOld stream every limit (MaxAge, MaxBytes, MaxMsgs) is enforced by
// dropping the oldest messages: waiting events whose originals were
// already acked. MaxAge would also expire a schedule that was stored long
// before it fires (or before a stopped server fires it), and an event back
// from waiting that no connector took yet. So the stream has no limit the
// server enforces by dropping; the connector enforces its bound itself,
// before parking an event (admit), and refuses rather than drops: an
// event it cannot park stays in the stream it came from. Past the server's
// own storage limit a publish fails, which is a refusal too.
//
// A stream without MaxAge must be emptied of what is done: an event back
// from waiting is deleted once settled for good (forget), and what a
// crash left acked but not deleted is purged below the ready consumer's
// ack floor now and then (purgeSettled).

// admitEvery is how often the waiting stream's size is read for admit;
// in between, parked events are counted locally.
const admitEvery = time.Second

// waitingStreamConfig is the waiting stream: schedules under .at., the
// events they produce under .ready..
func (f *Flow) waitingStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              f.cfg.WaitingStream,
		Description:       "Deferred S3 events, each waiting as a message schedule until it may be tried again; never dropped (the connector bounds it by refusing new ones)",
		Subjects:          []string{f.cfg.WaitingSubjectPrefix + ".>"},
		Storage:           jetstream.FileStorage,
		AllowMsgSchedules: true,
		// Required by the server for schedules; with no limit below it
		// never drops anything.
		Discard:  jetstream.DiscardOld,
		MaxAge:   0,
		MaxBytes: -1,
		MaxMsgs:  -1,
		Replicas: f.cfg.Replicas,
	}
}

// waiting is what the flow knows of the waiting stream's size.
type waiting struct {
	mu     sync.Mutex
	stream jetstream.Stream
	read   time.Time
	// msgs and bytes are the stream's state when read, plus what this
	// connector parked since.
	msgs, bytes int64
}

// handle returns the waiting stream, looked up once.
func (f *Flow) waitingStream(ctx context.Context) (jetstream.Stream, error) {
	f.wst.mu.Lock()
	defer f.wst.mu.Unlock()
	return f.waitingStreamLocked(ctx)
}

func (f *Flow) waitingStreamLocked(ctx context.Context) (jetstream.Stream, error) {
	if f.wst.stream != nil {
		return f.wst.stream, nil
	}
	s, err := f.js.Stream(ctx, f.cfg.WaitingStream)
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", f.cfg.WaitingStream, err)
	}
	f.wst.stream = s
	return s, nil
}

// errWaitingFull says the waiting stream is at the connector's bound.
type errWaitingFull struct {
	msgs, bytes, maxMsgs, maxBytes int64
}

func (e errWaitingFull) Error() string {
	return fmt.Sprintf("waiting stream full: %d events, %d bytes (bounds %d events, %d bytes)", e.msgs, e.bytes, e.maxMsgs, e.maxBytes)
}

// admit reports whether an event of size bytes may be parked, counting it
// if so. An event back from waiting (again) is always admitted: its own
// message is deleted once it is parked anew, so it takes no more room,
// and refusing it could leave the stream stuck full of such events.
//
// Connector replicas each count their own parkings between reads, so
// together they may overshoot the bound by a few events; the bound is
// the connector's, not a limit the server would enforce by dropping.
func (f *Flow) admit(ctx context.Context, size int, again bool) error {
	f.wst.mu.Lock()
	defer f.wst.mu.Unlock()
	if time.Since(f.wst.read) >= admitEvery {
		s, err := f.waitingStreamLocked(ctx)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			f.wst.stream = nil // perhaps deleted and created again
			return fmt.Errorf("read the size of stream %s: %w", f.cfg.WaitingStream, err)
		}
		f.wst.msgs, f.wst.bytes, f.wst.read = int64(info.State.Msgs), int64(info.State.Bytes), time.Now()
	}
	if !again && (f.wst.msgs+1 > f.cfg.WaitingMaxEvents || f.wst.bytes+int64(size) > f.cfg.StreamMaxBytes) {
		return errWaitingFull{msgs: f.wst.msgs, bytes: f.wst.bytes, maxMsgs: f.cfg.WaitingMaxEvents, maxBytes: f.cfg.StreamMaxBytes}
	}
	f.wst.msgs++
	f.wst.bytes += int64(size)
	return nil
}

// forget deletes an event's message from the waiting stream once it is
// settled for good (acked or terminated). A failure leaves it for
// purgeSettled.
func (f *Flow) forget(ctx context.Context, meta *jetstream.MsgMetadata) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s, err := f.waitingStream(dctx)
	if err == nil {
		err = s.DeleteMsg(dctx, meta.Sequence.Stream)
	}
	if err != nil {
		f.log.Warn("delete a settled event from the waiting stream; a later purge removes it", "seq", meta.Sequence.Stream, "err", err)
	}
}

// purgeSettled removes the events back from waiting that the ready
// consumer acked but that were not deleted (a connector stopped between
// the ack and the delete): every one below the consumer's ack floor.
// Schedules (.at.) are never touched.
func (f *Flow) purgeSettled(ctx context.Context) error {
	cons, err := f.js.Consumer(ctx, f.cfg.WaitingStream, f.readyConsumerConfig().Durable)
	if err != nil {
		return fmt.Errorf("look up the ready consumer: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("read the ready consumer: %w", err)
	}
	floor := info.AckFloor.Stream
	if floor == 0 {
		return nil
	}
	s, err := f.waitingStream(ctx)
	if err != nil {
		return err
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(f.cfg.WaitingSubjectPrefix+".ready.>"), jetstream.WithPurgeSequence(floor+1)); err != nil {
		return fmt.Errorf("purge settled events below sequence %d: %w", floor+1, err)
	}
	return nil
}
