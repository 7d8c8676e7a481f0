package streamingest

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/dataset"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/quality"
	"github.com/mysimbdp/mysimbdp/shared/records"
	"github.com/mysimbdp/mysimbdp/shared/replace"
	"github.com/mysimbdp/mysimbdp/shared/trust"
	"github.com/mysimbdp/mysimbdp/shared/trust/mongotrust"
)

// Options tune an Ingester; the zero value is right for production.
type Options struct {
	Log *slog.Logger
	// Now is the clock of the window reports; nil means time.Now.
	Now func() time.Time
}

// Ingester stores one tenant's stream batches. It holds the process's
// MongoDB client and report publisher, made once and shared by every
// batch; it is safe for concurrent use.
type Ingester struct {
	prof *profile.Profile
	log  *slog.Logger

	db *mongo.Client
	// sets are the tenant's datasets: a record's subject picks its own.
	sets *dataset.Sets
	// replacing runs this process's bulk replaces, one at a time.
	replacing replace.Runner
	// subjectPrefix is what every record's subject starts with.
	subjectPrefix string

	reports *reporter
}

// New validates the profile and prepares the clients. Neither MongoDB nor
// NATS is dialled here (both connect on first use), so a dependency that is
// down shows up per batch, as a retryable error, not as a dead replica.
func New(cfg Config, opts Options) (*Ingester, error) {
	prof, err := profile.Parse(cfg.Profile, cfg.ProfileSource)
	if err != nil {
		return nil, fmt.Errorf("load tenant profile: %w", err)
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("tenant", prof.Tenant)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	mopts, err := mongotrust.Options(options.Client().ApplyURI(cfg.MongoURI), cfg.CAFile)
	if err != nil {
		return nil, err
	}
	db, err := mongo.Connect(mopts)
	if err != nil {
		return nil, fmt.Errorf("MongoDB client: %w", err)
	}
	prefix := cfg.ReportSubject
	if prefix == "" {
		prefix = contract.ReportSubjectPrefix
	}
	reports := newReporter(cfg.NATSURL, contract.ReportSubject(prefix, prof.Tenant), prof.Tenant,
		prof.Stream.Window.D(), now, log)
	reports.natsOpts = trust.NATS(cfg.CAFile)
	sets, err := dataset.Compile(prof, db.Database(prof.Sink.Database))
	if err != nil {
		return nil, err
	}
	return &Ingester{
		prof: prof, log: log, db: db, sets: sets,
		subjectPrefix: contract.TenantSubjectPrefixOf(prof.Tenant),
		reports:       reports,
	}, nil
}

// Profile is the tenant's profile.
func (in *Ingester) Profile() *profile.Profile { return in.prof }

// Close publishes the last window's report and disconnects from MongoDB
// and NATS. The Ingester must not be used afterwards.
func (in *Ingester) Close(ctx context.Context) error {
	in.reports.close(ctx)
	if err := in.db.Disconnect(ctx); err != nil {
		return fmt.Errorf("disconnect from MongoDB: %w", err)
	}
	return nil
}

// Handle stores the batch's good records and answers which records failed
// and why: poison records (not JSON, not fitting the schema, another
// tenant's subject) and records the database refused one by one. The error
// is non-nil when the batch as a whole cannot be answered: ErrForbidden,
// ErrBadBatch, or a database failure that leaves it unknown which records
// are stored — then the whole batch should be redelivered, which is
// harmless since every write is idempotent.
func (in *Ingester) Handle(ctx context.Context, b contract.Batch) (contract.Response, error) {
	start := time.Now()
	n := len(b.Records)
	if b.Tenant != in.prof.Tenant {
		return contract.Response{}, fmt.Errorf("%w: batch of tenant %q sent to tenant %s's stream ingest", ErrForbidden, b.Tenant, in.prof.Tenant)
	}
	for i, r := range b.Records {
		if r.ID == "" {
			// Without an id its failure could not be reported.
			return contract.Response{}, fmt.Errorf("%w: record %d of %d has no id", ErrBadBatch, i+1, n)
		}
	}

	resp := contract.Response{BatchItemFailures: []contract.ItemFailure{}}
	failed := map[string]bool{}
	fail := func(r contract.Record, reason string, permanent bool) {
		if failed[r.ID] {
			return // one answer per record: the first reason
		}
		failed[r.ID] = true
		resp.BatchItemFailures = append(resp.BatchItemFailures, contract.ItemFailure{ItemIdentifier: r.ID, Reason: oneLine(reason), Permanent: permanent})
	}
	var bytes int64
	// Each dataset's documents, in the order of the batch, and its
	// quality checks.
	docs := map[*dataset.Set]*pending{}
	checks := map[*dataset.Set]*quality.File{}
	var order []*dataset.Set
	for i, r := range b.Records {
		bytes += int64(len(r.Data))
		if r.Subject != "" && !strings.HasPrefix(r.Subject, in.subjectPrefix) {
			fail(r, fmt.Sprintf("subject %s is not tenant %s's (want %s<dataset>)", r.Subject, in.prof.Tenant, in.subjectPrefix), false)
			continue
		}
		set, ok := in.sets.OfSubject(cmp.Or(r.Subject, in.subjectPrefix))
		switch {
		case !ok:
			fail(r, fmt.Sprintf("no dataset of tenant %s takes subject %s; its datasets and subjects: %s",
				in.prof.Tenant, r.Subject, in.sets.Describe(in.prof.Tenant, true)), true)
			continue
		case set.Spec.Apps.Stream == profile.AppOwn:
			continue // the tenant's own app takes this dataset's records
		}
		rec := set.Plan.Message(i+1, r.Data)
		if rec.Err != nil {
			fail(r, rowReason(rec.Err), false)
			continue
		}
		if set.Checker != nil {
			qf := checks[set]
			if qf == nil {
				qf = set.Checker.NewFile()
				checks[set] = qf
			}
			// A record a quality rule rejects would be rejected again:
			// it goes to the dead letters, the stream's quarantine, now.
			if reason, _ := dataset.Rejects(qf.Check(i+1, dataset.Fields(rec.Doc))); reason != "" {
				fail(r, reason, true)
				continue
			}
		}
		id := in.docID(set, r, rec)
		doc := make(bson.D, 0, len(rec.Doc)+1)
		doc = append(append(doc, bson.E{Key: "_id", Value: id}), rec.Doc...)
		// Encoded here, with its _id first: the driver then finds the id
		// without decoding the document again (a fifth of this function's
		// CPU when it was given bson.D).
		raw, err := bson.Marshal(doc)
		if err != nil {
			fail(r, "encode as BSON: "+err.Error(), false)
			continue
		}
		p := docs[set]
		if p == nil {
			p = &pending{}
			docs[set] = p
			order = append(order, set)
		}
		p.typed = append(p.typed, bson.Raw(raw))
		if rec.Raw != nil {
			p.raw = append(p.raw, dataset.RawDoc(id, r.Subject, 0, rec.Raw))
		}
		p.owner = append(p.owner, i)
	}

	for _, set := range order {
		p := docs[set]
		for k := range len(set.Fanout) + 1 {
			coll, batch, byKey := set.Sink, p.typed, set.ByKey
			if k > 0 {
				coll = set.Fanout[k-1].Coll
				if set.Fanout[k-1].Raw {
					batch = p.raw
				}
			}
			refused, err := in.write(ctx, coll, batch, byKey)
			if err != nil {
				in.reports.add(int64(n), bytes, int64(n), time.Since(start), nil)
				in.log.ErrorContext(ctx, "stream batch not stored; it should be redelivered", "records", n, "collection", coll.Name(), "err", err)
				return contract.Response{}, fmt.Errorf("ingest batch of %d: %w", n, err)
			}
			// A record refused by one collection is retried whole; the
			// collections that took it find it stored and leave it alone.
			for _, f := range refused {
				fail(b.Records[p.owner[f.index]], f.reason, false)
			}
		}
	}
	var qual map[string]contract.Quality
	for set, qf := range checks {
		if qual == nil {
			qual = map[string]contract.Quality{}
		}
		q := qf.Result(time.Now()).Quality
		q.Lineage = set.Lineage(QualityApp)
		qual[set.Spec.Name] = q
	}
	d := time.Since(start)
	in.reports.add(int64(n), bytes, int64(len(resp.BatchItemFailures)), d, qual)
	in.log.DebugContext(ctx, "stream batch ingested", "records", n, "failed", len(resp.BatchItemFailures),
		"bytes", bytes, "duration_ms", d.Milliseconds())
	return resp, nil
}

// QualityApp names the platform's stream app in quality lineage.
const QualityApp = "mysimbdp/stream-ingest"

// pending holds one dataset's good documents of a batch: typed for its
// sink and typed copies, raw for raw copies, and the record each is from.
type pending struct {
	typed, raw []any
	owner      []int // typed[i] and raw[i] are made from Records[owner[i]]
}

// docID is a good record's _id. With a business key it is records.KeyID of
// the key's values, as batch ingestion computes it: the same row from a
// file or a message is one document, and a corrected row replaces it.
// Without a key it is derived from the record id, which is stable across
// redeliveries; hashing keeps it short whatever the publisher's
// Nats-Msg-Id.
func (in *Ingester) docID(set *dataset.Set, r contract.Record, rec records.Record) string {
	if set.ByKey {
		return records.KeyID(in.prof.Tenant, rec.Key...)
	}
	return records.DocID(in.prof.Tenant, "stream:"+r.ID, "", 0)
}

// rowReason is a rejected record's reason without the "message N" that
// RowError.Error() starts with: N is the position in one delivery, which
// means nothing once the record is retried or dead-lettered.
func rowReason(e *records.RowError) string {
	if e.Field != "" {
		return "field " + e.Field + ": " + e.Reason
	}
	return e.Reason
}

// oneLine keeps a reason to one line, for logs and dead-letter headers.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}
