// Package function is the platform's generic stream ingest app, deployed
// once per tenant as <tenant>-stream-ingest with that tenant's profile and
// the platform's endpoints in its environment (see shared/streamingest for
// the variables and the contract). The connector POSTs it a batch of
// records pulled from the tenant's JetStream stream; it answers:
//
//	200  {"batchItemFailures":[{"itemIdentifier":..., "reason":...}]}: the
//	     records listed failed (retry them, dead-letter them in the end),
//	     every other record is stored; an empty list means all are
//	400  the body is not a batch (or a record has no id)
//	403  the batch, or the X-Mysimbdp-Tenant header, names another tenant
//	413  the body is larger than the function takes: send smaller batches
//	500  the function is misconfigured (its environment)
//	503  the database could not be written: redeliver the whole batch
//
// Every non-2xx answer means "retry the whole batch" to the connector, and
// that is harmless: every write is idempotent per record.
package function

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/fnrun"
	"github.com/mysimbdp/mysimbdp/shared/streamingest"
)

// maxBatchBytes bounds the request body. NATS payloads are at most 1 MB by
// default and base64 adds a third (JSON objects come as they are: the
// function is deployed with contract.RecordEncodingJSON), so this holds a
// batch of ~90 maximal messages or thousands of ECDC rows; the connector
// sizes its batches below it.
const maxBatchBytes = 128 << 20

// process is the one value that lives as long as the process: Handle's
// signature gives it nowhere else to keep the connections (and the window
// reporter) that every invocation shares, nor the one-time tuning of the
// process's garbage collector.
var process = struct {
	*Handler
	gc sync.Once
}{Handler: NewHandler(os.Getenv, slog.New(slog.NewJSONHandler(os.Stderr, nil)))}

// Handle serves one invocation.
func Handle(w http.ResponseWriter, r *http.Request) {
	process.gc.Do(func() { tuneGC(os.Getenv) })
	process.ServeHTTP(w, r)
}

// GC settings of the function's process, unless its environment sets
// GOGC or GOMEMLIMIT. Its live heap is small (clients, a batch) and every
// record allocates, so at Go's default GOGC=100 it collected every few
// batches and the collector took ~40% of the function's CPU per record
// (issue 18: 62-86 µs per record with 100, 35-59 with 400, same runs). The
// soft limit bounds what a batch near maxBatchBytes may grow the heap to.
const (
	gcPercent   = 400
	memoryLimit = 1 << 30
)

// tuneGC applies gcPercent and memoryLimit where getenv leaves them unset.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// Handler is the function as an http.Handler, with its configuration read
// from getenv on the first request (so a misconfigured replica still
// starts, passes its probes and says what is wrong in every answer and log
// line). Tests build their own with NewHandler.
type Handler struct {
	log *slog.Logger
	ing *fnrun.Lazy[*streamingest.Ingester]
}

// NewHandler returns a Handler reading its environment through getenv.
func NewHandler(getenv func(string) string, log *slog.Logger) *Handler {
	return &Handler{log: log, ing: fnrun.NewLazy(func() (*streamingest.Ingester, error) {
		cfg, err := streamingest.ConfigFromEnv(getenv)
		if err != nil {
			return nil, err
		}
		return streamingest.New(cfg, streamingest.Options{Log: log})
	})}
}

// Close publishes the last window report and releases the connections, if
// the Ingester was built.
func (h *Handler) Close(ctx context.Context) error {
	return h.ing.Release(func(v *streamingest.Ingester) error { return v.Close(ctx) })
}

// ServeHTTP decodes the batch and answers with the records that failed.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fnrun.WriteError(w, http.StatusMethodNotAllowed, "POST a batch of stream records (JSON)")
		return
	}
	ing, err := h.ing.Get()
	if err != nil {
		h.log.ErrorContext(r.Context(), "stream ingest is misconfigured", "err", err)
		fnrun.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	tenant := ing.Profile().Tenant
	if hdr := r.Header.Get(contract.HeaderTenant); hdr != "" && hdr != tenant {
		fnrun.WriteError(w, http.StatusForbidden, fmt.Sprintf("%s is %q; this is tenant %s's stream ingest", contract.HeaderTenant, hdr, tenant))
		return
	}
	b, err := decodeBatch(w, r)
	if err != nil {
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			fnrun.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the batch is over %d bytes: send fewer records per batch", tooLarge.Limit))
			return
		}
		fnrun.WriteError(w, http.StatusBadRequest, fmt.Sprintf(`the body is not a batch ({"tenant":..., "records":[...]}): %v`, err))
		return
	}
	for i := range b.Records {
		// A record sent as raw JSON (contract.RecordEncodingJSON) is
		// ingested as one sent in base64: Data is its payload.
		b.Records[i].Data = b.Records[i].Payload()
	}
	resp, err := ing.Handle(r.Context(), b)
	switch {
	case errors.Is(err, streamingest.ErrBadBatch):
		fnrun.WriteError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, streamingest.ErrForbidden):
		fnrun.WriteError(w, http.StatusForbidden, err.Error())
	case err != nil:
		fnrun.WriteError(w, http.StatusServiceUnavailable, err.Error())
	default:
		if resp.BatchItemFailures == nil { // [] in JSON, never null
			resp.BatchItemFailures = []contract.ItemFailure{}
		}
		fnrun.WriteJSON(w, http.StatusOK, resp)
	}
}

// decodeBatch reads the body (at most maxBatchBytes) and decodes it with
// go-json-experiment/json under encoding/json's (v1) semantics: the same
// batches decode to the same values, at about half the CPU and allocations
// of encoding/json's reflection (a tenth of this function's CPU per record
// went to the decode).
func decodeBatch(w http.ResponseWriter, r *http.Request) (contract.Batch, error) {
	var b contract.Batch
	body := http.MaxBytesReader(w, r.Body, maxBatchBytes)
	var data []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= maxBatchBytes {
		data = make([]byte, n)
		_, err = io.ReadFull(body, data)
	} else {
		data, err = io.ReadAll(body)
	}
	if err != nil {
		return b, fmt.Errorf("read the body: %w", err)
	}
	return b, jsonv2.Unmarshal(data, &b, jsonv1.DefaultOptionsV1())
}
