package stream

import (
	"context"
	"sync"
)

// limiter is a counting semaphore whose bound can change while it is held:
// a function's concurrency follows its replicas.
type limiter struct {
	mu    sync.Mutex
	limit int
	used  int
	wake  chan struct{} // closed and replaced when a slot may have freed
}

func newLimiter(n int) *limiter { return &limiter{limit: n, wake: make(chan struct{})} }

func (l *limiter) acquire(ctx context.Context) error {
	for {
		l.mu.Lock()
		if l.used < l.limit {
			l.used++
			l.mu.Unlock()
			return nil
		}
		// Read under the same lock as the check, so no release between
		// the two can go unnoticed.
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tryAcquire takes a slot if one is free, without waiting.
func (l *limiter) tryAcquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used < l.limit {
		l.used++
		return true
	}
	return false
}

func (l *limiter) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.used--
	l.signal()
}

func (l *limiter) setLimit(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n != l.limit {
		l.limit = n
		l.signal()
	}
}

func (l *limiter) get() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}

func (l *limiter) signal() {
	close(l.wake)
	l.wake = make(chan struct{})
}
