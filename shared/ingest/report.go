package ingest

import (
	"fmt"
	"math"
	"time"
)

// Status is the outcome of one ingestion.
type Status string

// The statuses; see the package comment.
const (
	StatusRunning  Status = "running"
	StatusDone     Status = "done"
	StatusRejected Status = "rejected"
	StatusDeferred Status = "deferred"
	StatusFailed   Status = "failed"
	StatusSkipped  Status = "skipped"
)

// finished reports whether an ingestion in this status is over for good:
// its file version is never read again.
func (s Status) finished() bool { return s == StatusDone || s == StatusRejected }

// severity orders statuses for the summary of a many-record event: the
// worst one decides how the transport answers.
func (s Status) severity() int {
	switch s {
	case StatusFailed:
		return 5
	case StatusDeferred:
		return 4
	case StatusRunning:
		return 3
	case StatusRejected:
		return 2
	case StatusSkipped:
		return 1
	}
	return 0
}

// KindBatch is Report.Kind: it tells batch reports from the stream apps'
// window reports (streamingest.KindStream) on the same report subject.
const KindBatch = "batch"

// Report is the outcome of ingesting one object: what the function answers,
// what the ingestions collection stores, what goes to NATS for the stats
// function and what <key>.report.json holds.
type Report struct {
	// Kind is always KindBatch.
	Kind         string    `json:"kind" bson:"kind"`
	Tenant       string    `json:"tenant" bson:"tenant"`
	Bucket       string    `json:"bucket" bson:"bucket"`
	Key          string    `json:"key" bson:"key"`
	ETag         string    `json:"etag" bson:"etag"`
	Size         int64     `json:"size" bson:"size"`
	RowsOK       int64     `json:"rows_ok" bson:"rows_ok"`
	RowsRejected int64     `json:"rows_rejected" bson:"rows_rejected"`
	Bytes        int64     `json:"bytes" bson:"bytes"`
	DurationMS   int64     `json:"duration_ms" bson:"duration_ms"`
	Status       Status    `json:"status" bson:"status"`
	Error        string    `json:"error,omitempty" bson:"error,omitempty"`
	StartedAt    time.Time `json:"started_at" bson:"started_at"`
	EndedAt      time.Time `json:"ended_at" bson:"ended_at"`
	// RetryAfter is set when Status is deferred: when the tenant's window
	// has room again.
	RetryAfter time.Duration `json:"-" bson:"-"`
	// RetryAfterSeconds is RetryAfter rounded up, as HTTP's Retry-After.
	RetryAfterSeconds int64 `json:"retry_after_s,omitempty" bson:"-"`
	// Files holds one report per record when an event carries several;
	// the fields above then sum them up.
	Files []Report `json:"files,omitempty" bson:"-"`
}

func (r *Report) setRetryAfter(d time.Duration) {
	if d < time.Millisecond {
		d = time.Millisecond
	}
	r.RetryAfter = d
	r.RetryAfterSeconds = int64(math.Ceil(d.Seconds()))
}

func (r *Report) end(now time.Time) {
	r.EndedAt = now
	r.DurationMS = now.Sub(r.StartedAt).Milliseconds()
}

// summarize folds the reports of a many-record event into one.
func summarize(reps []Report) Report {
	if len(reps) == 1 {
		return reps[0]
	}
	s := Report{Kind: KindBatch, Status: StatusDone, Files: reps}
	for i, r := range reps {
		if i == 0 {
			s.Tenant, s.Bucket, s.StartedAt = r.Tenant, r.Bucket, r.StartedAt
		}
		s.Size += r.Size
		s.RowsOK += r.RowsOK
		s.RowsRejected += r.RowsRejected
		s.Bytes += r.Bytes
		if r.EndedAt.After(s.EndedAt) {
			s.EndedAt = r.EndedAt
		}
		if r.Status.severity() > s.Status.severity() {
			s.Status, s.Error = r.Status, r.Error
		}
		if r.RetryAfter > s.RetryAfter {
			s.setRetryAfter(r.RetryAfter)
		}
	}
	s.DurationMS = s.EndedAt.Sub(s.StartedAt).Milliseconds()
	return s
}

// humanSize renders n for a reason, in the unit family of the limit it is
// compared with (decimal for "4GB", binary for "512MiB"), so that the two
// read alike: "file is 5.2 GB, over the tenant's max_file_size of 4 GB".
func humanSize(n int64, binary bool) string {
	base, units := 1000.0, []string{"B", "kB", "MB", "GB", "TB", "PB"}
	if binary {
		base, units = 1024, []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	}
	v, i := float64(n), 0
	for v >= base && i < len(units)-1 {
		v /= base
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	s := fmt.Sprintf("%.1f", v)
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		s = s[:len(s)-2]
	}
	return s + " " + units[i]
}
