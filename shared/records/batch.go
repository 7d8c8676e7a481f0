package records

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Policy bounds a batch, like Redpanda Connect's batching policy: a batch
// is ready when it holds Count items, or ByteSize bytes, or its first item
// is Period old, whichever comes first. Zero fields do not bound.
type Policy struct {
	Count    int
	ByteSize int64
	Period   time.Duration
}

// DefaultPolicy suits MongoDB bulk inserts: far below the server's 100 000
// operations and 48 MB per message, large enough to amortise round trips.
func DefaultPolicy() Policy {
	return Policy{Count: 1000, ByteSize: 8 << 20, Period: time.Second}
}

// Batcher groups items into batches within a Policy. A batch never holds
// more than Count items, and never more than ByteSize bytes unless a single
// item is larger (it then goes alone). It is not safe for concurrent use.
//
//	b := records.NewBatcher[bson.D](records.DefaultPolicy())
//	for each doc: if batch := b.Add(doc, records.DocSize(doc)); batch != nil { write(batch) }
//	if batch := b.Flush(); batch != nil { write(batch) }
type Batcher[T any] struct {
	policy Policy
	now    func() time.Time
	items  []T
	bytes  int64
	first  time.Time
}

// NewBatcher returns a Batcher with the policy. A Count below 1 is taken as
// 1 only if ByteSize is also zero: some bound is needed.
func NewBatcher[T any](p Policy) *Batcher[T] {
	if p.Count < 1 && p.ByteSize <= 0 {
		p.Count = 1
	}
	return &Batcher[T]{policy: p, now: time.Now}
}

// Add adds an item of the given size and returns a batch when one is ready,
// else nil. The returned batch belongs to the caller. At most one batch is
// returned per call: if the new item fills a batch on its own right after
// another was returned, the next Add or Flush returns it.
func (b *Batcher[T]) Add(item T, size int64) []T {
	var ready []T
	// A full batch, or one this item would overflow, goes first.
	if len(b.items) > 0 && (b.full() || b.policy.ByteSize > 0 && b.bytes+size > b.policy.ByteSize) {
		ready = b.Flush()
	}
	if len(b.items) == 0 {
		b.first = b.now()
	}
	b.items = append(b.items, item)
	b.bytes += size
	if ready == nil && b.full() {
		ready = b.Flush()
	}
	return ready
}

func (b *Batcher[T]) full() bool {
	p := b.policy
	return p.Count > 0 && len(b.items) >= p.Count ||
		p.ByteSize > 0 && b.bytes >= p.ByteSize ||
		p.Period > 0 && b.now().Sub(b.first) >= p.Period
}

// Due reports whether the pending batch has reached its Period, for callers
// that flush on a timer between Adds.
func (b *Batcher[T]) Due() bool {
	return len(b.items) > 0 && b.policy.Period > 0 && b.now().Sub(b.first) >= b.policy.Period
}

// Deadline is when the pending batch becomes Due; false when nothing is
// pending or there is no Period.
func (b *Batcher[T]) Deadline() (time.Time, bool) {
	if len(b.items) == 0 || b.policy.Period <= 0 {
		return time.Time{}, false
	}
	return b.first.Add(b.policy.Period), true
}

// Len and Bytes describe the pending batch.
func (b *Batcher[T]) Len() int { return len(b.items) }

// Bytes is the size of the pending batch.
func (b *Batcher[T]) Bytes() int64 { return b.bytes }

// Flush returns the pending batch, nil if there is none, and starts anew.
func (b *Batcher[T]) Flush() []T {
	if len(b.items) == 0 {
		return nil
	}
	out := b.items
	b.items = make([]T, 0, cap(out))
	b.bytes = 0
	return out
}

// DocSize is the size of a document in BSON, computed without encoding it
// for the flat documents this package makes (and by encoding otherwise).
func DocSize(doc bson.D) int64 {
	n := int64(4 + 1) // length prefix and terminating NUL
	for _, e := range doc {
		n += 1 + int64(len(e.Key)) + 1 // type byte and key cstring
		switch v := e.Value.(type) {
		case nil:
		case string:
			n += 4 + int64(len(v)) + 1
		case int64, float64, time.Time:
			n += 8
		case bool:
			n += 1
		default:
			b, err := bson.Marshal(bson.D{e})
			if err != nil {
				continue // not storable anyway; the write will say why
			}
			// Its encoding holds the document frame and this element's
			// type and key, already counted.
			n += int64(len(b)) - 5 - int64(2+len(e.Key))
		}
	}
	return n
}
