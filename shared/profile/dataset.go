package profile

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/quality"
)

// Dataset is one kind of a tenant's data: where its files and records
// arrive (incoming/<name>/ in the bucket, subject ingest.<tenant>.<name>),
// how they become documents (sink, wrangling), which other collections
// get a copy (fanout) and who ingests them (apps).
//
// A profile without datasets has one, the default dataset, made of the
// profile's own sink, wrangling and apps: it takes every file under
// incoming/ and every subject under ingest.<tenant>., as before datasets
// existed.
type Dataset struct {
	// Name is the dataset's id: 1-40 lower-case letters, digits, _ or -,
	// because it is a folder name and a NATS subject token.
	Name string `yaml:"name"`
	// Sink is where the dataset's rows go. Its database is the tenant's
	// (the profile's sink.database): a tenant's functions may write only
	// there.
	Sink      Sink      `yaml:"sink"`
	Wrangling Wrangling `yaml:"wrangling"`
	// Fanout lists more collections that get every good row of the
	// dataset, besides sink.collection.
	Fanout []Fanout `yaml:"fanout"`
	// Quality lists the dataset's data-quality rules (shared/quality),
	// on stored field names.
	Quality []quality.Rule `yaml:"quality"`
	// QualityChecker names a function of the tenant's own that checks
	// the dataset's files too (shared/checker): the platform's batch app
	// sends it a sample or the whole file before storing a row and treats
	// its answer like its own rules.
	QualityChecker QualityChecker `yaml:"quality_checker"`
	Apps           Apps           `yaml:"apps"`

	// implicit marks the default dataset of a profile that declares none.
	implicit bool
}

// Fanout is one more collection a dataset's rows are written to.
type Fanout struct {
	Collection string `yaml:"collection"`
	// Form says what is written: typed (the document as stored in the
	// main sink) or raw (the record as it arrived: its source names and,
	// for CSV, text values), e.g. for an archive.
	Form FanoutForm `yaml:"form"`
}

// DefaultDataset names the dataset of a profile that declares none.
const DefaultDataset = "default"

// AllDatasets is the profile's datasets: those it declares or, when it
// declares none, its default dataset.
func (p *Profile) AllDatasets() []Dataset {
	if len(p.Datasets) > 0 {
		return p.Datasets
	}
	return []Dataset{{Name: DefaultDataset, Sink: p.Sink, Wrangling: p.Wrangling, Quality: p.Quality, QualityChecker: p.QualityChecker, Apps: p.Apps, implicit: true}}
}

// Dataset returns the dataset named name.
func (p *Profile) Dataset(name string) (Dataset, bool) {
	for _, d := range p.AllDatasets() {
		if d.Name == name {
			return d, true
		}
	}
	return Dataset{}, false
}

// DatasetOfKey returns the dataset an object key under incoming/ belongs
// to: the one whose folder holds it (incoming/<dataset>/…), or the default
// dataset, which holds every key.
func (p *Profile) DatasetOfKey(key string) (Dataset, bool) {
	for _, d := range p.AllDatasets() {
		if strings.HasPrefix(key, d.Prefix()) {
			return d, true
		}
	}
	return Dataset{}, false
}

// DatasetOfSubject returns the dataset a record's subject belongs to:
// ingest.<tenant>.<dataset> (or a subject below it), or the default
// dataset, which holds every subject of the tenant.
func (p *Profile) DatasetOfSubject(subject string) (Dataset, bool) {
	rest, ok := strings.CutPrefix(subject, contract.TenantSubjectPrefixOf(p.Tenant))
	if !ok {
		return Dataset{}, false
	}
	for _, d := range p.AllDatasets() {
		if d.implicit {
			return d, true
		}
		if rest == d.Name || strings.HasPrefix(rest, d.Name+".") {
			return d, true
		}
	}
	return Dataset{}, false
}

// Implicit says whether d is the default dataset of a profile that
// declares none.
func (d Dataset) Implicit() bool { return d.implicit }

// Prefix is the folder of the tenant's bucket the dataset's files are put
// in: incoming/<dataset>/, or incoming/ for the default dataset.
func (d Dataset) Prefix() string {
	if d.implicit {
		return IncomingPrefix
	}
	return IncomingPrefix + d.Name + "/"
}

// Subjects is the NATS subject filter of the dataset's records:
// ingest.<tenant>.<dataset>.> and ingest.<tenant>.<dataset> itself, or
// ingest.<tenant>.> for the default dataset.
func (d Dataset) Subjects(tenant string) []string {
	if d.implicit {
		return []string{contract.TenantSubjects(tenant)}
	}
	s := contract.TenantSubjectPrefixOf(tenant) + d.Name
	return []string{s, s + ".>"}
}

// ForDataset is the profile as the ingest apps of one dataset see it: the
// tenant's limits with the dataset's sink, wrangling and apps. Packages
// that turn records into documents (shared/records) read those fields, so
// each dataset compiles like a one-dataset profile.
func (p *Profile) ForDataset(d Dataset) *Profile {
	q := *p
	q.Sink, q.Wrangling, q.Apps = d.Sink, d.Wrangling, d.Apps
	q.Sink.Database = p.Sink.Database
	q.Datasets = nil
	return &q
}

// StoredTypes gives each field a dataset's documents hold, by stored name,
// its type: schema fields under their new names, derived fields (text,
// or the copied field's type), less the dropped ones. Quality rules name
// these fields.
func (d Dataset) StoredTypes() map[string]FieldType {
	out := map[string]FieldType{}
	for _, f := range d.Sink.Schema {
		name := f.Name
		if to, ok := d.Wrangling.Rename[f.Name]; ok {
			name = to
		}
		out[name] = f.Type
	}
	for _, dv := range d.Wrangling.Derive {
		t := TypeString
		if dv.Op == OpCopy && len(dv.From) == 1 {
			if ft, ok := out[dv.From[0]]; ok {
				t = ft
			}
		}
		out[dv.Name] = t
	}
	for _, n := range d.Wrangling.Drop {
		delete(out, n)
	}
	return out
}

// Checker compiles the dataset's quality rules; nil when it has none.
// Distinct counts are kept for the business key's fields.
func (d Dataset) Checker() (*quality.Checker, error) {
	if len(d.Quality) == 0 {
		return nil, nil
	}
	kinds := map[string]quality.Kind{}
	for name, t := range d.StoredTypes() {
		kinds[name] = kindOf(t)
	}
	return quality.Compile(d.Quality, kinds, quality.KeyFields(d.Sink.Key...))
}

// kindOf is how the quality rules see a field type.
func kindOf(t FieldType) quality.Kind {
	switch t {
	case TypeInt, TypeFloat:
		return quality.KindNumber
	case TypeBool:
		return quality.KindBool
	case TypeDate, TypeDatetime:
		return quality.KindTime
	}
	return quality.KindString
}

// QualityChecker is a tenant's own quality checker for a dataset.
type QualityChecker struct {
	// Function is the checker: a function of the tenant's, named
	// <tenant>-….
	Function string `yaml:"function"`
	// Sample is how many of a file's first rows it is sent; "all" sends
	// every row (in requests of at most contract.CheckMaxRows). Default
	// contract.CheckDefaultSample.
	Sample CheckSample `yaml:"sample"`
}

// CheckSample is how many rows a checker is sent: a positive count, or
// All (the whole file).
type CheckSample int

// AllRows is the CheckSample of "all": the whole file.
const AllRows CheckSample = -1

// UnmarshalText implements encoding.TextUnmarshaler: a count or "all".
func (s *CheckSample) UnmarshalText(b []byte) error {
	if string(b) == "all" {
		*s = AllRows
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 1 || n > contract.CheckMaxRows {
		return fmt.Errorf("%q is not a sample (want 1 to %d rows, or all)", b, contract.CheckMaxRows)
	}
	*s = CheckSample(n)
	return nil
}
