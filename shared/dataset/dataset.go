// Package dataset is a tenant's datasets compiled for ingestion: for each,
// the plan that turns its records into documents (shared/records), the
// collections it writes (its sink, the sink's quarantine, its fan-out
// copies) and which flow's app is the platform's. The batch app
// (shared/ingest) finds a file's dataset by its folder, the stream app
// (shared/streamingest) a record's by its subject; both then write
// through the same Set.
package dataset

import (
	"fmt"
	"runtime/debug"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/quality"
	"github.com/mysimbdp/mysimbdp/shared/records"
)

// Set is one dataset ready to ingest.
type Set struct {
	Spec profile.Dataset
	// Plan reads the dataset's records; it keeps each good record's raw
	// text when a fan-out copy wants it.
	Plan       *records.Plan
	Sink       *mongo.Collection
	Quarantine *mongo.Collection
	Fanout     []Copy
	// ByKey says whether documents are identified by the business key.
	ByKey bool
	// Checker runs the dataset's quality rules; nil without any.
	Checker *quality.Checker
}

// Copy is one fan-out collection of a dataset.
type Copy struct {
	Coll *mongo.Collection
	// Raw copies get the record as it arrived (RawDoc), others the
	// document as the sink stores it.
	Raw bool
}

// Sets are a tenant's datasets, in the profile's order.
type Sets struct {
	prof *profile.Profile
	all  []*Set
	// subjects starts every subject of the tenant's records.
	subjects string
}

// Compile compiles every dataset of the profile against the tenant's
// database db.
func Compile(p *profile.Profile, db *mongo.Database) (*Sets, error) {
	s := &Sets{prof: p, subjects: contract.TenantSubjectPrefixOf(p.Tenant)}
	for _, d := range p.AllDatasets() {
		plan, err := records.Compile(p.ForDataset(d))
		if err != nil {
			return nil, fmt.Errorf("dataset %s: %w", d.Name, err)
		}
		set := &Set{
			Spec:       d,
			Sink:       db.Collection(d.Sink.Collection),
			Quarantine: db.Collection(d.Sink.Collection + profile.QuarantineSuffix),
			ByKey:      len(d.Sink.Key) > 0,
		}
		if set.Checker, err = d.Checker(); err != nil {
			return nil, fmt.Errorf("dataset %s: %w", d.Name, err)
		}
		for _, f := range d.Fanout {
			set.Fanout = append(set.Fanout, Copy{Coll: db.Collection(f.Collection), Raw: f.Form == profile.FormRaw})
		}
		if slices.ContainsFunc(set.Fanout, func(c Copy) bool { return c.Raw }) {
			plan = plan.KeepRaw()
		}
		set.Plan = plan
		s.all = append(s.all, set)
	}
	return s, nil
}

// All lists the datasets.
func (s *Sets) All() []*Set { return s.all }

// OfKey returns the dataset of an object key under incoming/.
func (s *Sets) OfKey(key string) (*Set, bool) {
	if s.all[0].Spec.Implicit() { // the one dataset: every key is its
		return s.all[0], strings.HasPrefix(key, profile.IncomingPrefix)
	}
	d, ok := s.prof.DatasetOfKey(key)
	return s.named(d.Name, ok)
}

// OfSubject returns the dataset of a record's subject. It runs for every
// record: a profile without datasets answers without a lookup.
func (s *Sets) OfSubject(subject string) (*Set, bool) {
	if s.all[0].Spec.Implicit() {
		return s.all[0], strings.HasPrefix(subject, s.subjects)
	}
	d, ok := s.prof.DatasetOfSubject(subject)
	return s.named(d.Name, ok)
}

func (s *Sets) named(name string, ok bool) (*Set, bool) {
	if !ok {
		return nil, false
	}
	for _, set := range s.all {
		if set.Spec.Name == name {
			return set, true
		}
	}
	return nil, false
}

// Describe lists the datasets' folders or subjects for a reason: what
// would have been accepted.
func (s *Sets) Describe(tenant string, subjects bool) string {
	var b []byte
	for i, set := range s.all {
		if i > 0 {
			b = append(b, ", "...)
		}
		where := set.Spec.Prefix()
		if subjects {
			where = set.Spec.Subjects(tenant)[0]
		}
		b = fmt.Appendf(b, "%s (%s)", set.Spec.Name, where)
	}
	return string(b)
}

// RawDoc is what a raw fan-out copy stores of a record: the record's text
// as it arrived, where it came from (the object key or the subject) and
// where in it (line, element or message), under the same _id as the
// sink's document, so that a record delivered again is one copy.
func RawDoc(id, source string, line int, raw []byte) bson.D {
	return bson.D{
		{Key: "_id", Value: id},
		{Key: "source", Value: source},
		{Key: "line", Value: line},
		{Key: "raw", Value: string(raw)},
	}
}

// Rejects returns the reason of the violations that quarantine a row
// (severity reject), joined, and the field of the first; "" when the row
// is to be stored.
func Rejects(vs []quality.Violation) (reason, field string) {
	for _, v := range vs {
		if v.Severity != quality.Reject {
			continue
		}
		if reason == "" {
			field = v.Field
		} else {
			reason += "; "
		}
		reason += v.Reason
	}
	return reason, field
}

// Lineage says where a file's or window's rows came from and which app,
// in which version, stored them; the caller fills the file's bucket, key
// and ETag.
func (s *Set) Lineage(app string) contract.Lineage {
	return contract.Lineage{Dataset: s.Spec.Name, App: app, AppVersion: AppVersion()}
}

// AppVersion is the version of the running program: its module version
// and, when it was built from a repository, the commit.
func AppVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, kv := range bi.Settings {
		if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
			v += "+" + kv.Value[:12]
		}
	}
	return v
}

// Fields is a stored document as quality rules read it (quality.Doc).
type Fields bson.D

// Len is the number of fields.
func (d Fields) Len() int { return len(d) }

// Field is the i-th field's name and value.
func (d Fields) Field(i int) (string, any) { return d[i].Key, d[i].Value }
