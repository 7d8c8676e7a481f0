package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/checker"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/dataset"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/quality"
	"github.com/mysimbdp/mysimbdp/shared/records"
	"github.com/mysimbdp/mysimbdp/shared/replace"
	"github.com/mysimbdp/mysimbdp/shared/trust"
	"github.com/mysimbdp/mysimbdp/shared/trust/mongotrust"
)

// Errors a transport maps to its answers; everything else a Batch returns
// is worth retrying.
var (
	// ErrForbidden: the event names a bucket that is not the tenant's
	// (HTTP 403). A function never touches another tenant's bucket.
	ErrForbidden = errors.New("forbidden")
	// ErrBadEvent: the event cannot be understood (HTTP 400).
	ErrBadEvent = errors.New("malformed S3 event")
	// ErrUnavailable: a dependency (the store or S3) cannot be reached or
	// cannot take the work now; nothing is wrong with the file (HTTP 503
	// with Retry-After: OutageRetryAfter). It wraps the cause.
	ErrUnavailable = errors.New("a dependency is unavailable")
)

// Prefixes of the object's life in the tenant's bucket.
const (
	IncomingPrefix  = profile.IncomingPrefix
	ProcessedPrefix = "processed/"
	RejectedPrefix  = "rejected/"
	// ReportSuffix is appended to the moved object's key for its report.
	ReportSuffix = ".report.json"
)

// IngestionsCollection holds the ingestion records, in the tenant's own
// database: a tenant's functions need no credentials beyond its database
// (the platform learns of each file from its report).
const IngestionsCollection = profile.ReservedCollectionPrefix + "ingestions"

// SlotsCollection holds the files-per-window slots (see checkWindow), in
// the tenant's own database too.
const SlotsCollection = profile.ReservedCollectionPrefix + "ingestion_slots"

// Options tune a Batch; the zero value is right for production.
type Options struct {
	Log *slog.Logger
	// Policy bounds each bulk write; zero means records.DefaultPolicy.
	Policy records.Policy
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Batch ingests one tenant's files. It holds the connections of the process
// (S3, MongoDB, NATS), made once and shared by every event; it is safe for
// concurrent use.
type Batch struct {
	cfg    Config
	prof   *profile.Profile
	bucket string // the tenant's: Config.Bucket or the profile's
	log    *slog.Logger
	policy records.Policy
	now    func() time.Time

	s3         *minio.Client
	db         *mongo.Client
	ingestions *mongo.Collection
	slots      *mongo.Collection
	// sets are the tenant's datasets: a file's folder picks its own.
	sets *dataset.Sets
	// checkers are the tenant's own quality checkers, by name; a checker
	// this function cannot call has its reason in checkerErrs.
	checkers    map[string]*checker.Client
	checkerErrs map[string]error
	// replacing runs this process's bulk replaces, one at a time.
	replacing replace.Runner
	// discard drops good rows' batches instead of writing them
	// (Config.Sink == SinkDiscard, a benchmarking aid).
	discard bool

	indexOnce sync.Once
	reports   *reporter
}

// New validates the profile and prepares the clients. Neither the S3 nor
// the MongoDB client dials here (both connect on first use), so New is cheap
// and a dependency that is down shows up as a retryable error per event.
func New(cfg Config, opts Options) (*Batch, error) {
	prof, err := profile.Parse(cfg.Profile, cfg.ProfileSource)
	if err != nil {
		return nil, fmt.Errorf("load tenant profile: %w", err)
	}
	b := &Batch{cfg: cfg, prof: prof, bucket: cmp.Or(cfg.Bucket, prof.Bucket()), log: opts.Log, policy: opts.Policy, now: opts.Now}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.log = b.log.With("tenant", prof.Tenant)
	if b.policy == (records.Policy{}) {
		b.policy = records.DefaultPolicy()
	}
	if b.now == nil {
		b.now = time.Now
	}
	tr, err := trust.S3Transport(cfg.S3Secure, cfg.CAFile)
	if err != nil {
		return nil, err
	}
	b.s3, err = minio.New(cfg.S3Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.S3AccessKey, cfg.S3SecretKey, cfg.S3SessionToken),
		Secure:    cfg.S3Secure,
		Region:    cfg.S3Region,
		Transport: tr,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 client for %s: %w", cfg.S3Endpoint, err)
	}
	copts, err := mongotrust.Options(options.Client().ApplyURI(cfg.MongoURI), cfg.CAFile)
	if err != nil {
		return nil, err
	}
	if copts.ServerSelectionTimeout == nil {
		// The driver's 30 s would hold every event of a store outage that
		// long before it can be answered "unavailable, try later".
		copts.SetServerSelectionTimeout(storeSelectTimeout)
	}
	b.db, err = mongo.Connect(copts)
	if err != nil {
		return nil, fmt.Errorf("MongoDB client: %w", err)
	}
	sinkDB := b.db.Database(prof.Sink.Database)
	b.ingestions = sinkDB.Collection(IngestionsCollection)
	b.slots = sinkDB.Collection(SlotsCollection)
	if b.sets, err = dataset.Compile(prof, sinkDB); err != nil {
		return nil, err
	}
	b.checkers, b.checkerErrs = newCheckers(cfg.Env, b.sets)
	switch cfg.Sink {
	case SinkMongo:
	case SinkDiscard:
		b.discard = true
		b.log.Warn(contract.EnvSink + "=discard: good rows are counted but NOT stored (benchmarking aid)")
	default:
		return nil, fmt.Errorf("sink %q: want empty (MongoDB) or %q", cfg.Sink, SinkDiscard)
	}
	b.reports = newReporter(cfg.NATSURL, cfg.ReportSubject, b.log)
	b.reports.natsOpts = trust.NATS(cfg.CAFile)
	return b, nil
}

// Profile is the tenant's profile.
func (b *Batch) Profile() *profile.Profile { return b.prof }

// Bucket is the tenant's bucket, the only one whose events it takes.
func (b *Batch) Bucket() string { return b.bucket }

// Close disconnects from MongoDB and NATS.
func (b *Batch) Close(ctx context.Context) error {
	b.reports.close()
	if err := b.db.Disconnect(ctx); err != nil {
		return fmt.Errorf("disconnect from MongoDB: %w", err)
	}
	return nil
}

// HandleEvent ingests every object the event names. All records must name
// the tenant's bucket, or nothing is done (ErrForbidden). With one record
// the report is that object's; with several, a summary holding each in
// Files. The error is non-nil when something is worth retrying (the whole
// event may then be redelivered: finished objects are not read again) or
// the event is refused (ErrForbidden, ErrBadEvent). A deferred object is not
// an error: see contract.BatchReport.RetryAfter.
func (b *Batch) HandleEvent(ctx context.Context, ev events.S3Event) (contract.BatchReport, error) {
	if len(ev.Records) == 0 {
		return contract.BatchReport{}, fmt.Errorf("%w: no Records", ErrBadEvent)
	}
	for _, rec := range ev.Records {
		if name := rec.S3.Bucket.Name; name != b.bucket {
			b.log.WarnContext(ctx, "refused an event for another bucket", "bucket", name)
			return contract.BatchReport{}, fmt.Errorf("%w: the function of tenant %s may only read its own bucket %q, not %q",
				ErrForbidden, b.prof.Tenant, b.bucket, name)
		}
	}
	reps := make([]contract.BatchReport, 0, len(ev.Records))
	var errs []error
	for _, rec := range ev.Records {
		rep, err := b.handleRecord(ctx, rec)
		reps = append(reps, rep)
		if err != nil && !errors.Is(err, ErrUnavailable) && unavailable(err) { // moving out failed
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return summarize(reps), errors.Join(errs...)
}

// ingestionID names one version of one object: tenant/bucket/key@etag.
func ingestionID(tenant, bucket, key, etag string) string {
	return tenant + "/" + bucket + "/" + key + "@" + etag
}

// record is the stored form of an ingestion.
type record struct {
	ID                   string `bson:"_id"`
	contract.BatchReport `bson:",inline"`
	// Slot says whether the ingestion took one of the tenant's
	// files-per-window slots (it read the file, or is reading it).
	Slot bool `bson:"slot"`
}

func (b *Batch) handleRecord(ctx context.Context, ev events.S3EventRecord) (contract.BatchReport, error) {
	start := b.clock()
	key, err := url.QueryUnescape(ev.S3.Object.Key)
	if err != nil || key == "" {
		return contract.BatchReport{}, fmt.Errorf("%w: object key %q is not URL-encoded text", ErrBadEvent, ev.S3.Object.Key)
	}
	rep := contract.BatchReport{
		Kind: contract.KindBatch, Tenant: b.prof.Tenant, Bucket: ev.S3.Bucket.Name, Key: key,
		ETag: strings.Trim(ev.S3.Object.ETag, `"`), Size: ev.S3.Object.Size,
		StartedAt: start,
	}
	log := b.log.With("key", key, "etag", rep.ETag)
	if !strings.HasPrefix(key, IncomingPrefix) || strings.HasSuffix(key, "/") {
		return b.skip(rep, "only objects under "+IncomingPrefix+" are ingested"), nil
	}

	// Idempotency first: a finished version is never read again.
	if rep.ETag != "" {
		if done, ok, err := b.finished(ctx, rep); err != nil {
			return b.fail(ctx, rep, false, err)
		} else if ok {
			log.InfoContext(ctx, "already ingested; returning the stored report", "status", done.Status)
			return done, b.moveOut(ctx, done)
		}
	}

	info, err := b.s3.StatObject(ctx, rep.Bucket, key, minio.StatObjectOptions{})
	switch {
	case s3Code(err) == "NoSuchKey":
		return b.skip(rep, "the object is no longer in "+IncomingPrefix+" (moved or deleted)"), nil
	case err != nil:
		return b.fail(ctx, rep, false, fmt.Errorf("stat s3://%s/%s: %w", rep.Bucket, key, err))
	}
	etag := strings.Trim(info.ETag, `"`)
	if rep.ETag == "" {
		rep.ETag = etag
		if done, ok, err := b.finished(ctx, rep); err != nil {
			return b.fail(ctx, rep, false, err)
		} else if ok {
			return done, b.moveOut(ctx, done)
		}
	} else if etag != rep.ETag {
		return b.skip(rep, "the object was replaced by a newer upload (etag "+etag+"), which has its own event"), nil
	}
	rep.Size = info.Size

	// The file's folder says its dataset; a folder no dataset has is a
	// mistake the tenant must see, not a file to keep retrying.
	set, ok := b.sets.OfKey(key)
	if !ok {
		rep.Status = contract.StatusRejected
		rep.Error = fmt.Sprintf("no dataset of tenant %s has the folder of %s; its datasets and folders: %s",
			b.prof.Tenant, key, b.sets.Describe(b.prof.Tenant, false))
		return b.conclude(ctx, log, rep, false)
	}
	rep.Dataset = set.Spec.Name
	if set.Spec.Apps.Batch == profile.AppOwn {
		// The connector routes the folder to the tenant's own app once it
		// is deployed; until then, wait for it rather than lose the file.
		err := fmt.Errorf("%w: dataset %s is ingested by the tenant's own app, which takes %s once deployed",
			ErrUnavailable, set.Spec.Name, set.Spec.Prefix())
		rep.Status, rep.Error = contract.StatusDeferred, err.Error()
		setRetryAfter(&rep, OutageRetryAfter)
		end(&rep, b.clock())
		log.InfoContext(ctx, "deferred: the dataset's own app takes this file", "dataset", set.Spec.Name)
		return rep, err
	}

	// Quotas before reading a byte.
	if limit := int64(b.prof.Batch.MaxFileSize); limit > 0 && rep.Size > limit {
		rep.Status, rep.Error = contract.StatusRejected, tooLarge(rep.Size, b.prof.Batch.MaxFileSize)
		return b.conclude(ctx, log, rep, false)
	}
	if deferred, ok, err := b.checkWindow(ctx, rep); err != nil {
		return b.fail(ctx, rep, false, err)
	} else if ok {
		log.InfoContext(ctx, "deferred: files-per-window quota reached", "retry_after", deferred.RetryAfter)
		return deferred, nil
	}

	rep.Status = contract.StatusRunning
	if err := b.store(ctx, rep, true); err != nil {
		return b.fail(ctx, rep, true, err)
	}
	if err := b.read(ctx, set, &rep); err != nil {
		return b.fail(ctx, rep, true, err)
	}
	return b.conclude(ctx, log, rep, true)
}

// conclude stores a done or rejected outcome, then moves the object out of
// incoming/ and publishes the report. The record comes first: if the move
// fails or the process dies, a redelivery finds the record and only
// finishes the move.
func (b *Batch) conclude(ctx context.Context, log *slog.Logger, rep contract.BatchReport, slot bool) (contract.BatchReport, error) {
	end(&rep, b.clock())
	if err := b.store(ctx, rep, slot); err != nil {
		return b.fail(ctx, rep, slot, err)
	}
	log.InfoContext(ctx, "ingested", "status", rep.Status, "rows_ok", rep.RowsOK,
		"rows_rejected", rep.RowsRejected, "rows_unchanged", rep.RowsUnchanged, "rows_replaced", rep.RowsReplaced, "bytes", rep.Bytes, "duration_ms", rep.DurationMS, "error", rep.Error)
	b.reports.publish(ctx, rep)
	return rep, b.moveOut(ctx, rep)
}

// skip answers an event there is nothing to do for. It stores nothing: the
// event carries no version worth remembering.
func (b *Batch) skip(rep contract.BatchReport, reason string) contract.BatchReport {
	rep.Status, rep.Error = contract.StatusSkipped, reason
	end(&rep, b.clock())
	b.log.Info("skipped", "key", rep.Key, "reason", reason)
	return rep
}

// fail records a transient failure (best effort: the store may be what
// failed) and returns it as an error, so that the event is redelivered.
// A file that claimed a files-per-window slot (claimed) gives it back:
// a failed attempt ingested nothing that counts, and its retry claims a
// slot again. A dependency that is unavailable makes the error
// ErrUnavailable, with the report's RetryAfter set.
func (b *Batch) fail(ctx context.Context, rep contract.BatchReport, claimed bool, err error) (contract.BatchReport, error) {
	if unavailable(err) {
		err = fmt.Errorf("ingest %s: %w: %w", rep.Key, ErrUnavailable, err)
		setRetryAfter(&rep, OutageRetryAfter)
	} else {
		err = fmt.Errorf("ingest %s: %w", rep.Key, err)
	}
	rep.Status, rep.Error = contract.StatusFailed, err.Error()
	end(&rep, b.clock())
	b.log.ErrorContext(ctx, "ingestion failed; the event should be redelivered", "key", rep.Key, "err", err)
	if rep.ETag != "" {
		// Recorded even when ctx is done (a timeout is a likely cause).
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if serr := b.store(sctx, rep, false); serr != nil {
			b.log.WarnContext(ctx, "could not record the failure", "key", rep.Key, "err", serr)
		}
		if claimed {
			if serr := b.releaseSlot(sctx, rep); serr != nil {
				// The retry finds the slot its own and keeps it.
				b.log.WarnContext(ctx, "could not give back the files-per-window slot", "key", rep.Key, "err", serr)
			}
		}
	}
	b.reports.publish(ctx, rep)
	return rep, err
}

func tooLarge(size int64, limit profile.Size) string {
	binary := int64(limit)%1024 == 0 && int64(limit)%1000 != 0
	have, max := humanSize(size, binary), humanSize(int64(limit), binary)
	if have == max { // just over the limit: say it in bytes
		have, max = fmt.Sprintf("%d bytes", size), fmt.Sprintf("%d bytes", int64(limit))
	}
	return fmt.Sprintf("file is %s, over the tenant's max_file_size of %s", have, max)
}

// s3Code is the S3 error code of err, "" if it has none.
func s3Code(err error) string {
	if err == nil {
		return ""
	}
	return minio.ToErrorResponse(err).Code
}

// docID is a good row's _id. With a business key (sink.key) it is
// records.KeyID of the key's values: the same row in any file, or any
// version of a file, is the same document, and the last version ingested
// wins (a corrected upload replaces the rows it corrects). Without a key it
// is records.DocID of the object, its version and the line, which makes a
// redelivered event harmless; two versions of a file then both stay stored,
// as nothing says their rows are the same.
func (b *Batch) docID(set *dataset.Set, key, etag string, rec records.Record) string {
	if set.ByKey {
		return records.KeyID(b.prof.Tenant, rec.Key...)
	}
	return records.DocID(b.prof.Tenant, key, etag, rec.Line)
}

// goodRow is a good row on its way to the dataset's sinks.
type goodRow struct {
	line int
	doc  bson.D
	raw  bson.D // for raw fan-out copies; nil without any
}

// read streams the object through its dataset's plan into the dataset's
// sinks. A file-level problem makes rep rejected and is not an error; an
// error is transient (S3 or MongoDB) and the file should be read again.
func (b *Batch) read(ctx context.Context, set *dataset.Set, rep *contract.BatchReport) error {
	// Rules that judge the file as a whole, and the tenant's own checker,
	// see the rows first, so that a file they fail stores nothing.
	res, own, bad, err := b.prepass(ctx, set, rep)
	switch {
	case err != nil:
		return err
	case bad != "":
		rep.Status, rep.Error = contract.StatusRejected, bad
		return nil
	case res != nil && !res.OK():
		rep.Status, rep.Error = contract.StatusRejected, res.Reason()+"; no row of the file was stored"
		b.qualityOf(set, rep, *res)
		return nil
	}
	if own != nil {
		if failed := own.tally.Failed(own.fn); len(failed) > 0 {
			reasons := make([]string, len(failed))
			for i, f := range failed {
				reasons[i] = f.Reason
			}
			rep.Status, rep.Error = contract.StatusRejected, strings.Join(reasons, "; ")+"; no row of the file was stored"
			q := contract.Quality{RowsChecked: own.tally.Rows()}
			own.into(&q)
			b.qualityOf(set, rep, quality.Result{Quality: q})
			return nil
		}
	}
	obj, err := b.open(ctx, rep)
	if err != nil {
		return err
	}
	defer obj.Close()

	rd := set.Plan.NewReader(obj, rep.Key)
	var qf *quality.File
	if set.Checker != nil {
		qf = set.Checker.NewFile()
	}
	var qualityRejected int64
	w := &fileWriter{b: b, set: set, rep: rep, tally: newSinkTally(set), bad: records.NewBatcher[any](b.policy)}
	good := records.NewBatcher[goodRow](b.policy)
	var fileErr error
	for rec, err := range rd.All() {
		if err != nil {
			fileErr = err
			break
		}
		if rec.Err != nil {
			if err := w.quarantine(ctx, quarantined(rep, rec.Err, rep.StartedAt)); err != nil {
				return err
			}
			continue
		}
		w.unit = rd.Unit()
		// The checker's verdict first: a row it rejects is quarantined
		// whatever the profile's rules say, and their figures must know.
		ownReason := own.rejected(rec.Line)
		var reason, field string
		switch {
		case qf != nil && ownReason != "":
			reason, field = dataset.Rejects(qf.Quarantine(rec.Line, dataset.Fields(rec.Doc)))
		case qf != nil:
			reason, field = dataset.Rejects(qf.Check(rec.Line, dataset.Fields(rec.Doc)))
		}
		if ownReason != "" {
			reason = strings.TrimPrefix(reason+"; "+ownReason, "; ")
		}
		if reason != "" {
			qualityRejected++
			err := w.quarantine(ctx, quarantined(rep, &records.RowError{Line: rec.Line, Unit: w.unit, Field: field, Reason: reason, Raw: rawOf(rec.Doc)}, rep.StartedAt))
			if err != nil {
				return err
			}
			continue
		}
		row := goodRow{line: rec.Line, doc: make(bson.D, 0, len(rec.Doc)+1)}
		id := b.docID(set, rep.Key, rep.ETag, rec)
		row.doc = append(append(row.doc, bson.E{Key: "_id", Value: id}), rec.Doc...)
		if rec.Raw != nil {
			row.raw = dataset.RawDoc(id, rep.Key, rec.Line, rec.Raw)
		}
		if batch := good.Add(row, records.DocSize(row.doc)+int64(len(rec.Raw))); batch != nil {
			if err := w.good(ctx, batch); err != nil {
				return err
			}
		}
	}
	// Rows read before a file-level error are stored: they were good.
	if batch := good.Flush(); batch != nil {
		if err := w.good(ctx, batch); err != nil {
			return err
		}
	}
	if batch := w.bad.Flush(); batch != nil {
		if _, _, err := b.write(ctx, set.Quarantine, batch, false); err != nil {
			return err
		}
	}
	st := rd.Stats()
	main := w.tally.sinks[0]
	rep.RowsOK = int64(st.Good) - main.RowsRefused - qualityRejected
	rep.RowsRejected = int64(st.Rejected) + main.RowsRefused + qualityRejected
	switch {
	case qf != nil:
		res := qf.Result(b.clock())
		if own != nil {
			own.into(&res.Quality)
		}
		b.qualityOf(set, rep, res)
	case own != nil:
		q := contract.Quality{RowsChecked: own.tally.Rows(), RowsQuarantined: qualityRejected}
		own.into(&q)
		b.qualityOf(set, rep, quality.Result{Quality: q})
	}
	rep.Bytes = st.Bytes
	rep.RowsUnchanged, rep.RowsReplaced = main.RowsUnchanged, main.RowsReplaced
	if len(set.Fanout) > 0 {
		rep.Sinks = w.tally.sinks
	}
	rep.Status = contract.StatusDone
	if fileErr != nil {
		if !isFileLevel(fileErr) { // S3 broke off, the context ended...
			return fileErr
		}
		rep.Status, rep.Error = contract.StatusRejected, fileErr.Error()
		// The refusal can come late (a bound passed half-way): say that
		// what was read before it is in the database.
		if st.Good+st.Rejected > 0 {
			rep.Error += fmt.Sprintf("; the %d rows before it were stored (%d good, %d quarantined)", st.Good+st.Rejected, rep.RowsOK, rep.RowsRejected)
		}
	}
	return nil
}

// open gets the version of the object the report names.
func (b *Batch) open(ctx context.Context, rep *contract.BatchReport) (*minio.Object, error) {
	opts := minio.GetObjectOptions{}
	if err := opts.SetMatchETag(rep.ETag); err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", rep.Bucket, rep.Key, err)
	}
	obj, err := b.s3.GetObject(ctx, rep.Bucket, rep.Key, opts)
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", rep.Bucket, rep.Key, err)
	}
	return obj, nil
}

// qualityOf puts a file's quality result in its report: the metadata,
// with the file's lineage, and the warnings of file-level rules.
func (b *Batch) qualityOf(set *dataset.Set, rep *contract.BatchReport, res quality.Result) {
	q := res.Quality
	q.Lineage = set.Lineage(QualityApp)
	q.Lineage.Bucket, q.Lineage.Key, q.Lineage.ETag = rep.Bucket, rep.Key, rep.ETag
	rep.Quality = &q
	rep.Warnings = nil
	for _, w := range res.Warned {
		rep.Warnings = append(rep.Warnings, w.Reason)
	}
}

// QualityApp names the platform's batch app in quality lineage.
const QualityApp = "mysimbdp/batch-ingest"

// sinkTally counts, per collection a dataset writes (its sink first, then
// its fan-out copies), what became of the file's rows.
type sinkTally struct{ sinks []contract.SinkReport }

func newSinkTally(set *dataset.Set) *sinkTally {
	t := &sinkTally{sinks: []contract.SinkReport{{Collection: set.Sink.Name(), Form: string(profile.FormTyped)}}}
	for _, c := range set.Fanout {
		form := profile.FormTyped
		if c.Raw {
			form = profile.FormRaw
		}
		t.sinks = append(t.sinks, contract.SinkReport{Collection: c.Coll.Name(), Form: string(form)})
	}
	return t
}

// fileWriter writes one file's rows to its dataset's collections.
type fileWriter struct {
	b     *Batch
	set   *dataset.Set
	rep   *contract.BatchReport
	unit  string // what a row's line counts, for the quarantine
	tally *sinkTally
	bad   *records.Batcher[any]
}

// quarantine adds a rejected row to the quarantine's next batch.
func (w *fileWriter) quarantine(ctx context.Context, q quarantinedRow) error {
	if batch := w.bad.Add(q, int64(len(q.Raw))+256); batch != nil {
		if _, _, err := w.b.write(ctx, w.set.Quarantine, batch, false); err != nil {
			return err
		}
	}
	return nil
}

// good writes a batch of good rows to every collection of the dataset.
// A row one of them refuses (a unique index of the tenant's, say) is
// quarantined with that collection's reason and counted as refused there;
// the other collections keep it. A redelivery writes each collection
// again, and those that hold a row already leave it alone (package
// replace), so a row is never stored twice.
func (w *fileWriter) good(ctx context.Context, rows []goodRow) error {
	if w.b.discard { // benchmarking aid: see Config.Sink
		return nil
	}
	set, rep := w.set, w.rep
	rows = lastPerID(rows)
	docs := make([]any, len(rows))
	for k := range len(set.Fanout) + 1 {
		coll := set.Sink
		if k > 0 {
			coll = set.Fanout[k-1].Coll
		}
		for i, r := range rows {
			docs[i] = r.doc
			if k > 0 && set.Fanout[k-1].Raw {
				docs[i] = r.raw
			}
		}
		res, refused, err := w.b.write(ctx, coll, docs, set.ByKey)
		if err != nil {
			return err
		}
		t := &w.tally.sinks[k]
		t.RowsStored += int64(len(docs) - len(refused))
		t.RowsUnchanged += int64(res.Unchanged)
		t.RowsReplaced += int64(res.Replaced)
		t.RowsRefused += int64(len(refused))
		for _, f := range refused {
			r := rows[f.index]
			err := w.quarantine(ctx, quarantinedRow{
				ID:     records.DocID(rep.Tenant, rep.Key, rep.ETag, r.line),
				Tenant: rep.Tenant, File: rep.Key, ETag: rep.ETag, Line: r.line, Unit: w.unit,
				Reason: fmt.Sprintf("collection %s refused the row: %s", coll.Name(), f.reason),
				Raw:    rawOf(r.doc), At: rep.StartedAt,
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// lastPerID keeps, of rows sharing an _id, only the last: what would be
// stored in the end (every other version would cost a replace, the
// store's slowest write).
func lastPerID(rows []goodRow) []goodRow {
	last := make(map[any]int, len(rows))
	for i, r := range rows {
		last[r.doc[0].Value] = i
	}
	if len(last) == len(rows) {
		return rows
	}
	kept := make([]goodRow, 0, len(last))
	for i, r := range rows {
		if last[r.doc[0].Value] == i {
			kept = append(kept, r)
		}
	}
	return kept
}

// rawOf renders a refused document for its quarantine copy.
func rawOf(doc bson.D) string {
	b, err := bson.MarshalExtJSON(doc, false, false)
	if err != nil {
		return fmt.Sprint(doc)
	}
	return string(b)
}

// isFileLevel tells a problem of the file (permanent) from one of reading
// it (worth retrying).
func isFileLevel(err error) bool {
	for _, e := range []error{records.ErrEmpty, records.ErrHeader, records.ErrFormat, records.ErrSyntax, records.ErrTooLarge, records.ErrInflates, records.ErrRecordTooLarge} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// quarantinedRow is a rejected row as stored in <collection>_rejected.
type quarantinedRow struct {
	ID     string    `bson:"_id"`
	Tenant string    `bson:"tenant"`
	File   string    `bson:"file"`
	ETag   string    `bson:"etag"`
	Line   int       `bson:"line"`
	Unit   string    `bson:"unit"`
	Field  string    `bson:"field,omitempty"`
	Reason string    `bson:"reason"`
	Raw    string    `bson:"raw"`
	At     time.Time `bson:"at"`
}

func quarantined(rep *contract.BatchReport, e *records.RowError, at time.Time) quarantinedRow {
	return quarantinedRow{
		ID:     records.DocID(rep.Tenant, rep.Key, rep.ETag, e.Line),
		Tenant: rep.Tenant, File: rep.Key, ETag: rep.ETag, Line: e.Line, Unit: e.Unit,
		Field: e.Field, Reason: e.Reason, Raw: e.Raw, At: at,
	}
}

// clock is the time to record: UTC, to the millisecond that BSON dates
// keep, so that a stored report reads back equal to the one returned.
func (b *Batch) clock() time.Time { return b.now().UTC().Truncate(time.Millisecond) }
