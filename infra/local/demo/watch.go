package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ingest"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

const ingestionsCollection = ingest.IngestionsCollection

// What became of a file, as the demo tells it. The report statuses
// (contract.Status) are used as they are; these are the demo's own.
const (
	// stateWaiting: no outcome recorded yet (its event is queued, held
	// back by the tenant's quota, or being read).
	stateWaiting = "waiting"
	// stateDeadLettered: the connector gave up on the file's event.
	stateDeadLettered = "dead-lettered"
	// stateStored: a file of a tenant running its own batch app, which
	// keeps no report the platform can read, once the tenant's database
	// holds every row uploaded to it.
	stateStored = "stored"
)

// file is one uploaded file and what became of it.
type file struct {
	key, etag    string
	rows         int64 // uploaded
	state        string
	rowsOK       int64
	rowsRejected int64
	reason       string
}

// ended reports whether the file has its final outcome.
func (f *file) ended() bool {
	switch f.state {
	case string(contract.StatusDone), string(contract.StatusRejected), stateDeadLettered, stateStored:
		return true
	}
	return false
}

// ok reports whether the file ended as it should.
func (f *file) ok() bool {
	return f.state == string(contract.StatusDone) || f.state == stateStored
}

// tenant is one tenant's uploads and where its rows land.
type tenant struct {
	id, bucket string
	// ownApp: the tenant runs its own batch app (profile apps.batch:
	// own), which records no ingestions; the demo then goes by what its
	// database gains.
	ownApp bool
	// db and coll are where the platform's app stores good rows; for an
	// own app, coll is empty: every collection of db counts.
	db, coll string
	files    []*file
	// before is the document count before the uploads; gained what was
	// added since.
	before, gained int64
}

func newTenant(id string, p *profile.Profile) *tenant {
	t := &tenant{id: id, bucket: id, db: id}
	if p == nil {
		return t // not published: treated as running the platform's app
	}
	t.bucket = p.Bucket()
	t.ownApp = p.AllDatasets()[0].Apps.Batch == profile.AppOwn
	if p.Sink.Database != "" {
		t.db = p.Sink.Database
	}
	// With several datasets, rows go to several collections: count them
	// all, as for an own app.
	if ds := p.AllDatasets(); !t.ownApp && len(ds) == 1 {
		t.coll = ds[0].Sink.Collection
	}
	return t
}

// watch follows the outcomes of a demo's uploads.
type watch struct {
	cfg     Config
	js      jetstream.JetStream
	db      *mongo.Client
	tenants []*tenant
	// dlNext is the next dead-letter sequence to read.
	dlNext uint64
}

// start notes what is there before the uploads: the tenants' document
// counts and the end of the dead-letter stream.
func (w *watch) start(ctx context.Context) error {
	for _, t := range w.tenants {
		n, err := w.count(ctx, t, true)
		if err != nil {
			return err
		}
		t.before = n
	}
	s, err := w.js.Stream(ctx, contract.DeadLetterStream)
	if err != nil {
		return fmt.Errorf("demo: dead-letter stream %s: %w", contract.DeadLetterStream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("demo: dead-letter stream %s: %w", contract.DeadLetterStream, err)
	}
	w.dlNext = info.State.LastSeq + 1
	return nil
}

// count is the tenant's documents where its rows land. exact asks for a
// real count; polls use the server's estimate, which is cheaper on a
// large collection.
func (w *watch) count(ctx context.Context, t *tenant, exact bool) (int64, error) {
	d := w.db.Database(t.db)
	colls := []string{t.coll}
	if t.coll == "" {
		names, err := d.ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return 0, fmt.Errorf("demo: collections of %s: %w", t.db, err)
		}
		colls = names
	}
	var total int64
	for _, c := range colls {
		var n int64
		var err error
		if exact {
			n, err = d.Collection(c).CountDocuments(ctx, bson.D{})
		} else {
			n, err = d.Collection(c).EstimatedDocumentCount(ctx)
		}
		if err != nil {
			return 0, fmt.Errorf("demo: count %s.%s: %w", t.db, c, err)
		}
		total += n
	}
	return total, nil
}

// wait polls until every file has ended or the deadline passes, printing
// a progress line whenever the picture changes and at least every
// ProgressEvery.
func (w *watch) wait(ctx context.Context, start time.Time, out io.Writer) error {
	deadline := start.Add(w.cfg.Timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var last string
	var lastAt time.Time
	for {
		if err := w.poll(ctx); err != nil {
			return err
		}
		line, ended := w.progress()
		if line != last || time.Since(lastAt) >= w.cfg.ProgressEvery || ended {
			fmt.Fprintf(out, "  %5s  %s\n", time.Since(start).Round(time.Second), line)
			last, lastAt = line, time.Now()
		}
		if ended {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: not every file has an outcome after %s (see `mysimbdp logs <tenant>-batch-ingest` and `mysimbdp status`)", w.cfg.Timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// poll reads the dead letters and reports since the last poll.
func (w *watch) poll(ctx context.Context) error {
	if err := w.readDeadLetters(ctx); err != nil {
		return err
	}
	for _, t := range w.tenants {
		if t.ownApp {
			if err := w.pollOwnApp(ctx, t); err != nil {
				return err
			}
			continue
		}
		if err := w.readReports(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// readReports updates t's files from their ingestion records.
func (w *watch) readReports(ctx context.Context, t *tenant) error {
	var keys []string
	byKey := map[string]*file{}
	for _, f := range t.files {
		if !f.ended() {
			keys = append(keys, f.key)
			byKey[f.key] = f
		}
	}
	if len(keys) == 0 {
		return nil
	}
	cur, err := w.db.Database(t.db).Collection(ingestionsCollection).Find(ctx, bson.D{
		{Key: "tenant", Value: t.id}, {Key: "bucket", Value: t.bucket}, {Key: "key", Value: bson.D{{Key: "$in", Value: keys}}},
	})
	if err != nil {
		return fmt.Errorf("demo: read the ingestion reports of %s: %w", t.id, err)
	}
	var reps []contract.BatchReport
	if err := cur.All(ctx, &reps); err != nil {
		return fmt.Errorf("demo: read the ingestion reports of %s: %w", t.id, err)
	}
	for _, r := range reps {
		f := byKey[r.Key]
		if f == nil || r.ETag != f.etag {
			continue // another version of the key
		}
		f.state, f.rowsOK, f.rowsRejected, f.reason = string(r.Status), r.RowsOK, r.RowsRejected, r.Error
	}
	return nil
}

// pollOwnApp: a tenant's own app records nothing the platform can read,
// so its files count as stored once its database has gained every row
// uploaded in the files not dead-lettered.
func (w *watch) pollOwnApp(ctx context.Context, t *tenant) error {
	n, err := w.count(ctx, t, false)
	if err != nil {
		return err
	}
	t.gained = n - t.before
	var want int64
	for _, f := range t.files {
		if f.state != stateDeadLettered {
			want += f.rows
		}
	}
	if t.gained < want {
		return nil
	}
	for _, f := range t.files {
		if f.state != stateDeadLettered {
			f.state, f.rowsOK, f.reason = stateStored, f.rows, ""
		}
	}
	return nil
}

// readDeadLetters marks the files whose events the connector gave up on.
// A dead letter's body is the S3 event as it came, its reason a header.
func (w *watch) readDeadLetters(ctx context.Context) error {
	s, err := w.js.Stream(ctx, contract.DeadLetterStream)
	if err != nil {
		return fmt.Errorf("demo: dead-letter stream: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("demo: dead-letter stream: %w", err)
	}
	for ; w.dlNext <= info.State.LastSeq; w.dlNext++ {
		m, err := s.GetMsg(ctx, w.dlNext)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("demo: dead letter %d: %w", w.dlNext, err)
		}
		var ev events.S3Event
		if json.Unmarshal(m.Data, &ev) != nil {
			continue // not an S3 event: a stream record's
		}
		for _, rec := range ev.Records {
			if f := w.file(rec.S3.Bucket.Name, rec.S3.Object.URLDecodedKey); f != nil {
				f.state, f.reason = stateDeadLettered, m.Header.Get(contract.DeadLetterHeaderReason)
			}
		}
	}
	return nil
}

func (w *watch) file(bucket, key string) *file {
	for _, t := range w.tenants {
		if t.bucket != bucket {
			continue
		}
		for _, f := range t.files {
			if f.key == key {
				return f
			}
		}
	}
	return nil
}

// progress is one line on where every tenant's files are, and whether
// all have ended.
func (w *watch) progress() (string, bool) {
	var parts []string
	all := true
	for _, t := range w.tenants {
		by := map[string]int{}
		for _, f := range t.files {
			by[f.state]++
			all = all && f.ended()
		}
		states := make([]string, 0, len(by))
		for s := range by {
			states = append(states, s)
		}
		sort.Strings(states)
		var counts []string
		for _, s := range states {
			counts = append(counts, fmt.Sprintf("%d %s", by[s], s))
		}
		p := t.id + ": " + strings.Join(counts, ", ")
		if t.ownApp {
			var want int64
			for _, f := range t.files {
				want += f.rows
			}
			p += fmt.Sprintf(" (own app: database gained %d of %d rows)", t.gained, want)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " | "), all
}

// finalCounts counts exactly what each tenant's database gained.
func (w *watch) finalCounts(ctx context.Context) error {
	for _, t := range w.tenants {
		n, err := w.count(ctx, t, true)
		if err != nil {
			return err
		}
		t.gained = n - t.before
	}
	return nil
}

// verdict is nil when every file ended done and each database gained at
// least the rows its reports say were stored (at least: a tenant may be
// streaming records into the same collection meanwhile).
func (w *watch) verdict() error {
	var errs []error
	for _, t := range w.tenants {
		var stored int64
		for _, f := range t.files {
			switch {
			case !f.ended():
				errs = append(errs, fmt.Errorf("s3://%s/%s has no outcome yet (%s)", t.bucket, f.key, f.state))
			case !f.ok():
				errs = append(errs, fmt.Errorf("s3://%s/%s ended %s: %s", t.bucket, f.key, f.state, f.reason))
			}
			stored += f.rowsOK
		}
		if t.gained < stored {
			where := t.db + "." + t.coll
			if t.coll == "" {
				where = "database " + t.db
			}
			errs = append(errs, fmt.Errorf("%s: the reports say %d rows were stored, but %s gained only %d", t.id, stored, where, t.gained))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("demo: not every file ended done (see the summary above):\n%w", errors.Join(errs...))
}

func printSummary(out io.Writer, tenants []*tenant) error {
	fmt.Fprintln(out, "\nwhat became of each file:")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tFILE\tSTATUS\tROWS OK\tROWS REJECTED\tREASON")
	for _, t := range tenants {
		for _, f := range t.files {
			ok, rej := fmt.Sprint(f.rowsOK), fmt.Sprint(f.rowsRejected)
			if !f.ended() || f.state == stateDeadLettered {
				ok, rej = "-", "-"
			}
			if f.state == stateStored {
				rej = "-"
			}
			reason := f.reason
			if reason == "" && !f.ended() {
				reason = "no outcome yet"
			}
			fmt.Fprintf(tw, "%s\ts3://%s/%s\t%s\t%s\t%s\t%s\n", t.id, t.bucket, f.key, f.state, ok, rej, reason)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nwhat each tenant's database gained:")
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tWHERE\tNEW DOCUMENTS\tNOTE")
	for _, t := range tenants {
		where, note := t.db+"."+t.coll, "the platform's batch app: rows from its reports"
		if t.ownApp {
			where, note = t.db+".*", "its own batch app keeps no report the platform reads: files count as stored once these are its rows"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", t.id, where, t.gained, note)
	}
	return tw.Flush()
}
