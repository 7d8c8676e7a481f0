package profile

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Validate checks the profile and returns every problem found, joined.
func (p *Profile) Validate() error { return errors.Join(p.validate(nil)...) }

// validator collects problems, pointing each at the line its path was read
// from when the profile came from YAML.
type validator struct {
	p    *Profile
	skip []string // paths that failed to decode: their problems are known
	errs []error
}

func (v *validator) errf(path, format string, args ...any) {
	for _, s := range v.skip {
		if path == s || strings.HasPrefix(path, s+".") || strings.HasPrefix(path, s+"[") {
			return
		}
	}
	line := v.p.lines[path]
	for parent := path; line == 0 && parent != ""; {
		// A default has no line of its own; point at the nearest parent
		// the file does have, if any.
		i := strings.LastIndexAny(parent, ".[")
		if i < 0 {
			break
		}
		parent = parent[:i]
		line = v.p.lines[parent]
	}
	v.errs = append(v.errs, &Problem{Source: v.p.source, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p *Profile) validate(skip []string) []error {
	v := &validator{p: p, skip: skip}
	v.tenant()
	v.batch()
	v.stream()
	if p.Storage.MaxBytes <= 0 {
		v.errf("storage.max_bytes", "must be more than 0 bytes")
	}
	v.scaling()
	if msg := checkDatabase(p.Sink.Database); msg != "" {
		v.errf("sink.database", "%s", msg)
	}
	if len(p.Datasets) == 0 {
		n := len(v.errs)
		v.sink("", p.Sink, p.Wrangling)
		v.quality("", p.AllDatasets()[0], len(v.errs) == n)
		v.checker("", p.AllDatasets()[0])
	} else {
		v.datasets()
	}
	return v.errs
}

func (v *validator) tenant() {
	t := v.p.Tenant
	switch {
	case t == "":
		v.errf("tenant", "missing: every profile names its tenant")
	case CheckTenantID(t) != nil:
		v.errf("tenant", "%q is not a tenant id (want 3-40 lower-case letters, digits and inner hyphens, starting with a letter, e.g. tenant1)", t)
	}
}

// CheckTenantID says whether t is a tenant id a profile may name, for
// commands that take a tenant id without a profile (`tenant remove`).
func CheckTenantID(t string) error {
	if !isDNSLabel(t) || len(t) < 3 || len(t) > 40 {
		return fmt.Errorf("%q is not a tenant id (want 3-40 lower-case letters, digits and inner hyphens, starting with a letter, e.g. tenant1)", t)
	}
	return nil
}

func isDNSLabel(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' || c == '-':
			if i == 0 || (c == '-' && i == len(s)-1) {
				return false
			}
		default:
			return false
		}
	}
	return s != ""
}

func (v *validator) batch() {
	b := v.p.Batch
	if b.MaxFileSize <= 0 {
		v.errf("batch.max_file_size", "must be more than 0 bytes")
	}
	if b.MaxGzipRatio < 1 {
		v.errf("batch.max_gzip_ratio", "%d: must be at least 1", b.MaxGzipRatio)
	}
	if b.MaxRecordSize < 1024 || b.MaxRecordSize > 64<<20 {
		v.errf("batch.max_record_size", "%s: must be from 1KiB to 64MiB", b.MaxRecordSize)
	}
	if b.MaxFilesPerWindow < 1 {
		v.errf("batch.max_files_per_window", "%d: must be at least 1", b.MaxFilesPerWindow)
	}
	if b.Window <= 0 {
		v.errf("batch.window", "must be longer than 0s")
	}
	if len(b.Formats) == 0 {
		v.errf("batch.formats", "must list at least one of csv, json, ndjson")
	}
	seen := map[Format]bool{}
	for i, f := range b.Formats {
		path := fmt.Sprintf("batch.formats[%d]", i)
		if err := new(Format).UnmarshalText([]byte(f)); err != nil {
			v.errf(path, "%v", err)
		} else if seen[f] {
			v.errf(path, "%q is listed twice", f)
		}
		seen[f] = true
	}
	d := b.CSV.Delimiter
	if len(d) != 1 || d[0] == '"' || d[0] == '\r' || d[0] == '\n' || d[0] > '~' || (d[0] < ' ' && d[0] != '\t') {
		v.errf("batch.csv.delimiter", "%q is not a delimiter (want one ASCII character other than a quote or line break, e.g. \",\", \";\", \"\\t\")", d)
	}
}

func (v *validator) stream() {
	s := v.p.Stream
	if s.MaxMessagesPerWindow < 1 {
		v.errf("stream.max_messages_per_window", "%d: must be at least 1", s.MaxMessagesPerWindow)
	}
	if s.MaxBytesPerWindow <= 0 {
		v.errf("stream.max_bytes_per_window", "must be more than 0 bytes")
	}
	if s.Window <= 0 {
		v.errf("stream.window", "must be longer than 0s")
	}
	js := s.JetStream
	if js.MaxBytes < 0 {
		v.errf("stream.jetstream.max_bytes", "must not be negative (0 means no limit)")
	} else if js.MaxBytes > 0 && js.MaxBytes < s.MaxBytesPerWindow {
		v.errf("stream.jetstream.max_bytes", "%s is less than stream.max_bytes_per_window (%s): the stream could not hold one window", js.MaxBytes, s.MaxBytesPerWindow)
	}
	if js.MaxMessages < 0 {
		v.errf("stream.jetstream.max_messages", "%d: must not be negative (0 means no limit)", js.MaxMessages)
	} else if js.MaxMessages > 0 && js.MaxMessages < s.MaxMessagesPerWindow {
		v.errf("stream.jetstream.max_messages", "%d is less than stream.max_messages_per_window (%d): the stream could not hold one window", js.MaxMessages, s.MaxMessagesPerWindow)
	}
	if js.MaxAge < 0 {
		v.errf("stream.jetstream.max_age", "must not be negative (0 means no limit)")
	}
}

func (v *validator) scaling() {
	s := v.p.Scaling
	if s.Min < 0 {
		v.errf("scaling.min", "%d: must not be negative", s.Min)
	}
	if s.Max < 1 {
		v.errf("scaling.max", "%d: must be at least 1", s.Max)
	}
	if s.Min > s.Max && s.Max >= 1 {
		v.errf("scaling.min", "%d is greater than scaling.max (%d)", s.Min, s.Max)
	}
	if s.TargetBacklogPerReplica < 1 {
		v.errf("scaling.target_backlog_per_replica", "%d: must be at least 1", s.TargetBacklogPerReplica)
	}
	if s.IdleBeforeZero <= 0 {
		v.errf("scaling.idle_before_zero", "must be longer than 0s")
	}
}

// ReservedCollectionPrefix starts the names of the collections the
// platform keeps in a tenant's database (shared/ingest's ingestion records
// and slots); no sink may take one.
const ReservedCollectionPrefix = "mysimbdp_"

// sink checks a dataset's sink and wrangling; at is the dataset's path
// ("" for a profile without datasets, "datasets[0]." for the first).
func (v *validator) sink(at string, s Sink, w Wrangling) {
	v.collection(at+"sink.collection", s.Collection)
	if err := new(UnknownFields).UnmarshalText([]byte(s.UnknownFields)); err != nil {
		v.errf(at+"sink.unknown_fields", "%v", err)
	}
	if len(s.Schema) == 0 {
		v.errf(at+"sink.schema", "missing: list the fields of a record, in order, with their types")
	}
	bySource := map[string]Field{}
	for i, f := range s.Schema {
		path := fmt.Sprintf("%ssink.schema[%d]", at, i)
		switch {
		case f.Name == "":
			v.errf(path+".name", "missing")
		case !utf8.ValidString(f.Name):
			v.errf(path+".name", "%q is not valid UTF-8", f.Name)
		default:
			if _, dup := bySource[f.Name]; dup {
				v.errf(path+".name", "%q is listed twice", f.Name)
			} else {
				bySource[f.Name] = f
			}
		}
		if err := new(FieldType).UnmarshalText([]byte(f.Type)); err != nil {
			if f.Type == "" {
				v.errf(path+".type", "missing (want string, int, float, bool, date, date_string or datetime)")
			} else {
				v.errf(path+".type", "%v", err)
			}
		}
	}
	v.wrangling(at, s, w, bySource)
}

// collection checks the name of a collection a dataset writes to.
func (v *validator) collection(path, c string) {
	switch {
	case c == "":
		v.errf(path, "missing: name the collection records are written to")
	case strings.HasPrefix(c, "system.") || strings.ContainsAny(c, "$\x00") || !utf8.ValidString(c) || len(c) > 120:
		v.errf(path, "%q is not a collection name (no $, no NUL, not system.*, at most 120 bytes)", c)
	case strings.HasPrefix(c, ReservedCollectionPrefix):
		v.errf(path, "%q: names starting with %s are the platform's (its ingestion records are kept beside the tenant's data)", c, ReservedCollectionPrefix)
	}
}

// checkDatabase applies MongoDB's rules for database names.
func checkDatabase(name string) string {
	switch {
	case name == "":
		return "missing (it defaults to the tenant id)"
	case len(name) > 63 || strings.ContainsAny(name, "/\\. \"$*<>:|?\x00"):
		return fmt.Sprintf("%q is not a database name (at most 63 bytes, none of /\\. \"$*<>:|?)", name)
	}
	return ""
}

// checkStored applies the rules for a stored field name: MongoDB treats
// dots and a leading $ specially, and _id is the platform's.
func checkStored(name string) string {
	switch {
	case name == "":
		return "is empty"
	case name == "_id":
		return `"_id" is reserved: the platform sets each document's id`
	case strings.HasPrefix(name, "$") || strings.ContainsAny(name, ".\x00") || !utf8.ValidString(name):
		return fmt.Sprintf("%q cannot be a stored field name (no dots, no leading $)", name)
	}
	return ""
}

func (v *validator) wrangling(at string, sink Sink, w Wrangling, bySource map[string]Field) {
	// stored maps each stored name to the path that defines it; renamedTo
	// helps point people who use a source name where a stored one belongs.
	stored := map[string]string{}
	fromSchema := map[string]Field{} // stored name → schema field
	renamedTo := map[string]string{}
	for _, src := range sortedKeys(w.Rename) {
		to := w.Rename[src]
		path := at + "wrangling.rename." + src
		if _, ok := bySource[src]; !ok {
			v.errf(path, "%q is not a field of sink.schema", src)
			continue
		}
		if msg := checkStored(to); msg != "" {
			v.errf(path, "%s", msg)
		}
		renamedTo[src] = to
	}
	for i, f := range sink.Schema {
		if f.Name == "" || bySource[f.Name] != f {
			continue // missing or repeated: reported already
		}
		name, path := f.Name, fmt.Sprintf("%ssink.schema[%d].name", at, i)
		if to, ok := renamedTo[f.Name]; ok {
			name, path = to, at+"wrangling.rename."+f.Name
		} else if msg := checkStored(name); msg != "" {
			v.errf(path, "%s (rename it in wrangling.rename)", msg)
		}
		if prev, clash := stored[name]; clash {
			v.errf(path, "stored name %q clashes with %s", name, prev)
			continue
		}
		stored[name] = path
		fromSchema[name] = f
	}
	for _, src := range sortedKeys(w.Dates) {
		path := at + "wrangling.dates." + src
		f, ok := bySource[src]
		if !ok {
			v.errf(path, "%q is not a field of sink.schema", src)
			continue
		}
		if !f.Type.IsTime() && new(FieldType).UnmarshalText([]byte(f.Type)) == nil {
			v.errf(path, "%q is a %s field; date layouts apply to date and datetime fields", src, f.Type)
		}
		if len(w.Dates[src]) == 0 {
			v.errf(path, "lists no layouts")
		}
		for i, l := range w.Dates[src] {
			if _, err := ParseLayout(l); err != nil {
				v.errf(fmt.Sprintf("%s[%d]", path, i), "%v", err)
			}
		}
	}
	// unknown explains why a name used in derive, drop or key is not a
	// stored name.
	unknown := func(name string) string {
		if to, ok := renamedTo[name]; ok {
			return fmt.Sprintf("%q is renamed to %q; use stored names here", name, to)
		}
		for j, d := range w.Derive {
			if d.Name == name {
				return fmt.Sprintf("%q is derived later (%swrangling.derive[%d]); derive runs in order", name, at, j)
			}
		}
		return fmt.Sprintf("%q is not a stored field (stored: %s)", name, strings.Join(sortedKeys(stored), ", "))
	}
	for i, d := range w.Derive {
		path := fmt.Sprintf("%swrangling.derive[%d]", at, i)
		for j, from := range d.From {
			if _, ok := stored[from]; !ok {
				v.errf(fmt.Sprintf("%s.from[%d]", path, j), "%s", unknown(from))
			}
		}
		switch d.Op {
		case OpConcat:
			if len(d.From) == 0 {
				v.errf(path+".from", "concat needs at least one field")
			}
		case OpCopy:
			if len(d.From) != 1 {
				v.errf(path+".from", "copy needs exactly one field, has %d", len(d.From))
			}
		case OpConstant:
			if len(d.From) != 0 {
				v.errf(path+".from", "constant reads no fields; set value instead")
			}
		case "":
			v.errf(path+".op", "missing (want concat, copy or constant)")
		default:
			v.errf(path+".op", "%v", new(DeriveOp).UnmarshalText([]byte(d.Op)))
		}
		if d.Sep != "" && d.Op != OpConcat {
			v.errf(path+".sep", "only concat uses sep")
		}
		if d.Value != "" && d.Op != OpConstant {
			v.errf(path+".value", "only constant uses value")
		}
		if msg := checkStored(d.Name); msg != "" {
			v.errf(path+".name", "%s", msg)
		} else if prev, clash := stored[d.Name]; clash {
			v.errf(path+".name", "%q clashes with %s", d.Name, prev)
		} else {
			stored[d.Name] = path
		}
	}
	dropped := map[string]bool{}
	for i, name := range w.Drop {
		path := fmt.Sprintf("%swrangling.drop[%d]", at, i)
		if _, ok := stored[name]; !ok {
			v.errf(path, "%s", unknown(name))
		} else if dropped[name] {
			v.errf(path, "%q is listed twice", name)
		}
		dropped[name] = true
	}
	if len(stored) > 0 && len(dropped) >= len(stored) {
		v.errf(at+"wrangling.drop", "drops every field")
	}
	inKey := map[string]bool{}
	for i, name := range sink.Key {
		path := fmt.Sprintf("%ssink.key[%d]", at, i)
		_, ok := stored[name]
		switch {
		case !ok:
			v.errf(path, "%s", unknown(name))
		case inKey[name]:
			v.errf(path, "%q is listed twice", name)
		case dropped[name]:
			v.errf(path, "%q is dropped by wrangling.drop; a key field must be stored", name)
		default:
			// A key field read from the source must be required: a row
			// without it could not be written idempotently.
			if f, ok := fromSchema[name]; ok && !f.Required {
				v.errf(path, "%q is a key field, so %ssink.schema must mark %q required", name, at, f.Name)
			}
		}
		inKey[name] = true
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// datasets checks a profile that declares its datasets. The profile's
// own sink then only names the tenant's database: each dataset has the
// rest.
func (v *validator) datasets() {
	p := v.p
	if p.Sink.Collection != "" || len(p.Sink.Schema) > 0 || len(p.Sink.Key) > 0 {
		v.errf("sink", "with datasets, the profile's sink only names the database (sink.database); each dataset has its own sink")
	}
	if len(p.Quality) > 0 || p.QualityChecker.Function != "" {
		v.errf("quality", "with datasets, each dataset has its own quality rules and checker")
	}
	if len(p.Wrangling.Rename)+len(p.Wrangling.Dates)+len(p.Wrangling.Derive)+len(p.Wrangling.Drop) > 0 {
		v.errf("wrangling", "with datasets, each dataset has its own wrangling")
	}
	if _, ok := v.p.lines["apps"]; ok {
		v.errf("apps", "with datasets, each dataset says its own apps")
	}
	names := map[string]string{}
	// Every collection a dataset writes, with the path that claims it:
	// two datasets writing one collection would quarantine into each
	// other's _rejected and overwrite each other's rows.
	colls := map[string]string{}
	claim := func(path, c string) {
		if c == "" {
			return
		}
		if prev, dup := colls[c]; dup {
			v.errf(path, "collection %q is written by %s too", c, prev)
			return
		}
		colls[c] = path
	}
	for i, d := range p.Datasets {
		at := fmt.Sprintf("datasets[%d].", i)
		switch {
		case d.Name == "":
			v.errf(at+"name", "missing: a dataset's name is its folder (incoming/<name>/) and subject (ingest.%s.<name>)", p.Tenant)
		case d.Name == DefaultDataset:
			v.errf(at+"name", "%q names a profile's dataset when it declares none; choose another", d.Name)
		case !isDatasetName(d.Name):
			v.errf(at+"name", "%q is not a dataset name (want 1-40 lower-case letters, digits, _ or -, starting with a letter or digit)", d.Name)
		default:
			if prev, dup := names[d.Name]; dup {
				v.errf(at+"name", "%q is the name of %s too", d.Name, prev)
			}
			names[d.Name] = at + "name"
		}
		if d.Sink.Database != "" && d.Sink.Database != p.Sink.Database {
			v.errf(at+"sink.database", "%q: a dataset writes to the tenant's database (%s); a tenant's functions may write nowhere else", d.Sink.Database, p.Sink.Database)
		}
		n := len(v.errs)
		v.sink(at, d.Sink, d.Wrangling)
		v.quality(at, d, len(v.errs) == n)
		v.checker(at, d)
		claim(at+"sink.collection", d.Sink.Collection)
		if d.Sink.Collection != "" {
			claim(at+"sink.collection", d.Sink.Collection+QuarantineSuffix)
		}
		for j, f := range d.Fanout {
			path := fmt.Sprintf("%sfanout[%d]", at, j)
			v.collection(path+".collection", f.Collection)
			claim(path+".collection", f.Collection)
			if err := new(FanoutForm).UnmarshalText([]byte(f.Form)); err != nil {
				v.errf(path+".form", "%v", err)
			}
		}
		for _, a := range []struct {
			path string
			src  AppSource
		}{{at + "apps.batch", d.Apps.Batch}, {at + "apps.stream", d.Apps.Stream}} {
			if err := new(AppSource).UnmarshalText([]byte(a.src)); err != nil {
				v.errf(a.path, "%v", err)
			}
		}
	}
}

// QuarantineSuffix names the collection beside a sink that keeps its
// rejected rows: <collection>_rejected.
const QuarantineSuffix = "_rejected"

func isDatasetName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// quality checks a dataset's quality rules against its stored fields.
// Only once the sink and wrangling hold: rules on a broken schema would
// repeat its problems.
func (v *validator) quality(at string, d Dataset, schemaOK bool) {
	if len(d.Quality) == 0 || !schemaOK {
		return
	}
	if _, err := d.Checker(); err != nil {
		for _, e := range unjoin(err) {
			v.errf(at+"quality", "%s", strings.TrimPrefix(e.Error(), "quality: "))
		}
	}
}

// unjoin splits an errors.Join into its errors.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// checker checks a dataset's own quality checker, if it names one.
func (v *validator) checker(at string, d Dataset) {
	c := d.QualityChecker
	if c.Function == "" {
		if c.Sample != 0 {
			v.errf(at+"quality_checker.function", "missing: name the tenant's checker function")
		}
		return
	}
	if err := contract.CheckerName(v.p.Tenant, c.Function); err != nil {
		v.errf(at+"quality_checker.function", "%v", err)
	}
	if d.Apps.Batch == AppOwn {
		v.errf(at+"quality_checker", "the platform's batch app calls the checker; this dataset's files go to the tenant's own app")
	}
}
