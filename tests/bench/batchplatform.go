package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/ingest"
	"github.com/mysimbdp/mysimbdp/shared/records"
)

// PlatformBatch is the batch flow through every process of the platform:
// files uploaded with minio-go to a tenant's incoming/, MinIO's events
// through NATS, the connector, the provider and the tenant's batch
// function into FerretDB, timed until each file's report is in
// processed/ — beside a raw InsertMany of the same rows into the same
// store in the same run.
type PlatformBatch struct {
	Files, RowsPerFile int
	Bytes              int64
	// Raw is the unordered InsertMany of every file's rows (prepared
	// beforehand, not timed), in batches of records.DefaultPolicy().Count,
	// into an empty collection of another database of the same FerretDB.
	Raw time.Duration
	// First is the first upload of the files: from the first PutObject to
	// the last report. Again uploads the same bytes under new names (every
	// business key already stored, every row unchanged); Corrected the
	// same rows with every 100th one changed, as the next day's file of a
	// daily source is. A phase that did not end in time has its error.
	First, Again, Corrected          time.Duration
	FirstErr, AgainErr, CorrectedErr error
}

// PlatformOptions shape RunPlatformBatch.
type PlatformOptions struct {
	Files, RowsPerFile int
	// Uploaders is how many files are uploaded at once (mc cp's habit).
	Uploaders int
	// PhaseTimeout bounds each phase's wait for its reports.
	PhaseTimeout time.Duration
	Log          *slog.Logger
}

const platformTenant = "tenant1"

// RunPlatformBatch starts the whole local platform from repo's stack.yml
// under dir and runs the raw insert, then the three uploads.
func RunPlatformBatch(ctx context.Context, repo, dir string, o PlatformOptions, progress io.Writer) (PlatformBatch, error) {
	res := PlatformBatch{Files: o.Files, RowsPerFile: o.RowsPerFile}
	tenants := filepath.Join(dir, "tenants")
	if err := os.MkdirAll(tenants, 0o755); err != nil {
		return res, err
	}
	for t, prof := range map[string]string{platformTenant: Tenant1Profile(platformTenant), "tenant2": Tenant2Profile("tenant2")} {
		if err := os.WriteFile(filepath.Join(tenants, t+".yaml"), []byte(prof), 0o644); err != nil {
			return res, err
		}
	}
	st, err := localstack.Start(ctx, localstack.Config{
		DataDir: filepath.Join(dir, "data"), StackFile: filepath.Join(repo, "stack.yml"), TenantsDir: tenants,
		Progress: func(string, ...any) {},
	}, o.Log)
	if err != nil {
		return res, err
	}
	defer func() { _ = st.Stop(context.WithoutCancel(ctx)) }()
	s3, err := minio.New(st.Endpoints.MinIO, &minio.Options{Creds: credentials.NewStaticV4(st.Creds.MinIOUser, st.Creds.MinIOPassword, "")})
	if err != nil {
		return res, err
	}
	db, err := mongo.Connect(options.Client().ApplyURI(st.Endpoints.MongoURI))
	if err != nil {
		return res, err
	}
	defer func() { _ = db.Disconnect(context.WithoutCancel(ctx)) }()

	files := make([][]byte, o.Files)
	for k := range files {
		files[k] = ecdc.CSV(k*o.RowsPerFile, (k+1)*o.RowsPerFile)
		res.Bytes += int64(len(files[k]))
	}

	fmt.Fprintln(progress, "  raw InsertMany of the same rows...")
	if res.Raw, err = rawInsert(ctx, db.Database("bench-raw").Collection("covid_daily"), files); err != nil {
		return res, err
	}

	sink := db.Database(platformTenant).Collection("covid_daily")
	phases := []struct {
		name string
		opt  ecdc.Options
		took *time.Duration
		err  *error
	}{
		{"first", ecdc.Options{}, &res.First, &res.FirstErr},
		{"again", ecdc.Options{}, &res.Again, &res.AgainErr},
		{"corrected", ecdc.Options{Correct: 100}, &res.Corrected, &res.CorrectedErr},
	}
	for _, ph := range phases {
		fmt.Fprintf(progress, "  %s upload of %d files...\n", ph.name, o.Files)
		*ph.took, *ph.err = uploadAndWait(ctx, s3, ph.name, o, ph.opt)
		if *ph.err == nil {
			*ph.err = checkSink(ctx, sink, o, ph.opt.Correct)
		}
		if *ph.err != nil {
			fmt.Fprintf(progress, "  %s: %v\n", ph.name, *ph.err)
			break // the next phase would start on an unknown state
		}
	}
	return res, nil
}

// rawInsert is the baseline: one writer, unordered InsertMany batches.
func rawInsert(ctx context.Context, coll *mongo.Collection, files [][]byte) (time.Duration, error) {
	if err := coll.Drop(ctx); err != nil {
		return 0, fmt.Errorf("empty the raw collection: %w", err)
	}
	var docs []any
	for _, f := range files {
		d, err := encodeDocs(Tenant1Profile("bench-raw"), "bench-raw", f)
		if err != nil {
			return 0, err
		}
		docs = append(docs, d...)
	}
	size := records.DefaultPolicy().Count
	start := time.Now()
	for j := 0; j < len(docs); j += size {
		if _, err := coll.InsertMany(ctx, docs[j:min(j+size, len(docs))], options.InsertMany().SetOrdered(false)); err != nil {
			return 0, fmt.Errorf("raw insert of documents %d..: %w", j, err)
		}
	}
	took := time.Since(start)
	return took, coll.Drop(ctx)
}

// uploadAndWait uploads the phase's files, o.Uploaders at a time, and
// waits until every one's report is in processed/ with all its rows ok.
func uploadAndWait(ctx context.Context, s3 *minio.Client, phase string, o PlatformOptions, opt ecdc.Options) (time.Duration, error) {
	keys := make([]string, o.Files)
	for k := range keys {
		keys[k] = fmt.Sprintf("incoming/%s-%d.csv", phase, k)
	}
	start := time.Now()
	work := make(chan int)
	errs := make(chan error, o.Files)
	var wg sync.WaitGroup
	for range max(o.Uploaders, 1) {
		wg.Go(func() {
			for k := range work {
				body := ecdc.NewReader(k*o.RowsPerFile, (k+1)*o.RowsPerFile, opt)
				data, _ := io.ReadAll(body)
				_, err := s3.PutObject(ctx, platformTenant, keys[k], bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: "text/csv"})
				if err != nil {
					errs <- fmt.Errorf("upload %s: %w", keys[k], err)
				}
			}
		})
	}
	for k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := errors.Join(collect(errs)...); err != nil {
		return 0, err
	}

	wctx, cancel := context.WithTimeout(ctx, o.PhaseTimeout)
	defer cancel()
	pending := map[string]bool{}
	for _, k := range keys {
		pending[ingest.Destination(k, contract.StatusDone)+".report.json"] = true
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for len(pending) > 0 {
		for key := range pending {
			rep, ok, err := readReport(wctx, s3, key)
			if err != nil && wctx.Err() != nil {
				break // timed out: said below
			}
			if err != nil {
				return time.Since(start), err
			}
			if !ok {
				continue
			}
			if rep.Status != contract.StatusDone || rep.RowsOK != int64(o.RowsPerFile) {
				return time.Since(start), fmt.Errorf("%s: status %s with %d rows ok and %d rejected, want done with %d: %s",
					rep.Key, rep.Status, rep.RowsOK, rep.RowsRejected, o.RowsPerFile, rep.Error)
			}
			delete(pending, key)
		}
		if len(pending) == 0 {
			break
		}
		select {
		case <-wctx.Done():
			return time.Since(start), fmt.Errorf("%d of %d files had no report after %s", len(pending), len(keys), o.PhaseTimeout)
		case <-tick.C:
		}
	}
	return time.Since(start), nil
}

func collect(errs <-chan error) []error {
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return all
}

// readReport reads a report beside a processed file; ok is false while
// it is not there.
func readReport(ctx context.Context, s3 *minio.Client, key string) (rep contract.BatchReport, ok bool, err error) {
	obj, err := s3.GetObject(ctx, platformTenant, key, minio.GetObjectOptions{})
	if err != nil {
		return rep, false, fmt.Errorf("get %s: %w", key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		return rep, false, nil
	}
	if err != nil {
		return rep, false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return rep, false, fmt.Errorf("decode %s: %w", key, err)
	}
	return rep, true, nil
}

// checkSink checks that the tenant's collection holds each key once, with
// the newest values: corrected rows (every correct-th) one death higher.
func checkSink(ctx context.Context, sink *mongo.Collection, o PlatformOptions, correct int) error {
	n, err := sink.EstimatedDocumentCount(ctx)
	if err != nil {
		return fmt.Errorf("count the tenant's rows: %w", err)
	}
	if want := int64(o.Files * o.RowsPerFile); n != want {
		return fmt.Errorf("the tenant's collection holds %d rows, want %d (each key once)", n, want)
	}
	for _, i := range []int{0, 1, 100, o.Files*o.RowsPerFile - 1} {
		f := ecdc.Fields(i)
		want := i % 13
		if correct > 0 && i%correct == 0 {
			want++
		}
		var doc struct {
			Deaths int `bson:"deaths"`
		}
		geo := f["geoId"].(string)
		d, err := time.Parse("2/01/2006", f["dateRep"].(string))
		if err != nil {
			return fmt.Errorf("row %d's date: %w", i, err)
		}
		// The _id is the business key's, a date in it as its yyyy-mm-dd
		// text (a lookup by any other field would scan the collection on
		// FerretDB).
		id := records.KeyID(platformTenant, geo, d.Format(time.DateOnly))
		if err := sink.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil {
			return fmt.Errorf("find row %d (%s %s): %w", i, geo, d.Format(time.DateOnly), err)
		}
		if doc.Deaths != want {
			return fmt.Errorf("row %d (%s) holds %d deaths, want %d", i, geo, doc.Deaths, want)
		}
	}
	return nil
}

// Print writes the figures and the ratios the goals are stated in.
func (p PlatformBatch) Print(w io.Writer) {
	rows := float64(p.Files * p.RowsPerFile)
	fmt.Fprintf(w, "\nbatch, full path through the platform: %d files × %d rows (%.1f MB), uploaded %s\n",
		p.Files, p.RowsPerFile, float64(p.Bytes)/1e6, "with minio-go")
	fmt.Fprintf(w, "  %-34s %8s %12s\n", "path", "seconds", "rows/s")
	line := func(name string, d time.Duration, err error) {
		if d == 0 && err == nil {
			fmt.Fprintf(w, "  %-34s %8s\n", name, "not run")
			return
		}
		if err != nil {
			fmt.Fprintf(w, "  %-34s %8.1f %12s  (%v)\n", name, d.Seconds(), "-", err)
			return
		}
		fmt.Fprintf(w, "  %-34s %8.1f %12.0f\n", name, d.Seconds(), rate(rows, d))
	}
	line("raw InsertMany, same rows", p.Raw, nil)
	line("platform, first upload", p.First, p.FirstErr)
	line("platform, re-upload, unchanged", p.Again, p.AgainErr)
	line("platform, re-upload, 1% corrected", p.Corrected, p.CorrectedErr)
	ratio := func(a, b time.Duration) string {
		if a <= 0 || b <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", a.Seconds()/b.Seconds())
	}
	fmt.Fprintf(w, "batch: platform÷raw %s (rate), again÷first %s, corrected÷first %s (time)\n",
		ratio(p.Raw, p.First), ratio(p.Again, p.First), ratio(p.Corrected, p.First))
}
