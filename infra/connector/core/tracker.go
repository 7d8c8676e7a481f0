package core

import (
	"maps"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// MsgKey identifies a message across redeliveries.
type MsgKey struct {
	Stream string
	Seq    uint64
}

// KeyOf is meta's message's key.
func KeyOf(meta *jetstream.MsgMetadata) MsgKey {
	return MsgKey{Stream: meta.Stream, Seq: meta.Sequence.Stream}
}

// DeliveryState is what the connector remembers about a message between
// its deliveries. JetStream cannot carry it (a redelivery has the original
// headers), and NumDelivered cannot tell failures from deferrals, so it
// lives here.
type DeliveryState struct {
	// Failures counts rounds with a failed invocation (or no subscriber);
	// it is what MaxAttempts limits.
	Failures int
	// Deferrals counts rounds deferred by 429/503; unlimited.
	Deferrals int
	// UnavailableSince is when a 503 first deferred the message (zero:
	// never); Policy.UnavailableDeadline counts from it.
	UnavailableSince time.Time
	// Done holds the functions that answered 2xx (or were dead-lettered),
	// so a redelivery goes only to those still owing an answer.
	Done map[string]bool
	// touched orders eviction.
	touched time.Time
}

// Clone is a copy of s that shares nothing with it.
func (s DeliveryState) Clone() DeliveryState {
	s.Done = maps.Clone(s.Done)
	return s
}

// Tracker is a bounded map of delivery states. Its bound follows
// MaxAckPending: JetStream never has more messages outstanding than that,
// so eviction only happens to states of messages that are gone.
type Tracker struct {
	mu  sync.Mutex
	max int
	m   map[MsgKey]DeliveryState
}

// NewTracker returns a tracker holding at most max states.
func NewTracker(max int) *Tracker {
	return &Tracker{max: max, m: make(map[MsgKey]DeliveryState)}
}

// Load returns a copy of the state of k, and whether there was one.
func (t *Tracker) Load(k MsgKey) (DeliveryState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m[k]
	return s.Clone(), ok
}

// Store saves the state of k, evicting the least recently touched state
// when full.
func (t *Tracker) Store(k MsgKey, s DeliveryState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.touched = time.Now()
	if _, ok := t.m[k]; !ok && len(t.m) >= t.max {
		var oldest MsgKey
		var at time.Time
		for kk, ss := range t.m {
			if at.IsZero() || ss.touched.Before(at) {
				oldest, at = kk, ss.touched
			}
		}
		delete(t.m, oldest)
	}
	t.m[k] = s.Clone()
}

// Forget drops the state of a settled message.
func (t *Tracker) Forget(k MsgKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, k)
}

// Len is how many states the tracker holds.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
