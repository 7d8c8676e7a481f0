package stats

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// entry is one stored report, of either kind: a document of
// stats_reports (ID = the record id) or, for a finished file, of
// stats_files (ID = the file, Report = the record id).
type entry struct {
	ID     string    `bson:"_id"`
	Tenant string    `bson:"tenant"`
	Kind   string    `bson:"kind"`
	At     time.Time `bson:"at"`
	// Report is the record id, in stats_files.
	Report     string    `bson:"report,omitempty"`
	Subject    string    `bson:"subject,omitempty"`
	ReceivedAt time.Time `bson:"received_at"`

	// Batch reports.
	File         string    `bson:"file,omitempty"`
	Status       string    `bson:"status,omitempty"`
	StartedAt    time.Time `bson:"started_at"`
	Size         int64     `bson:"size"`
	RowsOK       int64     `bson:"rows_ok"`
	RowsRejected int64     `bson:"rows_rejected"`
	DurationMS   int64     `bson:"duration_ms"`
	Error        string    `bson:"error,omitempty"`

	// Both: bytes read from the file, or stream payload bytes.
	Bytes int64 `bson:"bytes"`
	// Quality is the data-quality metadata, by dataset: a file's one
	// dataset, or a stream window's datasets with quality rules.
	Quality map[string]contract.Quality `bson:"quality,omitempty"`

	// Stream window reports.
	WindowStart time.Time `bson:"window_start"`
	Messages    int64     `bson:"messages"`
	Failures    int64     `bson:"failures"`
	Batches     int64     `bson:"batches"`
	AvgIngestMS float64   `bson:"avg_ingest_ms"`
}

// finished reports whether a batch entry is a file's final outcome, the
// one its rows count from.
func (e *entry) finished() bool {
	return e.Kind == contract.KindBatch &&
		(e.Status == string(contract.StatusDone) || e.Status == string(contract.StatusRejected))
}

// fileID names one version of one object, as shared/ingest does.
func fileID(r contract.BatchReport) string { return r.Bucket + "/" + r.Key + "@" + r.ETag }

// decode turns a delivered record into an entry, or says why it is not a
// report. A report on <prefix>.<tenant> must be that tenant's: a tenant's
// app cannot report for another.
func decode(rec contract.Record, prefix string, now time.Time) (entry, error) {
	var probe struct {
		Kind   string `json:"kind"`
		Tenant string `json:"tenant"`
	}
	if err := json.Unmarshal(rec.Data, &probe); err != nil {
		return entry{}, fmt.Errorf("not a report: %v", err)
	}
	if probe.Tenant == "" {
		return entry{}, errors.New("not a report: no tenant")
	}
	if t, ok := strings.CutPrefix(rec.Subject, prefix+"."); ok && t != probe.Tenant {
		return entry{}, fmt.Errorf("report of tenant %s on %s, which is tenant %s's subject", probe.Tenant, rec.Subject, t)
	}
	e := entry{ID: rec.ID, Tenant: probe.Tenant, Kind: probe.Kind, Subject: rec.Subject, ReceivedAt: now}
	switch probe.Kind {
	case contract.KindBatch:
		var r contract.BatchReport
		if err := json.Unmarshal(rec.Data, &r); err != nil {
			return entry{}, fmt.Errorf("not a batch report: %v", err)
		}
		switch r.Status {
		case contract.StatusDone, contract.StatusRejected, contract.StatusDeferred, contract.StatusFailed, contract.StatusSkipped:
		default:
			return entry{}, fmt.Errorf("batch report of %s: status %q is not done, rejected, deferred, failed or skipped", r.Key, r.Status)
		}
		if r.EndedAt.IsZero() {
			return entry{}, fmt.Errorf("batch report of %s: no ended_at", r.Key)
		}
		if r.Key == "" || (r.Status == contract.StatusDone || r.Status == contract.StatusRejected) && (r.Bucket == "" || r.ETag == "") {
			return entry{}, fmt.Errorf("batch report (%s): a file is named by bucket, key and etag; got %q, %q, %q", r.Status, r.Bucket, r.Key, r.ETag)
		}
		if r.RowsOK < 0 || r.RowsRejected < 0 || r.Bytes < 0 || r.DurationMS < 0 {
			return entry{}, fmt.Errorf("batch report of %s: negative counts", r.Key)
		}
		e.At, e.File, e.Status, e.StartedAt = r.EndedAt, fileID(r), string(r.Status), r.StartedAt
		e.Size, e.RowsOK, e.RowsRejected, e.Bytes, e.DurationMS, e.Error = r.Size, r.RowsOK, r.RowsRejected, r.Bytes, r.DurationMS, r.Error
		if r.Quality != nil {
			e.Quality = map[string]contract.Quality{cmp.Or(r.Dataset, profile.DefaultDataset): *r.Quality}
		}
	case contract.KindStream:
		var r contract.WindowReport
		if err := json.Unmarshal(rec.Data, &r); err != nil {
			return entry{}, fmt.Errorf("not a stream window report: %v", err)
		}
		if r.WindowEnd.IsZero() {
			return entry{}, errors.New("stream window report: no window_end")
		}
		if r.Messages < 0 || r.Bytes < 0 || r.Failures < 0 || r.Batches < 0 || r.AvgIngestMS < 0 {
			return entry{}, errors.New("stream window report: negative counts")
		}
		e.At, e.WindowStart = r.WindowEnd, r.WindowStart
		e.Messages, e.Bytes, e.Failures, e.Batches, e.AvgIngestMS = r.Messages, r.Bytes, r.Failures, r.Batches, r.AvgIngestMS
		e.Quality = r.Quality
	default:
		return entry{}, fmt.Errorf("report kind %q is neither %q nor %q", probe.Kind, contract.KindBatch, contract.KindStream)
	}
	return e, nil
}
