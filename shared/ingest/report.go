package ingest

import (
	"fmt"
	"math"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// severity orders statuses for the summary of a many-record event: the
// worst one decides how the transport answers.
func severity(s contract.Status) int {
	switch s {
	case contract.StatusFailed:
		return 5
	case contract.StatusDeferred:
		return 4
	case contract.StatusRunning:
		return 3
	case contract.StatusRejected:
		return 2
	case contract.StatusSkipped:
		return 1
	}
	return 0
}

// setRetryAfter sets both forms of r's retry delay, at least 1ms.
func setRetryAfter(r *contract.BatchReport, d time.Duration) {
	if d < time.Millisecond {
		d = time.Millisecond
	}
	r.RetryAfter = d
	r.RetryAfterSeconds = int64(math.Ceil(d.Seconds()))
}

// end stamps r as ended now.
func end(r *contract.BatchReport, now time.Time) {
	r.EndedAt = now
	r.DurationMS = now.Sub(r.StartedAt).Milliseconds()
}

// summarize folds the reports of a many-record event into one.
func summarize(reps []contract.BatchReport) contract.BatchReport {
	if len(reps) == 1 {
		return reps[0]
	}
	s := contract.BatchReport{Kind: contract.KindBatch, Status: contract.StatusDone, Files: reps}
	for i, r := range reps {
		if i == 0 {
			s.Tenant, s.Bucket, s.StartedAt = r.Tenant, r.Bucket, r.StartedAt
		}
		s.Size += r.Size
		s.RowsOK += r.RowsOK
		s.RowsRejected += r.RowsRejected
		s.RowsUnchanged += r.RowsUnchanged
		s.RowsReplaced += r.RowsReplaced
		s.Bytes += r.Bytes
		if r.EndedAt.After(s.EndedAt) {
			s.EndedAt = r.EndedAt
		}
		if severity(r.Status) > severity(s.Status) {
			s.Status, s.Error = r.Status, r.Error
		}
		if r.RetryAfter > s.RetryAfter {
			setRetryAfter(&s, r.RetryAfter)
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
