package contract

import (
	"math"
	"math/bits"
	"time"
)

// Quality is the data-quality metadata of one file or one stream window,
// as shared/quality measures it on the stored documents: what the
// platform database keeps per ingestion, what a file's report holds, and
// what the stats function adds up per tenant and dataset (Merge).
type Quality struct {
	// RowsChecked counts the rows the rules were run on (rows wrangling
	// had already rejected never reach them).
	RowsChecked int64 `json:"rows_checked" bson:"rows_checked"`
	// RowsQuarantined counts, of RowsChecked, the rows that broke a rule of
	// severity reject: they are quarantined, not stored, and not counted
	// in Fields.
	RowsQuarantined int64 `json:"rows_quarantined" bson:"rows_quarantined"`
	// Rules holds, by rule name, every rule of the dataset, failing or not.
	Rules map[string]RuleCount `json:"rules,omitempty" bson:"rules,omitempty"`
	// Fields holds, by stored field name, what the stored rows (checked
	// and not quarantined) hold.
	Fields  map[string]FieldQuality `json:"fields,omitempty" bson:"fields,omitempty"`
	Lineage Lineage                 `json:"lineage" bson:"lineage"`
}

// RuleCount is how often one rule failed.
type RuleCount struct {
	// Severity is the rule's: reject, warn or fail-file.
	Severity string `json:"severity" bson:"severity"`
	// Failures counts the rows that broke the rule; for a freshness rule,
	// which is checked once per file or window, the files or windows whose
	// newest value was too old.
	Failures int64 `json:"failures" bson:"failures"`
	// Note says when a rule was checked only in part (a uniqueness rule
	// past its memory bound).
	Note string `json:"note,omitempty" bson:"note,omitempty"`
}

// FieldQuality is what the stored rows hold in one field.
type FieldQuality struct {
	// Present counts the rows in which the field holds a value: not
	// absent, not null, not the empty string.
	Present int64 `json:"present" bson:"present"`
	// Completeness is Present over the stored rows (RowsChecked less
	// RowsQuarantined); 0 when there are none.
	Completeness float64 `json:"completeness" bson:"completeness"`
	// Min and Max are the smallest and largest finite values of a number
	// field; nil when it held none.
	Min *float64 `json:"min,omitempty" bson:"min,omitempty"`
	Max *float64 `json:"max,omitempty" bson:"max,omitempty"`
	// MinTime and MaxTime are the earliest and latest values of a date or
	// datetime field; nil when it held none.
	MinTime *time.Time `json:"min_time,omitempty" bson:"min_time,omitempty"`
	MaxTime *time.Time `json:"max_time,omitempty" bson:"max_time,omitempty"`
	// Distinct is the approximate number of distinct values of a key
	// field (standard error about 1.6%), estimated from Sketch, which is
	// kept so that files and windows can be merged. Both are empty for
	// fields that are not key fields.
	Distinct int64  `json:"distinct,omitempty" bson:"distinct,omitempty"`
	Sketch   Sketch `json:"sketch,omitempty" bson:"sketch,omitempty"`
}

// Lineage says where the measured rows came from. A batch file fills
// Bucket, Key and ETag; a stream window leaves them empty.
type Lineage struct {
	Bucket     string `json:"bucket,omitempty" bson:"bucket,omitempty"`
	Key        string `json:"key,omitempty" bson:"key,omitempty"`
	ETag       string `json:"etag,omitempty" bson:"etag,omitempty"`
	Dataset    string `json:"dataset,omitempty" bson:"dataset,omitempty"`
	App        string `json:"app,omitempty" bson:"app,omitempty"`
	AppVersion string `json:"app_version,omitempty" bson:"app_version,omitempty"`
}

// Merge adds other to q, as for the windows of a stream or a dataset's
// files: counts add up, minima and maxima combine, sketches merge (and
// Distinct is estimated anew), completeness is recomputed over the merged
// rows. Lineage keeps what both sides share: merging a dataset's files
// keeps Dataset and clears Key. A q with an empty Lineage takes other's,
// so that totals can start from a zero Quality. Nothing of other is
// aliased by q afterwards.
func (q *Quality) Merge(other Quality) {
	if q.Lineage == (Lineage{}) {
		q.Lineage = other.Lineage
	} else {
		q.Lineage = q.Lineage.common(other.Lineage)
	}
	q.RowsChecked += other.RowsChecked
	q.RowsQuarantined += other.RowsQuarantined
	if len(other.Rules) > 0 && q.Rules == nil {
		q.Rules = make(map[string]RuleCount, len(other.Rules))
	}
	for name, o := range other.Rules {
		r := q.Rules[name]
		r.Failures += o.Failures
		if r.Severity == "" {
			r.Severity = o.Severity
		}
		if r.Note == "" {
			r.Note = o.Note
		}
		q.Rules[name] = r
	}
	if len(other.Fields) > 0 && q.Fields == nil {
		q.Fields = make(map[string]FieldQuality, len(other.Fields))
	}
	for name, o := range other.Fields {
		f := q.Fields[name]
		f.Present += o.Present
		f.Min = minFloat(f.Min, o.Min)
		f.Max = maxFloat(f.Max, o.Max)
		f.MinTime = minTime(f.MinTime, o.MinTime)
		f.MaxTime = maxTime(f.MaxTime, o.MaxTime)
		switch {
		case len(o.Sketch) == 0:
		case len(f.Sketch) == 0 && f.Distinct == 0:
			f.Sketch = append(Sketch(nil), o.Sketch...)
			f.Distinct = f.Sketch.Estimate()
		case f.Sketch.Merge(o.Sketch):
			f.Distinct = f.Sketch.Estimate()
		default:
			// A sketch of another layout cannot be merged: keep a lower
			// bound rather than a wrong estimate.
			f.Sketch = nil
			f.Distinct = max(f.Distinct, o.Distinct)
		}
		q.Fields[name] = f
	}
	stored := q.RowsChecked - q.RowsQuarantined
	for name, f := range q.Fields {
		f.Completeness = 0
		if stored > 0 {
			f.Completeness = float64(f.Present) / float64(stored)
		}
		q.Fields[name] = f
	}
}

// common keeps the fields l and o agree on.
func (l Lineage) common(o Lineage) Lineage {
	keep := func(a, b string) string {
		if a == b {
			return a
		}
		return ""
	}
	return Lineage{
		Bucket:     keep(l.Bucket, o.Bucket),
		Key:        keep(l.Key, o.Key),
		ETag:       keep(l.ETag, o.ETag),
		Dataset:    keep(l.Dataset, o.Dataset),
		App:        keep(l.App, o.App),
		AppVersion: keep(l.AppVersion, o.AppVersion),
	}
}

func minFloat(a, b *float64) *float64 {
	if b != nil && (a == nil || *b < *a) {
		v := *b
		return &v
	}
	return a
}

func maxFloat(a, b *float64) *float64 {
	if b != nil && (a == nil || *b > *a) {
		v := *b
		return &v
	}
	return a
}

func minTime(a, b *time.Time) *time.Time {
	if b != nil && (a == nil || b.Before(*a)) {
		v := *b
		return &v
	}
	return a
}

func maxTime(a, b *time.Time) *time.Time {
	if b != nil && (a == nil || b.After(*a)) {
		v := *b
		return &v
	}
	return a
}

// SketchPrecision is the number of hash bits that pick a HyperLogLog
// register: 2^12 registers of one byte, 4 KiB per sketch, a standard
// error of 1.04/√4096 ≈ 1.6%.
const SketchPrecision = 12

const (
	sketchRegisters = 1 << SketchPrecision
	// sketchQ is how many hash bits are left to count leading zeros in;
	// a register holds 1..sketchQ+1 once set.
	sketchQ = 64 - SketchPrecision
)

// Sketch is a HyperLogLog sketch of a set of values: 2^SketchPrecision
// registers of one byte, each the largest rank seen among the values whose
// hash picked it. Sketches of disjoint or overlapping sets merge into the
// sketch of their union, which is why Quality keeps them. The layout (and
// SketchHash) is part of the contract: sketches made by different
// versions or processes merge only because both are declared here. It is
// written here rather than taken from a library because this package
// imports only the standard library.
type Sketch []byte

// NewSketch returns an empty sketch.
func NewSketch() Sketch { return make(Sketch, sketchRegisters) }

// SketchHash hashes a value's bytes for a sketch: 64-bit FNV-1a, whose
// high bits vary too little between short similar keys on their own,
// followed by MurmurHash3's 64-bit finalizer to spread them.
func SketchHash(b []byte) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for _, c := range b {
		h ^= uint64(c)
		h *= prime
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Add records the value whose bytes are b. s must come from NewSketch.
func (s Sketch) Add(b []byte) { s.AddHash(SketchHash(b)) }

// AddHash records a value by its SketchHash.
func (s Sketch) AddHash(h uint64) {
	if len(s) != sketchRegisters {
		return
	}
	idx := h >> sketchQ
	// The guard bit bounds the rank at sketchQ+1 when the rest is zero.
	rank := uint8(bits.LeadingZeros64(h<<SketchPrecision|1<<(SketchPrecision-1))) + 1
	if rank > s[idx] {
		s[idx] = rank
	}
}

// valid reports whether s has the layout of NewSketch's.
func (s Sketch) valid() bool {
	if len(s) != sketchRegisters {
		return false
	}
	for _, r := range s {
		if r > sketchQ+1 {
			return false
		}
	}
	return true
}

// Merge makes s the sketch of the union of its set and o's, and reports
// whether it could: both must have NewSketch's layout.
func (s Sketch) Merge(o Sketch) bool {
	if !s.valid() || !o.valid() {
		return false
	}
	for i, r := range o {
		if r > s[i] {
			s[i] = r
		}
	}
	return true
}

// Estimate is the approximate number of distinct values added, by Ertl's
// improved raw estimator ("New cardinality estimation algorithms for
// HyperLogLog sketches", 2017), which is unbiased from zero up without
// the empirical bias tables of HyperLogLog++. 0 for an invalid sketch.
func (s Sketch) Estimate() int64 {
	if !s.valid() {
		return 0
	}
	var hist [sketchQ + 2]int
	for _, r := range s {
		hist[r]++
	}
	m := float64(len(s))
	z := m * hllTau((m-float64(hist[sketchQ+1]))/m)
	for k := sketchQ; k >= 1; k-- {
		z += float64(hist[k])
		z *= 0.5
	}
	z += m * hllSigma(float64(hist[0])/m)
	alphaInf := 1 / (2 * math.Ln2)
	return int64(math.Round(alphaInf * m * m / z))
}

func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		prev := z
		z += x * y
		y += y
		if z == prev {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		z -= (1 - x) * (1 - x) * y
		if z == prev {
			return z / 3
		}
	}
}
