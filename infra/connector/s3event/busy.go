package s3event

import (
	"sync"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/connector/core"
)

// busyRecheck is how long an event waits when its function already has
// its MaxInflightFiles files in flight.
const busyRecheck = time.Second

// inflight counts the S3 events each function is being handed, so that a
// burst of one tenant's files reaches its function only
// Target.MaxInflightFiles at a time (the store takes only so many
// concurrent bulk writes), whatever the connector-wide MaxConcurrent.
// The others wait apart, spending no attempt.
type inflight struct {
	mu sync.Mutex
	n  map[string]int
}

func newInflight() *inflight { return &inflight{n: map[string]int{}} }

// take claims one of t's places, and reports whether there was one.
func (in *inflight) take(t core.Target) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.n[t.ID()] >= max(t.MaxInflightFiles, 1) {
		return false
	}
	in.n[t.ID()]++
	return true
}

// give returns a place taken by take.
func (in *inflight) give(t core.Target) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.n[t.ID()]--; in.n[t.ID()] <= 0 {
		delete(in.n, t.ID())
	}
}
