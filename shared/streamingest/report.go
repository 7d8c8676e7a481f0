package streamingest

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/secret"
)

// reporter sums up the batches of each window and publishes a WindowReport
// when the window ends. Its ticker goroutine starts with the first batch
// (an idle replica has nothing to report and no goroutine to stop) and
// ends in close, which publishes the last, partial window. Windows in
// which no batch arrived are not reported: the stats function reads their
// absence as zero.
//
// Publishing is best effort, as in shared/ingest: a report that cannot be
// sent is logged (every report is logged anyway), never a reason to fail a
// batch. NATS is dialled on first use and, after a failure, not again for
// a while, so an outage does not slow every window down.
type reporter struct {
	url, subject, tenant string
	window               time.Duration
	now                  func() time.Time
	log                  *slog.Logger
	retryWait            time.Duration

	mu      sync.Mutex
	cur     contract.WindowReport
	ingest  time.Duration // sum of the window's batch durations
	started bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}
	nc      *nats.Conn
	nextTry time.Time
	// natsOpts trust the platform's CA, if any.
	natsOpts []nats.Option
}

func newReporter(url, subject, tenant string, window time.Duration, now func() time.Time, log *slog.Logger) *reporter {
	return &reporter{
		url: url, subject: subject, tenant: tenant, window: window, now: now, log: log,
		retryWait: 30 * time.Second,
		stop:      make(chan struct{}), done: make(chan struct{}),
	}
}

// add counts one batch into the current window.
func (r *reporter) add(messages, bytes, failures int64, took time.Duration, qual map[string]contract.Quality) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if !r.started {
		r.started = true
		r.cur.WindowStart = r.now()
		go r.loop()
	}
	r.cur.Messages += messages
	r.cur.Bytes += bytes
	r.cur.Failures += failures
	r.cur.Batches++
	r.ingest += took
	for ds, q := range qual {
		if r.cur.Quality == nil {
			r.cur.Quality = map[string]contract.Quality{}
		}
		w := r.cur.Quality[ds]
		w.Merge(q)
		r.cur.Quality[ds] = w
	}
}

func (r *reporter) loop() {
	defer close(r.done)
	t := time.NewTicker(r.window)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.flush(context.Background())
		case <-r.stop:
			return
		}
	}
}

// take ends the current window and starts the next.
func (r *reporter) take() contract.WindowReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := r.cur
	rep.Tenant, rep.Kind, rep.WindowEnd = r.tenant, contract.KindStream, r.now()
	if rep.Batches > 0 {
		rep.AvgIngestMS = float64(r.ingest.Microseconds()) / 1000 / float64(rep.Batches)
	}
	r.cur, r.ingest = contract.WindowReport{WindowStart: rep.WindowEnd}, 0
	return rep
}

func (r *reporter) flush(ctx context.Context) {
	rep := r.take()
	if rep.Batches == 0 {
		return
	}
	r.log.InfoContext(ctx, "stream window", "window_start", rep.WindowStart, "window_end", rep.WindowEnd,
		"messages", rep.Messages, "bytes", rep.Bytes, "failures", rep.Failures,
		"batches", rep.Batches, "avg_ingest_ms", rep.AvgIngestMS)
	nc := r.conn()
	if nc == nil {
		return
	}
	body, err := json.Marshal(rep)
	if err == nil {
		err = nc.Publish(r.subject, body)
	}
	if err != nil {
		r.log.WarnContext(ctx, "stream window report not published", "subject", r.subject, "err", err)
	}
}

func (r *reporter) conn() *nats.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.url == "" {
		return nil
	}
	if r.nc != nil || r.now().Before(r.nextTry) {
		return r.nc
	}
	nc, err := nats.Connect(r.url, append([]nats.Option{nats.Name("mysimbdp-stream-ingest"), nats.Timeout(2 * time.Second),
		nats.MaxReconnects(-1)}, r.natsOpts...)...)
	if err != nil {
		r.nextTry = r.now().Add(r.retryWait)
		r.log.Warn("cannot connect to NATS for reports; trying again later", "url", secret.RedactURLs(r.url), "err", err, "retry_in", r.retryWait)
		return nil
	}
	r.nc = nc
	return nc
}

// close stops the ticker, publishes the last window and flushes the NATS
// connection, so that the report reaches the server before the process
// ends. Calling it again does nothing.
func (r *reporter) close(ctx context.Context) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	started := r.started
	r.mu.Unlock()
	if started {
		close(r.stop)
		<-r.done
	}
	r.flush(ctx)
	r.mu.Lock()
	nc := r.nc
	r.nc, r.url = nil, "" // no reconnect after close
	r.mu.Unlock()
	if nc != nil {
		// Flush, not Drain: Drain returns before the buffer is sent, and
		// the process may exit right after Close.
		if _, ok := ctx.Deadline(); !ok { // FlushWithContext requires one
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
		}
		if err := nc.FlushWithContext(ctx); err != nil {
			r.log.WarnContext(ctx, "last stream window report may be lost", "err", err)
		}
		nc.Close()
	}
}
