package connector

import (
	"maps"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// backoff returns the delay before retry number failures (1 for the first
// retry): initial·2^(failures-1), capped at max, with ±10% jitter so that
// events that failed together do not all come back in the same instant.
func backoff(failures int, initial, max time.Duration) time.Duration {
	d := initial
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	if j := int64(d / 10); j > 0 {
		d += time.Duration(rand.Int64N(2*j+1) - j)
	}
	return d
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date (RFC 9110 section 10.2.3). ok is false when the header is absent or
// unreadable, so the caller falls back to its own back-off.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// msgKey identifies a message across redeliveries.
type msgKey struct {
	stream string
	seq    uint64
}

// deliveryState is what the connector remembers about a message between
// its deliveries. JetStream cannot carry it (a redelivery has the original
// headers), and NumDelivered cannot tell failures from deferrals, so it
// lives here.
type deliveryState struct {
	// failures counts rounds with a failed invocation (or no subscriber);
	// it is what MaxAttempts limits.
	failures int
	// deferrals counts rounds deferred by 429/503; unlimited.
	deferrals int
	// done holds the functions that answered 2xx (or were dead-lettered),
	// so a redelivery goes only to those still owing an answer.
	done map[string]bool
	// touched orders eviction.
	touched time.Time
}

func (s deliveryState) clone() deliveryState {
	s.done = maps.Clone(s.done)
	return s
}

// tracker is a bounded map of delivery states. Its bound follows
// MaxAckPending: JetStream never has more messages outstanding than that,
// so eviction only happens to states of messages that are gone.
type tracker struct {
	mu  sync.Mutex
	max int
	m   map[msgKey]deliveryState
}

func newTracker(max int) *tracker {
	return &tracker{max: max, m: make(map[msgKey]deliveryState)}
}

// load returns a copy of the state of k, and whether there was one.
func (t *tracker) load(k msgKey) (deliveryState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m[k]
	return s.clone(), ok
}

// store saves the state of k, evicting the least recently touched state
// when full.
func (t *tracker) store(k msgKey, s deliveryState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.touched = time.Now()
	if _, ok := t.m[k]; !ok && len(t.m) >= t.max {
		var oldest msgKey
		var at time.Time
		for kk, ss := range t.m {
			if at.IsZero() || ss.touched.Before(at) {
				oldest, at = kk, ss.touched
			}
		}
		delete(t.m, oldest)
	}
	t.m[k] = s.clone()
}

// forget drops the state of a settled message.
func (t *tracker) forget(k msgKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, k)
}

func (t *tracker) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
