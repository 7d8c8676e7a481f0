package stats

import (
	"math"
	"sort"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Figures are the sums over a set of reports: a window, a time range, a
// tenant or the platform.
type Figures struct {
	// Files counts finished files (done or rejected), each once; rows and
	// bytes are theirs.
	Files        int64 `json:"files" bson:"files"`
	RowsOK       int64 `json:"rows_ok" bson:"rows_ok"`
	RowsRejected int64 `json:"rows_rejected" bson:"rows_rejected"`
	FileBytes    int64 `json:"file_bytes" bson:"file_bytes"`
	// Deferrals and FileFailures count reports: a file deferred twice
	// counts twice.
	Deferrals    int64   `json:"deferrals" bson:"deferrals"`
	FileFailures int64   `json:"file_failures" bson:"file_failures"`
	FileAvgMS    float64 `json:"file_avg_ms" bson:"file_avg_ms"`
	FileP95MS    float64 `json:"file_p95_ms" bson:"file_p95_ms"`

	Messages       int64   `json:"messages" bson:"messages"`
	StreamBytes    int64   `json:"stream_bytes" bson:"stream_bytes"`
	StreamFailures int64   `json:"stream_failures" bson:"stream_failures"`
	Batches        int64   `json:"batches" bson:"batches"`
	BatchAvgMS     float64 `json:"batch_avg_ms" bson:"batch_avg_ms"`
	BatchP95MS     float64 `json:"batch_p95_ms" bson:"batch_p95_ms"`
}

// acc accumulates Figures in bounded memory.
type acc struct {
	f               Figures
	fileMS, batchMS hist
	// n counts the entries added: stored reports and files only ever
	// grow, so a larger n is a more complete sum.
	n int64
}

// addFile counts a finished file (from stats_files).
func (a *acc) addFile(e *entry) {
	a.n++
	a.f.Files++
	a.f.RowsOK += e.RowsOK
	a.f.RowsRejected += e.RowsRejected
	a.f.FileBytes += e.Bytes
	a.fileMS.add(float64(e.DurationMS), 1)
}

// addReport counts what a report adds besides finished files.
func (a *acc) addReport(e *entry) {
	a.n++
	switch e.Kind {
	case contract.KindStream:
		a.f.Messages += e.Messages
		a.f.StreamBytes += e.Bytes
		a.f.StreamFailures += e.Failures
		a.f.Batches += e.Batches
		a.batchMS.add(e.AvgIngestMS, e.Batches)
	case contract.KindBatch:
		switch contract.Status(e.Status) {
		case contract.StatusDeferred:
			a.f.Deferrals++
		case contract.StatusFailed:
			a.f.FileFailures++
		}
	}
}

func (a *acc) figures() Figures {
	f := a.f
	f.FileAvgMS, f.FileP95MS = a.fileMS.avg(), a.fileMS.p95()
	f.BatchAvgMS, f.BatchP95MS = a.batchMS.avg(), a.batchMS.p95()
	return f
}

// byTenant accumulates per tenant and for the platform.
type byTenant struct {
	all     acc
	tenants map[string]*acc
	quality qualities
}

func newByTenant() *byTenant {
	return &byTenant{tenants: map[string]*acc{}, quality: qualities{}}
}

func (b *byTenant) of(tenant string) *acc {
	a := b.tenants[tenant]
	if a == nil {
		a = &acc{}
		b.tenants[tenant] = a
	}
	return a
}

func (b *byTenant) addFile(e *entry) {
	b.all.addFile(e)
	b.of(e.Tenant).addFile(e)
	b.quality.add(e, true)
}

func (b *byTenant) addReport(e *entry) {
	b.all.addReport(e)
	b.of(e.Tenant).addReport(e)
	if e.Kind == contract.KindStream { // a file's counts once, from stats_files
		b.quality.add(e, false)
	}
}

// names are the tenants seen, sorted.
func (b *byTenant) names() []string {
	out := make([]string, 0, len(b.tenants))
	for t := range b.tenants {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Histogram bounds: bucket i holds values in (base·growth^(i-1),
// base·growth^i], so a percentile read from it is within 10% above the
// true value (and clipped to the largest value seen); 200 buckets reach
// 0.1 ms · 1.1^200 ≈ 5 h, anything longer lands in the last.
const (
	histBase    = 0.1
	histGrowth  = 1.1
	histBuckets = 200
)

// hist is a bounded histogram of durations in milliseconds with an exact
// sum, count, min and max.
type hist struct {
	counts   [histBuckets + 1]int64
	n        int64
	sum      float64
	min, max float64
}

func (h *hist) add(v float64, count int64) {
	if count <= 0 || math.IsNaN(v) {
		return
	}
	if v < 0 {
		v = 0
	}
	i := 0
	if v > histBase {
		i = min(int(math.Ceil(math.Log(v/histBase)/math.Log(histGrowth))), histBuckets)
	}
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.counts[i] += count
	h.n += count
	h.sum += v * float64(count)
}

func (h *hist) avg() float64 {
	if h.n == 0 {
		return 0
	}
	return round3(h.sum / float64(h.n))
}

// p95 is the upper bound of the bucket holding the 95th percentile,
// clipped to the values seen.
func (h *hist) p95() float64 {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(0.95 * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := histBase * math.Pow(histGrowth, float64(i))
			return round3(math.Min(math.Max(v, h.min), h.max))
		}
	}
	return round3(h.max)
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
