package fnrun

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// execTimeout bounds each call of h to d, as of-watchdog's exec_timeout
// does: past d the caller gets 503 and the handler's context is cancelled.
// That 503 carries contract.HeaderOrigin: contract.OriginRuntime, so a
// caller can tell a handler that ran out of time (a failure of the
// invocation) from a handler that answered 503 itself (its deferral).
func execTimeout(h http.Handler, d time.Duration) http.Handler {
	msg := fmt.Sprintf("function exceeded exec_timeout of %s\n", d)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// TimeoutHandler answers 503 on timeout, on the writer given
		// here; its handler sees a context of its own that ends with
		// DeadlineExceeded at d.
		var inner atomic.Pointer[context.Context]
		th := http.TimeoutHandler(http.HandlerFunc(func(iw http.ResponseWriter, ir *http.Request) {
			ctx := ir.Context()
			inner.Store(&ctx)
			h.ServeHTTP(iw, ir)
		}), d, msg)
		th.ServeHTTP(&originWriter{ResponseWriter: w, timedOut: func() bool {
			ctx := inner.Load()
			return ctx != nil && errors.Is((*ctx).Err(), context.DeadlineExceeded)
		}}, r)
	})
}

// originWriter marks the runtime's own 503.
type originWriter struct {
	http.ResponseWriter
	timedOut func() bool
}

func (w *originWriter) WriteHeader(code int) {
	if code == http.StatusServiceUnavailable && w.timedOut() {
		w.Header().Set(contract.HeaderOrigin, contract.OriginRuntime)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *originWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
