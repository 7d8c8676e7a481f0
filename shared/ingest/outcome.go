package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/nats-io/nats.go"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/secret"
)

// maxCopyObject is the largest object one server-side copy may move (S3's
// CopyObject limit); larger ones are copied in parts.
const maxCopyObject = 5 << 30

// Destination is where an object in incoming/ goes once its ingestion is
// over: processed/<rest> when done, rejected/<rest> when rejected.
func Destination(key string, st contract.Status) string {
	prefix := ProcessedPrefix
	if st == contract.StatusRejected {
		prefix = RejectedPrefix
	}
	return prefix + strings.TrimPrefix(key, IncomingPrefix)
}

// moveOut makes a finished ingestion visible to any S3 client: the report
// beside the destination, then the object copied there and removed from
// incoming/. Each step can be repeated, so a redelivery after a crash in
// between just finishes the job. Only the version that was ingested moves:
// a newer upload under the same key stays in incoming/ for its own event.
func (b *Batch) moveOut(ctx context.Context, rep contract.BatchReport) error {
	if !rep.Status.Finished() {
		return nil
	}
	dst := Destination(rep.Key, rep.Status)
	body, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("ingest %s: encode the report: %w", rep.Key, err)
	}
	if _, err := b.s3.PutObject(ctx, rep.Bucket, dst+ReportSuffix, bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("ingest %s: put the report %s: %w", rep.Key, dst+ReportSuffix, err)
	}
	src := minio.CopySrcOptions{Bucket: rep.Bucket, Object: rep.Key, MatchETag: rep.ETag}
	to := minio.CopyDestOptions{Bucket: rep.Bucket, Object: dst}
	if rep.Size > maxCopyObject {
		_, err = b.s3.ComposeObject(ctx, to, src)
	} else {
		_, err = b.s3.CopyObject(ctx, to, src)
	}
	switch code := s3Code(err); {
	case code == "NoSuchKey", code == "PreconditionFailed":
		return nil // already moved, or replaced by a newer upload
	case err != nil:
		return fmt.Errorf("ingest %s: copy to %s: %w", rep.Key, dst, err)
	}
	// S3 has no conditional delete: check the version once more, so that
	// an upload that landed since the copy is not removed with it.
	info, err := b.s3.StatObject(ctx, rep.Bucket, rep.Key, minio.StatObjectOptions{})
	if s3Code(err) == "NoSuchKey" {
		return nil
	} else if err != nil {
		return fmt.Errorf("ingest %s: stat before removing: %w", rep.Key, err)
	}
	if strings.Trim(info.ETag, `"`) != rep.ETag {
		return nil
	}
	if err := b.s3.RemoveObject(ctx, rep.Bucket, rep.Key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("ingest %s: remove from %s: %w", rep.Key, IncomingPrefix, err)
	}
	return nil
}

// reporter publishes reports to NATS for the stats function, best effort:
// a report that cannot be sent is logged, never a reason to fail the
// ingestion (the ingestions collection has it too). It connects on first
// use and, after a failure, not again for a while, so that a NATS outage
// does not slow every ingestion down.
type reporter struct {
	url, prefix string
	log         *slog.Logger

	mu        sync.Mutex
	nc        *nats.Conn
	nextTry   time.Time
	closed    bool
	retryWait time.Duration
	natsOpts  []nats.Option // the platform's CA, if any
}

func newReporter(url, prefix string, log *slog.Logger) *reporter {
	if prefix == "" {
		prefix = contract.ReportSubjectPrefix
	}
	return &reporter{url: url, prefix: prefix, log: log, retryWait: 30 * time.Second}
}

func (r *reporter) conn() *nats.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.url == "" || r.closed {
		return nil
	}
	if r.nc != nil || time.Now().Before(r.nextTry) {
		return r.nc
	}
	nc, err := nats.Connect(r.url, append([]nats.Option{nats.Name("mysimbdp-batch-ingest"), nats.Timeout(2 * time.Second),
		nats.MaxReconnects(-1)}, r.natsOpts...)...)
	if err != nil {
		r.nextTry = time.Now().Add(r.retryWait)
		r.log.Warn("cannot connect to NATS for reports; trying again later", "url", secret.RedactURLs(r.url), "err", err, "retry_in", r.retryWait)
		return nil
	}
	r.nc = nc
	return nc
}

func (r *reporter) publish(ctx context.Context, rep contract.BatchReport) {
	nc := r.conn()
	if nc == nil {
		return
	}
	rep.Kind = contract.KindBatch // a stored report read back may predate the field
	body, err := json.Marshal(rep)
	if err == nil {
		err = nc.Publish(contract.ReportSubject(r.prefix, rep.Tenant), body)
	}
	if err != nil {
		r.log.WarnContext(ctx, "report not published", "key", rep.Key, "err", err)
	}
}

func (r *reporter) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.nc != nil {
		// Flush what is buffered: reports of the last invocations.
		_ = r.nc.Drain()
		r.nc = nil
	}
}
