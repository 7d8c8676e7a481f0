// Package function is the platform's stats function (see shared/stats for
// what it stores and decides, and the environment it reads). It is not a
// tenant's: the connector delivers it the reports of every tenant's ingest
// apps, and operators and tenants read the stats from it.
//
//	POST  a batch of reports as the connector delivers them from the
//	      REPORTS stream (contract.Batch); answers 200 with
//	      {"batchItemFailures":[...]}: the records that are not reports,
//	      with why (they are dead-lettered); every other record is stored.
//	      An empty batch, or an empty body, only re-evaluates the quotas:
//	      a scheduler sends one so that a block is lifted, and a throttle
//	      recorded as over, even when no report arrives.
//	      400 the body is not a batch, 413 it is too large, 500 the
//	      function is misconfigured, 503 the database or NATS could not
//	      be used: redeliver the whole batch.
//	GET   the stats since ?since= (a duration back from now such as 1h, the
//	      default, or an RFC 3339 time; at most 7 days): JSON with
//	      Accept: application/json or ?format=json, else a text table.
//	      It needs credentials: the gateway's (basic auth; every tenant,
//	      or ?tenant=<id>) or a tenant's stats token (Authorization:
//	      Bearer <token>; that tenant's rows only). 401 without or with
//	      bad ones, 403 a tenant's token asking for another tenant.
//
// The reports and ticks (POST) come signed by the connector; the runtime
// (shared/fnrun) lets a GET with an Authorization header through
// unsigned (MYSIMBDP_INVOKE_HANDLER_AUTH: GET in stack.yml) and the
// handler checks it.
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
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/fnrun"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/stats"
)

// maxBatchBytes bounds the request body: reports are small (well under
// 1 KB each), so this holds tens of thousands of them.
const maxBatchBytes = 32 << 20

// process is the one value that lives as long as the process: Handle's
// signature gives it nowhere else to keep the connections every
// invocation shares.
var process = NewHandler(os.Getenv, slog.New(slog.NewJSONHandler(os.Stderr, nil)))

// Handle serves one invocation.
func Handle(w http.ResponseWriter, r *http.Request) { process.ServeHTTP(w, r) }

// Handler is the function as an http.Handler, configured from getenv on
// its first request (a misconfigured replica still starts and says what is
// wrong in every answer). Tests build their own with NewHandler.
type Handler struct {
	log     *slog.Logger
	svc     *fnrun.Lazy[*stats.Service]
	readers *fnrun.Lazy[readers]
}

// NewHandler returns a Handler reading its environment through getenv.
func NewHandler(getenv func(string) string, log *slog.Logger) *Handler {
	return &Handler{log: log, readers: fnrun.NewLazy(func() (readers, error) { return loadReaders(getenv), nil }), svc: fnrun.NewLazy(func() (*stats.Service, error) {
		cfg, err := stats.ConfigFromEnv(getenv)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return stats.New(ctx, cfg, stats.Options{Log: log})
	})}
}

// Close releases the connections, if they were made.
func (h *Handler) Close(ctx context.Context) error {
	return h.svc.Release(func(s *stats.Service) error { return s.Close(ctx) })
}

// ServeHTTP stores a batch of reports (POST) or answers the stats (GET).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		fnrun.WriteError(w, http.StatusMethodNotAllowed, "GET the stats, or POST a batch of reports (JSON)")
		return
	}
	// The credentials first: a reader without any learns nothing, not
	// even whether the function is configured.
	tenant := ""
	if r.Method == http.MethodGet {
		rd, _ := h.readers.Get()
		var err error
		if tenant, err = rd.who(r, r.URL.Query().Get("tenant")); err != nil {
			code := http.StatusUnauthorized
			if errors.As(err, new(errForbidden)) {
				code = http.StatusForbidden
			} else {
				w.Header().Set("WWW-Authenticate", `Basic realm="mysimbdp stats", Bearer`)
			}
			fnrun.WriteError(w, code, err.Error())
			return
		}
	}
	svc, err := h.svc.Get()
	if err != nil {
		h.log.ErrorContext(r.Context(), "stats cannot start", "err", err)
		code := http.StatusServiceUnavailable // NATS is down: try again
		if errors.Is(err, stats.ErrConfig) {
			code = http.StatusInternalServerError
		}
		fnrun.WriteError(w, code, err.Error())
		return
	}
	if r.Method == http.MethodGet {
		h.get(w, r, svc, tenant)
		return
	}
	var b contract.Batch
	// An empty body is an empty batch: what a scheduler (OpenFaaS's
	// cron-connector) sends to have the quotas evaluated.
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBatchBytes)).Decode(&b); err != nil && !errors.Is(err, io.EOF) {
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			fnrun.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the batch is over %d bytes: send fewer records per batch", tooLarge.Limit))
			return
		}
		fnrun.WriteError(w, http.StatusBadRequest, fmt.Sprintf(`the body is not a batch ({"records":[...]}): %v`, err))
		return
	}
	resp, err := svc.Ingest(r.Context(), b)
	switch {
	case errors.Is(err, stats.ErrBadBatch):
		fnrun.WriteError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		h.log.ErrorContext(r.Context(), "reports not stored; the batch should be redelivered", "err", err)
		fnrun.WriteError(w, http.StatusServiceUnavailable, err.Error())
	default:
		fnrun.WriteJSON(w, http.StatusOK, resp)
	}
}

// get answers the stats of tenant ("" every tenant).
func (h *Handler) get(w http.ResponseWriter, r *http.Request, svc *stats.Service, tenant string) {
	q := r.URL.Query()
	from, err := stats.ParseSince(q.Get("since"), time.Now())
	if err != nil {
		fnrun.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if tenant != "" {
		if err := profile.CheckTenantID(tenant); err != nil {
			fnrun.WriteError(w, http.StatusBadRequest, fmt.Sprintf("tenant=%q: %v", tenant, err))
			return
		}
	}
	sm, err := svc.SummaryOf(r.Context(), from, tenant)
	if err != nil {
		h.log.ErrorContext(r.Context(), "stats summary", "err", err)
		fnrun.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if q.Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json") {
		fnrun.WriteJSON(w, http.StatusOK, sm)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := sm.WriteText(w); err != nil {
		h.log.WarnContext(r.Context(), "stats answer cut short", "err", err)
	}
}
