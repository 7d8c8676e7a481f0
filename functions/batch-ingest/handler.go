// Package function is the platform's generic batch ingest app, deployed once
// per tenant as <tenant>-batch-ingest with that tenant's profile and the
// platform's endpoints in its environment (see shared/ingest for the
// variables). The connector POSTs it the S3 event of each upload under the
// tenant's incoming/; it answers:
//
//	200  the JSON report (done, rejected, or skipped: nothing to retry)
//	400  the body is not an S3 event
//	403  the event names another tenant's bucket
//	429  over the files-per-window quota: Retry-After says when to redeliver
//	500  a failure (the read broke off, or the function's environment is
//	     misconfigured): the connector redelivers with backoff and
//	     dead-letters the event if it keeps failing
//	503  a dependency (the store or S3) is unavailable: Retry-After says
//	     when to try again; the connector defers the event without
//	     spending an attempt, up to its total deadline
//
// Every non-2xx answer means "retry" to the connector, and redelivery is
// harmless: finished files are not read again.
package function

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/fnrun"
	"github.com/mysimbdp/mysimbdp/shared/ingest"
)

// maxEventBytes bounds the request body: an S3 event is a few KB.
const maxEventBytes = 1 << 20

// process is the one value that lives as long as the process: Handle's
// signature gives it nowhere else to keep the connections that every
// invocation reuses. It holds no state of its own beyond that lazy Batch.
var process = NewHandler(os.Getenv, slog.New(slog.NewJSONHandler(os.Stderr, nil)))

// Handle serves one invocation.
func Handle(w http.ResponseWriter, r *http.Request) { process.ServeHTTP(w, r) }

// Handler is the function as an http.Handler, with its configuration read
// from getenv on the first request (so a misconfigured replica still starts,
// passes its probes and says what is wrong in every answer and log line).
// Tests build their own with NewHandler.
type Handler struct {
	log   *slog.Logger
	batch *fnrun.Lazy[*ingest.Batch]
}

// NewHandler returns a Handler reading its environment through getenv.
func NewHandler(getenv func(string) string, log *slog.Logger) *Handler {
	return &Handler{log: log, batch: fnrun.NewLazy(func() (*ingest.Batch, error) {
		cfg, err := ingest.ConfigFromEnv(getenv)
		if err != nil {
			return nil, err
		}
		return ingest.New(cfg, ingest.Options{Log: log})
	})}
}

// Close releases the Batch's connections, if it was built.
func (h *Handler) Close(ctx context.Context) error {
	return h.batch.Release(func(v *ingest.Batch) error { return v.Close(ctx) })
}

// ServeHTTP decodes the S3 event and answers with the ingestion's report.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fnrun.WriteError(w, http.StatusMethodNotAllowed, "POST an S3 event notification (JSON)")
		return
	}
	b, err := h.batch.Get()
	if err != nil {
		h.log.ErrorContext(r.Context(), "batch ingest is misconfigured", "err", err)
		fnrun.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	var ev events.S3Event
	dec := json.NewDecoder(io.LimitReader(r.Body, maxEventBytes))
	if err := dec.Decode(&ev); err != nil {
		fnrun.WriteError(w, http.StatusBadRequest, fmt.Sprintf("the body is not an S3 event notification (JSON with Records): %v", err))
		return
	}
	rep, err := b.HandleEvent(r.Context(), ev)
	switch {
	case errors.Is(err, ingest.ErrBadEvent):
		fnrun.WriteError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ingest.ErrForbidden):
		fnrun.WriteError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, ingest.ErrUnavailable):
		w.Header().Set("Retry-After", strconv.FormatInt(max(rep.RetryAfterSeconds, int64(ingest.OutageRetryAfter/time.Second)), 10))
		fnrun.WriteJSON(w, http.StatusServiceUnavailable, rep)
	case err != nil:
		// The report says how far it got; the status says: redeliver.
		fnrun.WriteJSON(w, http.StatusInternalServerError, rep)
	case rep.Status == contract.StatusDeferred:
		w.Header().Set("Retry-After", strconv.FormatInt(max(rep.RetryAfterSeconds, 1), 10))
		fnrun.WriteJSON(w, http.StatusTooManyRequests, rep)
	default:
		fnrun.WriteJSON(w, http.StatusOK, rep)
	}
}
