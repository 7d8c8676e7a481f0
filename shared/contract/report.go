package contract

import "time"

// Report kinds: what an ingest function publishes on
// ReportSubject(prefix, tenant), told apart by their "kind" field.
const (
	KindBatch  = "batch"
	KindStream = "stream"
)

// Status is the outcome of one file's ingestion.
type Status string

// The statuses of a batch report. Done and rejected are final: that
// version of the file is never read again. Deferred means "later, not a
// failure" (a quota); failed means the attempt went wrong and is retried;
// skipped means there was nothing to ingest (not under incoming/, or a
// version already done).
const (
	StatusRunning  Status = "running"
	StatusDone     Status = "done"
	StatusRejected Status = "rejected"
	StatusDeferred Status = "deferred"
	StatusFailed   Status = "failed"
	StatusSkipped  Status = "skipped"
)

// Finished reports whether an ingestion in this status is over for good.
func (s Status) Finished() bool { return s == StatusDone || s == StatusRejected }

// BatchReport is the outcome of ingesting one object: what a batch
// function answers, what the ingestions collection stores, what it
// publishes for the stats function and what <key>.report.json holds.
type BatchReport struct {
	// Kind is always KindBatch.
	Kind   string `json:"kind" bson:"kind"`
	Tenant string `json:"tenant" bson:"tenant"`
	Bucket string `json:"bucket" bson:"bucket"`
	Key    string `json:"key" bson:"key"`
	ETag   string `json:"etag" bson:"etag"`
	// Dataset is the tenant's dataset the file's folder chose.
	Dataset      string `json:"dataset,omitempty" bson:"dataset,omitempty"`
	Size         int64  `json:"size" bson:"size"`
	RowsOK       int64  `json:"rows_ok" bson:"rows_ok"`
	RowsRejected int64  `json:"rows_rejected" bson:"rows_rejected"`
	// RowsUnchanged and RowsReplaced count, of RowsOK, the rows whose
	// business key was stored already: as they are (left alone: a
	// re-upload costs a read, not a write) or in another version (now
	// replaced). Both are of the last attempt only.
	RowsUnchanged int64     `json:"rows_unchanged" bson:"rows_unchanged"`
	RowsReplaced  int64     `json:"rows_replaced" bson:"rows_replaced"`
	Bytes         int64     `json:"bytes" bson:"bytes"`
	DurationMS    int64     `json:"duration_ms" bson:"duration_ms"`
	Status        Status    `json:"status" bson:"status"`
	Error         string    `json:"error,omitempty" bson:"error,omitempty"`
	StartedAt     time.Time `json:"started_at" bson:"started_at"`
	EndedAt       time.Time `json:"ended_at" bson:"ended_at"`
	// RetryAfter is set when Status is deferred: when the tenant's window
	// has room again.
	RetryAfter time.Duration `json:"-" bson:"-"`
	// RetryAfterSeconds is RetryAfter rounded up, as HTTP's Retry-After.
	RetryAfterSeconds int64 `json:"retry_after_s,omitempty" bson:"-"`
	// Quality is the data-quality metadata of the file's rows, when its
	// dataset has quality rules.
	Quality *Quality `json:"quality,omitempty" bson:"quality,omitempty"`
	// Warnings are the file-level quality rules of severity warn the file
	// broke (a freshness rule): the file is stored.
	Warnings []string `json:"warnings,omitempty" bson:"warnings,omitempty"`
	// Sinks says, for a dataset with fan-out copies, what each collection
	// it writes (its sink first) did with the rows.
	Sinks []SinkReport `json:"sinks,omitempty" bson:"sinks,omitempty"`
	// Files holds one report per record when an event carries several;
	// the fields above then sum them up.
	Files []BatchReport `json:"files,omitempty" bson:"-"`
}

// WindowReport is what a stream function publishes every window, like the
// seed's clientstreamingestapp reported to its monitor. Messages, Bytes
// and Failures count deliveries: a record redelivered after a failure
// counts again in the window it came back in.
type WindowReport struct {
	Tenant string `json:"tenant"`
	// Kind is always KindStream.
	Kind        string    `json:"kind"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// Messages is the number of records received, Bytes their payload
	// bytes, Failures those answered as failed (or in a batch that failed
	// as a whole).
	Messages int64 `json:"messages"`
	Bytes    int64 `json:"bytes"`
	Failures int64 `json:"failures"`
	// Batches is the number of batches handled; AvgIngestMS their
	// average duration in milliseconds.
	Batches     int64   `json:"batches"`
	AvgIngestMS float64 `json:"avg_ingest_ms"`
	// Quality is, by dataset, the data-quality metadata of the window's
	// records of the datasets that have quality rules (each batch checked
	// on its own, then merged: uniqueness holds within a batch).
	Quality map[string]Quality `json:"quality,omitempty"`
}

// SinkReport is what one collection of a dataset did with a file's good
// rows: stored (new, unchanged or replaced) or refused (quarantined with
// the collection's reason; the other collections keep the row).
type SinkReport struct {
	Collection    string `json:"collection" bson:"collection"`
	Form          string `json:"form" bson:"form"`
	RowsStored    int64  `json:"rows_stored" bson:"rows_stored"`
	RowsUnchanged int64  `json:"rows_unchanged" bson:"rows_unchanged"`
	RowsReplaced  int64  `json:"rows_replaced" bson:"rows_replaced"`
	RowsRefused   int64  `json:"rows_refused" bson:"rows_refused"`
}
