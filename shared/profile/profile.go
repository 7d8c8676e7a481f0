package profile

import (
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/quality"
)

// Profile is one tenant's profile. Build it with Load or Parse, which apply
// the defaults and validate; a Profile built in code should be checked with
// Validate before use.
type Profile struct {
	// Tenant is the tenant id: a DNS label (lower-case letters, digits and
	// inner hyphens, 3 to 40 characters) because it names the tenant's
	// bucket, NATS subjects and functions.
	Tenant    string    `yaml:"tenant"`
	Batch     Batch     `yaml:"batch"`
	Stream    Stream    `yaml:"stream"`
	Storage   Storage   `yaml:"storage"`
	Scaling   Scaling   `yaml:"scaling"`
	Sink      Sink      `yaml:"sink"`
	Wrangling Wrangling `yaml:"wrangling"`
	Apps      Apps      `yaml:"apps"`
	// Quality lists the data-quality rules of a profile without datasets
	// (each dataset has its own).
	Quality []quality.Rule `yaml:"quality"`
	// QualityChecker is the tenant's own checker of a profile without
	// datasets.
	QualityChecker QualityChecker `yaml:"quality_checker"`
	// Datasets lists the tenant's kinds of data, each with its own
	// folder, subject, sink, wrangling and apps. Without it the profile's
	// sink, wrangling and apps are its one dataset (see AllDatasets).
	Datasets []Dataset `yaml:"datasets"`

	// source and lines let Validate point at the file and line of a field
	// when the profile was parsed from YAML.
	source string
	lines  map[string]int
}

// Batch holds the limits and options of batch (file) ingestion.
type Batch struct {
	// MaxFileSize bounds a file as stored and, when it is gzip, as
	// decompressed: what is read, not only what is uploaded.
	MaxFileSize Size `yaml:"max_file_size"`
	// MaxGzipRatio bounds how many times its compressed size a gzip file
	// may grow as it is read, so that a small bomb is refused after its
	// first megabyte rather than at max_file_size.
	MaxGzipRatio int `yaml:"max_gzip_ratio"`
	// MaxRecordSize bounds one CSV record, NDJSON line or JSON array
	// element, which is held whole in memory while it is parsed.
	MaxRecordSize     Size     `yaml:"max_record_size"`
	MaxFilesPerWindow int      `yaml:"max_files_per_window"`
	Window            Duration `yaml:"window"`
	Formats           []Format `yaml:"formats"`
	// Gzip allows gzip-compressed files of any accepted format.
	Gzip bool `yaml:"gzip"`
	CSV  CSV  `yaml:"csv"`
}

// CSV holds how the tenant's CSV files are written.
type CSV struct {
	// Delimiter is one ASCII character other than a quote or line break.
	Delimiter string `yaml:"delimiter"`
	// Header says whether the first row names the columns. Without a
	// header, columns are taken in sink.schema order.
	Header bool `yaml:"header"`
}

// Stream holds the limits of stream (NATS) ingestion.
type Stream struct {
	MaxMessagesPerWindow int64     `yaml:"max_messages_per_window"`
	MaxBytesPerWindow    Size      `yaml:"max_bytes_per_window"`
	Window               Duration  `yaml:"window"`
	JetStream            JetStream `yaml:"jetstream"`
}

// JetStream holds the limits of the tenant's JetStream stream; zero means
// no limit, as in JetStream itself.
type JetStream struct {
	MaxBytes    Size     `yaml:"max_bytes"`
	MaxMessages int64    `yaml:"max_messages"`
	MaxAge      Duration `yaml:"max_age"`
}

// Apps says, per flow, whether the platform runs its generic ingest app
// for the tenant (configured by this profile) or the tenant deploys its
// own app under the same contract. `mysimbdp tenant apply` deploys only
// the platform's.
type Apps struct {
	Batch  AppSource `yaml:"batch"`
	Stream AppSource `yaml:"stream"`
}

// Storage holds the limit on what the tenant may keep in its database.
type Storage struct {
	MaxBytes Size `yaml:"max_bytes"`
}

// Scaling holds the replica bounds of the tenant's ingest functions.
type Scaling struct {
	Min                     int      `yaml:"min"`
	Max                     int      `yaml:"max"`
	TargetBacklogPerReplica int64    `yaml:"target_backlog_per_replica"`
	IdleBeforeZero          Duration `yaml:"idle_before_zero"`
}

// Sink says where and how the tenant's records are stored.
type Sink struct {
	// Database defaults to the tenant id.
	Database   string `yaml:"database"`
	Collection string `yaml:"collection"`
	// Schema lists the source fields in order, with their types.
	Schema []Field `yaml:"schema"`
	// Key lists the stored names of the business key: rows with the same
	// key are the same document, which makes redelivery harmless. Without a
	// key, writes are idempotent per source line only.
	Key []string `yaml:"key"`
	// UnknownFields says what to do with a column or JSON key that is not
	// in the schema: reject (the file, or the JSON row) or ignore it.
	UnknownFields UnknownFields `yaml:"unknown_fields"`
}

// Field is one field of the sink's schema.
type Field struct {
	Name string    `yaml:"name"`
	Type FieldType `yaml:"type"`
	// Required fields must be present and non-empty; other fields store
	// null when empty.
	Required bool `yaml:"required"`
}

// Wrangling reshapes records into documents. See the package comment for
// which names each part uses and the order they run in.
type Wrangling struct {
	// Rename maps source names to stored names.
	Rename map[string]string `yaml:"rename"`
	// Dates maps a date or datetime field's source name to the layouts its
	// values are written in, tried in order (see ParseLayout).
	Dates map[string][]string `yaml:"dates"`
	// Derive adds fields computed from others, in order.
	Derive []Derive `yaml:"derive"`
	// Drop removes stored fields from the document (after derive, so a
	// field may feed a derived one and then be dropped).
	Drop []string `yaml:"drop"`
}

// Derive is one derived field.
type Derive struct {
	Name string   `yaml:"name"`
	Op   DeriveOp `yaml:"op"`
	// From lists the stored names the op reads: one or more for concat,
	// exactly one for copy, none for constant.
	From []string `yaml:"from"`
	// Sep separates the values joined by concat.
	Sep string `yaml:"sep"`
	// Value is the string a constant field holds.
	Value string `yaml:"value"`
}

// IncomingPrefix is where tenants put files to be ingested in their bucket.
const IncomingPrefix = "incoming/"

// Bucket is the tenant's object-store bucket.
func (p *Profile) Bucket() string { return p.Tenant }

// BatchFunction is the name of the tenant's batch ingest function.
func (p *Profile) BatchFunction() string { return p.Tenant + "-batch-ingest" }

// StreamFunction is the name of the tenant's stream ingest function.
func (p *Profile) StreamFunction() string { return p.Tenant + "-stream-ingest" }

// StreamSubject is the NATS subject filter of everything the tenant
// publishes: ingest.<tenant>.>.
func (p *Profile) StreamSubject() string { return contract.TenantSubjects(p.Tenant) }

// StreamName is the name of the tenant's JetStream stream.
func (p *Profile) StreamName() string { return contract.TenantStream(p.Tenant) }

// Accepts reports whether the tenant may send files in format f.
func (p *Profile) Accepts(f Format) bool {
	for _, a := range p.Batch.Formats {
		if a == f {
			return true
		}
	}
	return false
}

// Source is the file the profile was parsed from, if any.
func (p *Profile) Source() string { return p.source }
