package stats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/trust"
	"github.com/mysimbdp/mysimbdp/shared/trust/mongotrust"
)

// Collections of the platform database.
const (
	ReportsCollection   = "stats_reports"
	FilesCollection     = "stats_files"
	WindowsCollection   = "stats_windows"
	DecisionsCollection = "stats_decisions"
)

// AllTenants is the tenant name of the platform's windows.
const AllTenants = "_all"

// ErrBadBatch: the batch cannot be answered record by record (a record has
// no id); the transport answers 400.
var ErrBadBatch = errors.New("malformed batch")

// Options tune a Service; the zero value is right for production.
type Options struct {
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service stores reports, keeps the windows and decides quotas. It holds
// the process's connections; it is safe for concurrent use.
type Service struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	db                                 *mongo.Client
	reports, files, windows, decisions *mongo.Collection
	nc                                 *nats.Conn
	js                                 jetstream.JetStream
	control                            jetstream.KeyValue
	indexOnce                          sync.Once

	// sizes caches each tenant database's measured size for one window:
	// dbStats is not free, and storage does not move fast.
	mu    sync.Mutex
	sizes map[string]measured
}

type measured struct {
	bytes int64
	at    time.Time
}

// New connects to NATS (MongoDB connects on first use) and opens the
// control bucket.
func New(ctx context.Context, cfg Config, opts Options) (*Service, error) {
	s := &Service{cfg: cfg, log: opts.Log, now: opts.Now, sizes: map[string]measured{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cfg.Window <= 0 {
		s.cfg.Window = contract.DefaultStatsWindow
	}
	if s.cfg.PlatformDB == "" {
		s.cfg.PlatformDB = contract.DefaultPlatformDB
	}
	if s.cfg.ReportSubject == "" {
		s.cfg.ReportSubject = contract.ReportSubjectPrefix
	}
	mopts, err := mongotrust.Options(options.Client().ApplyURI(cfg.MongoURI), cfg.CAFile)
	if err != nil {
		return nil, err
	}
	db, err := mongo.Connect(mopts)
	if err != nil {
		return nil, fmt.Errorf("MongoDB client: %w", err)
	}
	nc, err := nats.Connect(cfg.NATSURL, append(trust.NATS(cfg.CAFile), nats.Name("mysimbdp-stats"), nats.Timeout(5*time.Second), nats.MaxReconnects(-1))...)
	if err != nil {
		_ = db.Disconnect(ctx)
		return nil, fmt.Errorf("connect to NATS at %s: %w", cfg.NATSURL, err)
	}
	s.db, s.nc = db, nc
	if s.js, err = jetstream.New(nc); err == nil {
		s.control, err = quotaControl(ctx, s.js, s.cfg.JSReplicas)
	}
	if err != nil {
		s.Close(ctx)
		return nil, err
	}
	pdb := db.Database(s.cfg.PlatformDB)
	s.reports, s.files = pdb.Collection(ReportsCollection), pdb.Collection(FilesCollection)
	s.windows, s.decisions = pdb.Collection(WindowsCollection), pdb.Collection(DecisionsCollection)
	return s, nil
}

// Close releases the connections.
func (s *Service) Close(ctx context.Context) error {
	if s.nc != nil {
		s.nc.Close()
	}
	if err := s.db.Disconnect(ctx); err != nil {
		return fmt.Errorf("disconnect from MongoDB: %w", err)
	}
	return nil
}

// Ingest stores a batch of reports and answers which records are not
// reports (they are to be dead-lettered with their reason). An error means
// nothing can be said about the batch: redeliver it all, which is harmless
// as every write is idempotent. An empty batch stores nothing and only
// re-evaluates the quotas: a scheduler may send one to lift throttles on
// time when no report arrives.
func (s *Service) Ingest(ctx context.Context, b contract.Batch) (contract.Response, error) {
	now := s.now()
	resp := contract.Response{BatchItemFailures: []contract.ItemFailure{}}
	var reps, files []any
	touched := map[time.Time]map[string]bool{}
	for _, rec := range b.Records {
		if rec.ID == "" {
			return resp, fmt.Errorf("%w: a record has no id", ErrBadBatch)
		}
		e, err := decode(rec, s.cfg.ReportSubject, now)
		if err != nil {
			s.log.WarnContext(ctx, "not a report; it will be dead-lettered", "id", rec.ID, "subject", rec.Subject, "reason", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, contract.ItemFailure{ItemIdentifier: rec.ID, Reason: err.Error()})
			continue
		}
		reps = append(reps, e)
		if e.finished() {
			f := e
			f.ID, f.Report = e.File, e.ID
			files = append(files, f)
		}
		w := e.At.Truncate(s.cfg.Window)
		if touched[w] == nil {
			touched[w] = map[string]bool{}
		}
		touched[w][e.Tenant] = true
	}
	s.indexOnce.Do(func() { s.ensureIndexes(ctx) })
	// Reports first: a crash before the files are stored is made good by
	// the redelivery, which stores them (every step below is repeated).
	if err := insertNew(ctx, s.reports, reps); err != nil {
		return resp, fmt.Errorf("store %d reports: %w", len(reps), err)
	}
	if err := insertNew(ctx, s.files, files); err != nil {
		return resp, fmt.Errorf("store %d finished files: %w", len(files), err)
	}
	for w, tenants := range touched {
		if err := s.recompute(ctx, w, tenants, now); err != nil {
			return resp, err
		}
	}
	// The reports are stored: a failed evaluation is logged, not retried
	// through the batch; the next batch or tick evaluates again.
	if err := s.Evaluate(ctx); err != nil {
		s.log.ErrorContext(ctx, "quota evaluation", "err", err)
	}
	return resp, nil
}

// insertNew inserts docs, unordered, in bounded commands; documents whose
// _id is already stored are left as they are (a redelivery).
func insertNew(ctx context.Context, coll *mongo.Collection, docs []any) error {
	const chunk = 500
	for len(docs) > 0 {
		n := min(len(docs), chunk)
		_, err := coll.InsertMany(ctx, docs[:n], options.InsertMany().SetOrdered(false))
		var bwe mongo.BulkWriteException
		switch {
		case err == nil:
		case errors.As(err, &bwe) && bwe.WriteConcernError == nil && len(bwe.WriteErrors) > 0:
			for _, we := range bwe.WriteErrors {
				if we.Code != 11000 && we.Code != 11001 { // duplicate key: already stored
					return fmt.Errorf("insert into %s: %w", coll.Name(), err)
				}
			}
		default:
			return fmt.Errorf("insert into %s: %w", coll.Name(), err)
		}
		docs = docs[n:]
	}
	return nil
}

// ensureIndexes makes the range queries index scans. Best effort: without
// them queries are slower, not wrong.
func (s *Service) ensureIndexes(ctx context.Context) {
	for _, ix := range []struct {
		coll *mongo.Collection
		keys bson.D
	}{
		{s.reports, bson.D{{Key: "at", Value: 1}}},
		{s.reports, bson.D{{Key: "tenant", Value: 1}, {Key: "kind", Value: 1}, {Key: "at", Value: 1}}},
		{s.reports, bson.D{{Key: "tenant", Value: 1}, {Key: "kind", Value: 1}, {Key: "started_at", Value: 1}}},
		{s.files, bson.D{{Key: "at", Value: 1}}},
		{s.windows, bson.D{{Key: "tenant", Value: 1}, {Key: "start", Value: 1}}},
		{s.decisions, bson.D{{Key: "decided_at", Value: 1}}},
	} {
		if _, err := ix.coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: ix.keys}); err != nil {
			s.log.WarnContext(ctx, "could not create an index", "collection", ix.coll.Name(), "keys", ix.keys, "err", err)
		}
	}
}

// Window is one platform window's figures for a tenant or AllTenants.
type Window struct {
	ID      string    `json:"-" bson:"_id"`
	Tenant  string    `json:"tenant" bson:"tenant"`
	Start   time.Time `json:"start" bson:"start"`
	End     time.Time `json:"end" bson:"end"`
	Figures `bson:",inline"`
	// Entries is how many stored reports and files the figures sum.
	Entries   int64     `json:"entries" bson:"entries"`
	UpdatedAt time.Time `json:"updated_at" bson:"updated_at"`
}

func windowID(tenant string, start time.Time) string {
	return tenant + "@" + start.UTC().Format(time.RFC3339Nano)
}

// recompute sums the window starting at start from what is stored and
// replaces its documents: the platform's and those of tenants. Recomputing
// from the stored reports, rather than adding the new ones, keeps the
// windows exact under redelivery. Two replicas recomputing one window at
// once may finish in either order: a sum replaces the stored one only if
// it counts at least as many entries (they only ever grow), so the fuller
// sum stays.
func (s *Service) recompute(ctx context.Context, start time.Time, tenants map[string]bool, now time.Time) error {
	end := start.Add(s.cfg.Window)
	sum, err := s.sum(ctx, start, end, false)
	if err != nil {
		return fmt.Errorf("recompute window %s: %w", start.UTC().Format(time.RFC3339), err)
	}
	put := func(tenant string, a *acc) error {
		w := Window{ID: windowID(tenant, start), Tenant: tenant, Start: start, End: end, Figures: a.figures(), Entries: a.n, UpdatedAt: now}
		_, err := s.windows.ReplaceOne(ctx,
			bson.D{{Key: "_id", Value: w.ID}, {Key: "entries", Value: bson.D{{Key: "$lte", Value: w.Entries}}}},
			w, options.Replace().SetUpsert(true))
		if mongo.IsDuplicateKeyError(err) {
			return nil // a fuller sum is stored: no match, and the upsert's insert collides
		}
		if err != nil {
			return fmt.Errorf("store window %s: %w", w.ID, err)
		}
		return nil
	}
	if err := put(AllTenants, &sum.all); err != nil {
		return err
	}
	for t := range tenants {
		if err := put(t, sum.of(t)); err != nil {
			return err
		}
	}
	return nil
}

// sum adds up the reports and files whose time is in [from, to) (or
// [from, to] when closed), streaming both collections.
func (s *Service) sum(ctx context.Context, from, to time.Time, closed bool) (*byTenant, error) {
	lt := "$lt"
	if closed {
		lt = "$lte"
	}
	filter := bson.D{{Key: "at", Value: bson.D{{Key: "$gte", Value: from}, {Key: lt, Value: to}}}}
	b := newByTenant()
	if err := each(ctx, s.files, filter, b.addFile); err != nil {
		return nil, err
	}
	if err := each(ctx, s.reports, filter, b.addReport); err != nil {
		return nil, err
	}
	return b, nil
}

// each calls fn with every entry of coll matching filter, one at a time.
func each(ctx context.Context, coll *mongo.Collection, filter any, fn func(*entry), opts ...options.Lister[options.FindOptions]) error {
	cur, err := coll.Find(ctx, filter, opts...)
	if err != nil {
		return fmt.Errorf("read %s: %w", coll.Name(), err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var e entry
		if err := cur.Decode(&e); err != nil {
			return fmt.Errorf("read %s: %w", coll.Name(), err)
		}
		fn(&e)
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("read %s: %w", coll.Name(), err)
	}
	return nil
}
