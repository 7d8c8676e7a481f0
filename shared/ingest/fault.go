package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/mysimbdp/mysimbdp/shared/checker"
)

// How a store call that hit passing trouble (see transient) is tried again
// inside the attempt: up to storeTries calls, waiting storeBackoff, then
// twice as long each time up to storeBackoffMax (about 5 s in all), so a
// burst that makes SQLite's writers wait on each other slows a file down
// instead of failing it.
const (
	storeTries      = 8
	storeBackoff    = 50 * time.Millisecond
	storeBackoffMax = 2 * time.Second
)

// storeSelectTimeout bounds the wait for the store's server, unless the
// MongoDB URI says otherwise (serverSelectionTimeoutMS).
const storeSelectTimeout = 10 * time.Second

// OutageRetryAfter is how long an event that found a dependency
// unavailable (ErrUnavailable) should wait before it is tried again.
const OutageRetryAfter = 10 * time.Second

// transient reports whether err is the store's passing trouble, worth
// trying again at once: lock contention in FerretDB's SQLite backend
// (SQLITE_BUSY, "database is locked"), a dropped connection, or an error
// the server labels retryable. A context that ended is never transient.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.As(err, new(topology.ServerSelectionError)) {
		// No server for storeSelectTimeout: an outage, not a hiccup.
		return false
	}
	if mongo.IsNetworkError(err) {
		return true
	}
	var le mongo.LabeledError
	if errors.As(err, &le) && (le.HasErrorLabel("RetryableWriteError") || le.HasErrorLabel("TransientTransactionError")) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"SQLITE_BUSY", "SQLITE_LOCKED", "database is locked", "database table is locked"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// unavailable reports whether err says a dependency cannot be reached or
// cannot take work now (the store's server cannot be selected, a
// connection is refused or dropped, S3 answers 503, the store stayed busy
// through storeTries): nothing is wrong with the file, so the event
// should wait rather than spend an attempt.
func unavailable(err error) bool {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, checker.ErrUnavailable): // the tenant's quality checker
		return true
	case errors.As(err, new(topology.ServerSelectionError)), errors.As(err, new(topology.ConnectionError)):
		return true
	case errors.Is(err, context.DeadlineExceeded): // the attempt's own time ran out
		return false
	case transient(err):
		return true
	}
	if resp := minio.ToErrorResponse(err); resp.StatusCode == 503 || resp.Code == "XMinioServerNotInitialized" || resp.Code == "SlowDown" {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op)
}

// retrying runs op, and runs it again after a back-off while it fails
// with transient trouble, at most storeTries times and never past ctx.
// what names the call in the log.
func (b *Batch) retrying(ctx context.Context, what string, op func() error) error {
	delay := storeBackoff
	for try := 1; ; try++ {
		err := op()
		if err == nil || try == storeTries || !transient(err) {
			return err
		}
		wait := delay/2 + rand.N(delay) // jittered, so busy writers do not meet again
		b.log.WarnContext(ctx, "store busy; trying again", "what", what, "try", try, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up waiting to try again: %w)", err, context.Cause(ctx))
		case <-t.C:
		}
		delay = min(2*delay, storeBackoffMax)
	}
}
